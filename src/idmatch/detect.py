"""Find the faces in an image and choose the one to compare.

YuNet is run at a bounded working resolution (it misses faces that fill a large
frame), then -- only if nothing was found -- on a padded canvas (tight crops such
as a 102x126 chip photo, or a face cut by the frame), and last on the padded
canvas with a lower score threshold. The pass that found the face is reported.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from .errors import NoFaceError
from .models import DetectedFace, Detector, get_detector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionConfig:
    max_side: int = 640          # downscale larger images to this for detection
    min_side: int = 160          # upscale smaller images to this
    pad_ratio: float = 0.35      # padded retry: border of this fraction of each side
    score_threshold: float = 0.6
    retry_threshold: float = 0.45  # last pass, padded canvas only; keeps non-faces out (tested)
    similar_size_ratio: float = 0.6  # faces at least this fraction of the largest compete on centrality


@dataclass
class FaceSelection:
    """The chosen face, every face found, and how it was found."""

    face: DetectedFace
    faces: list[DetectedFace] = field(default_factory=list)
    detection_pass: str = "direct"  # direct | padded | padded_low_threshold

    @property
    def count(self) -> int:
        return len(self.faces)


def _resize_for_detection(img: np.ndarray, cfg: DetectionConfig) -> tuple[np.ndarray, float]:
    h, w = img.shape[:2]
    longest, shortest = max(h, w), min(h, w)
    scale = 1.0
    if longest > cfg.max_side:
        scale = cfg.max_side / longest
    elif shortest < cfg.min_side:
        scale = min(cfg.min_side / shortest, cfg.max_side / longest)
    if scale == 1.0:
        return img, 1.0
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)
    return resized, scale


def _pad(img: np.ndarray, ratio: float) -> tuple[np.ndarray, int, int]:
    h, w = img.shape[:2]
    py, px = int(round(h * ratio)), int(round(w * ratio))
    padded = cv2.copyMakeBorder(img, py, py, px, px, cv2.BORDER_CONSTANT, value=(127, 127, 127))
    return padded, px, py


def _inside(face: DetectedFace, w: int, h: int) -> bool:
    """A padded-canvas detection must have its nose and at least one eye on the real image
    (a face cut by the frame is kept; a "face" found in the grey padding is not)."""
    pts = face.landmarks
    on = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    return bool(on[2] and (on[0] or on[1]))


def find_faces(img_bgr: np.ndarray, detector: Detector | None = None, cfg: DetectionConfig = DetectionConfig()
               ) -> tuple[list[DetectedFace], str]:
    """All faces in original-image coordinates, and the pass that found them."""
    detector = detector or get_detector("yunet")
    h, w = img_bgr.shape[:2]
    work, scale = _resize_for_detection(img_bgr, cfg)
    faces = detector.detect(work, cfg.score_threshold)
    if faces:
        return [f.scaled(1.0 / scale) for f in faces], "direct"
    padded, px, py = _pad(work, cfg.pad_ratio)
    # keep the padded canvas inside the working bound
    pscale = min(1.0, cfg.max_side / max(padded.shape[:2]))
    if pscale < 1.0:
        padded = cv2.resize(padded, None, fx=pscale, fy=pscale, interpolation=cv2.INTER_AREA)
    for thr, name in ((cfg.score_threshold, "padded"), (cfg.retry_threshold, "padded_low_threshold")):
        found = detector.detect(padded, thr)
        mapped = [f.scaled(1.0 / pscale, -px, -py).scaled(1.0 / scale) for f in found]
        mapped = [f for f in mapped if _inside(f, w, h)]
        if mapped:
            return mapped, name
    return [], "none"


def choose_face(faces: list[DetectedFace], image_shape: tuple[int, ...], cfg: DetectionConfig = DetectionConfig()
                ) -> DetectedFace:
    """The largest face; among faces of similar size, the one nearest the image centre."""
    if not faces:
        raise NoFaceError("no face found in the image")
    largest = max(f.area for f in faces)
    contenders = [f for f in faces if f.area >= cfg.similar_size_ratio * largest]
    cy, cx = image_shape[0] / 2.0, image_shape[1] / 2.0
    return min(contenders, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)


def select_face(img_bgr: np.ndarray, detector: Detector | None = None, cfg: DetectionConfig = DetectionConfig()
                ) -> FaceSelection:
    faces, how = find_faces(img_bgr, detector, cfg)
    if not faces:
        raise NoFaceError("no face found in the image: make sure one face is clearly in view",
                          details={"image_size": [int(img_bgr.shape[1]), int(img_bgr.shape[0])]})
    faces.sort(key=lambda f: -f.area)
    return FaceSelection(face=choose_face(faces, img_bgr.shape, cfg), faces=faces, detection_pass=how)
