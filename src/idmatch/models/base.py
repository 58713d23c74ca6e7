"""The two model interfaces every backend implements."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class DetectedFace:
    """A face as a detector reports it, in the pixel frame of the image it was given.

    ``landmarks`` is (5, 2): right eye, left eye (image left to right: subject's right eye first),
    nose tip, right mouth corner, left mouth corner, as YuNet/ArcFace order them.
    """

    box: tuple[float, float, float, float]  # x, y, w, h
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return (x + w / 2.0, y + h / 2.0)

    @property
    def inter_eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[0] - self.landmarks[1]))

    def scaled(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> "DetectedFace":
        """Map from a resized/padded frame back: ``orig = p * scale + (dx, dy)``."""
        x, y, w, h = self.box
        return DetectedFace(
            box=(x * scale + dx, y * scale + dy, w * scale, h * scale),
            landmarks=self.landmarks * scale + np.array([dx, dy], dtype=np.float32),
            score=self.score,
        )


class Detector(Protocol):
    name: str

    def detect(self, img_bgr: np.ndarray, score_threshold: float | None = None) -> list[DetectedFace]:
        """All faces in ``img_bgr`` scoring at least the threshold (backend default if None)."""


class Recognizer(Protocol):
    name: str
    dim: int
    input_size: tuple[int, int]

    def embed(self, aligned_bgr: np.ndarray) -> np.ndarray:
        """L2-normalised float32 embedding(s) of aligned crops: (N, 112, 112, 3) or (112, 112, 3)."""
