"""Name → backend factories, with one cached instance per configuration."""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

from ..errors import ConfigError
from .base import Detector, Recognizer


def _yunet(**kw) -> Detector:
    from .yunet import YuNetDetector

    return YuNetDetector(**kw)


def _sface(**kw) -> Recognizer:
    from .sface import SFaceRecognizer

    return SFaceRecognizer(**kw)


DETECTORS: dict[str, Callable[..., Detector]] = {"yunet": _yunet}
RECOGNIZERS: dict[str, Callable[..., Recognizer]] = {"sface": _sface}


@lru_cache(maxsize=8)
def get_detector(name: str = "yunet") -> Detector:
    try:
        factory = DETECTORS[name]
    except KeyError:
        raise ConfigError(f"unknown detector {name!r}; available: {sorted(DETECTORS)}") from None
    return factory()


@lru_cache(maxsize=8)
def get_recognizer(name: str = "sface") -> Recognizer:
    try:
        factory = RECOGNIZERS[name]
    except KeyError:
        raise ConfigError(f"unknown recognizer {name!r}; available: {sorted(RECOGNIZERS)}") from None
    return factory()
