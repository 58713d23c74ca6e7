"""Shared fixtures. Tests that need ../shared/data skip with a clear message when it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IDMATCH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set IDMATCH_SHARED_DATA); CI always has it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def engine():
    from idmatch.pipeline import FaceEngine

    return FaceEngine()
