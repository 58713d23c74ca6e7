"""Model backends behind two small interfaces, chosen by name.

``get_detector(name)`` / ``get_recognizer(name)`` return cached instances; a new
backend registers itself in :data:`DETECTORS` / :data:`RECOGNIZERS`.
Weights come only from installed packages (see :mod:`idmatch.models.weights`).
"""
from __future__ import annotations

from .base import DetectedFace, Detector, Recognizer
from .registry import DETECTORS, RECOGNIZERS, get_detector, get_recognizer

__all__ = ["DetectedFace", "Detector", "Recognizer", "DETECTORS", "RECOGNIZERS", "get_detector", "get_recognizer"]
