"""What the measures look at: the image, the faces found, and the aligned crop of the chosen face.

Derived arrays (grey crop, Lab crop, head pose) are computed once, on first use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from ..models import DetectedFace, Detector
from .config import QualityProfile
from ..pose import HeadPose, estimate_pose

CROP = 112


def _ellipse_mask(cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
    yy, xx = np.mgrid[0:CROP, 0:CROP].astype(np.float32)
    return ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0


def _rect(x0: int, y0: int, x1: int, y1: int) -> tuple[slice, slice]:
    return slice(y0, y1), slice(x0, x1)


# Regions of the 112x112 template crop (eyes at (38.3, 51.7) and (73.5, 51.5), nose tip at
# (56.0, 71.7), mouth corners at y 92). The face ellipse leaves out hair, ears and background.
FACE_MASK = _ellipse_mask(56.0, 68.0, 33.0, 42.0)
LEFT_HALF = FACE_MASK & (np.arange(CROP)[None, :] < 52)     # image-left half, off the nose line
RIGHT_HALF = FACE_MASK & (np.arange(CROP)[None, :] >= 60)
EYE_BOXES = (_rect(27, 44, 50, 60), _rect(62, 44, 85, 60))   # around each eye centre
UPPER_FACE = (_rect(30, 60, 46, 74), _rect(66, 60, 82, 74), _rect(48, 34, 64, 46))  # cheeks, brow
LOWER_FACE = _rect(36, 78, 76, 108)                           # mouth and chin


@dataclass
class FaceContext:
    """Inputs of one assessment. ``face`` and ``aligned`` are None when no face was found."""

    image: np.ndarray                       # BGR uint8, as decoded
    faces: list[DetectedFace] = field(default_factory=list)
    face: DetectedFace | None = None
    aligned: np.ndarray | None = None       # 112x112 BGR
    detection_pass: str = "none"
    detector: Detector | None = None        # used by the orientation check only
    profile: "QualityProfile | None" = None  # set by assess() for measures that need settings

    @property
    def has_face(self) -> bool:
        return self.face is not None and self.aligned is not None

    @cached_property
    def gray(self) -> np.ndarray:
        """Grey (luma) of the aligned crop as float32 0-255."""
        return cv2.cvtColor(self.aligned, cv2.COLOR_BGR2GRAY).astype(np.float32)

    @cached_property
    def landmarks68(self) -> np.ndarray | None:
        """dlib's 68 landmarks (image pixels), or None when the backend is missing; the reason is
        then in :attr:`landmarks68_error`."""
        from .eyes import EyeBackendMissing, dense_landmarks

        try:
            return dense_landmarks(self.image, self.face)
        except EyeBackendMissing as exc:
            self.landmarks68_error = str(exc)
            return None

    landmarks68_error: str = ""

    @cached_property
    def pose(self) -> HeadPose | None:
        if self.face is None:
            return None
        return estimate_pose(self.face.landmarks)
