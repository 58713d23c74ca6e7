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


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """One PostgreSQL 16 + pgvector for the whole test session (pgserver wheel; works as root by running
    postgres as a ``pgserver`` system user). ``IDMATCH_TEST_POSTGRES_URL`` points at an existing server instead."""
    url = os.environ.get("IDMATCH_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    pgserver = pytest.importorskip("pgserver", reason="pgserver wheel not installed (pip install idmatch[dev])")
    # Not under tmp_path_factory: every pytest start chmods /tmp/pytest-of-<user> back to 0700, which locks
    # the postgres user out of its own data dir when another test run starts (seen on the shared machine).
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="idmatch-pg-"))
    srv = pgserver.get_server(str(base / "pgdata"), cleanup_mode="stop")
    # a throw-away server: skip fsync (dozens of CREATE DATABASEs otherwise cost tens of seconds on a busy disk)
    srv.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off; SELECT pg_reload_conf();")
    try:
        yield "postgresql+psycopg://" + srv.get_uri().split("://", 1)[1]
    finally:
        try:  # immediate: no shutdown checkpoint for data that is deleted next (a smart stop took 45 s here)
            pgserver.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=srv.pgdata, user=srv.system_user)
        except Exception:
            pass
        srv.cleanup()
        shutil.rmtree(base, ignore_errors=True)
