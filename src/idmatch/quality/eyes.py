"""Eye openness: the eye aspect ratio (EAR, Soukupova & Cech 2016) from dlib's 68-point landmarks.

The 5-point detector landmarks mark where the eyes are, not whether they are open, and no
simple intensity statistic of the eye region separated closed from open eyes on the labelled
images (measured: docs/quality.md). So this measure uses dlib's 68-point shape predictor,
from the ``dlib-bin`` and ``face_recognition_models`` packages (the ``quality`` extra). Without
them the measure reports *not assessed* instead of a guess.

EAR = (|p2-p6| + |p3-p5|) / (2 |p1-p4|) per eye: ~0.3 open, < 0.15 closed. Sunglasses are not
detected reliably (the predictor still places an eye outline on the lenses).
"""
from __future__ import annotations

import importlib.util
import logging
import threading
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ..models import DetectedFace

log = logging.getLogger(__name__)

_lock = threading.Lock()
WORK_FACE_HEIGHT = 240.0  # the predictor runs on a crop scaled so the face box is this tall


class EyeBackendMissing(RuntimeError):
    pass


@lru_cache(maxsize=1)
def _predictor():
    hint = "eye-state backend not installed: pip install 'idmatch[quality]' (dlib-bin, face_recognition_models)"
    try:
        import dlib
    except ImportError as exc:
        raise EyeBackendMissing(hint) from exc
    # locate the weights without importing face_recognition_models (it needs pkg_resources,
    # which recent setuptools no longer ships)
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise EyeBackendMissing(hint)
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise EyeBackendMissing(f"{hint}: {path.name} missing")
    return dlib, dlib.shape_predictor(str(path))


def backend_available() -> bool:
    try:
        _predictor()
        return True
    except EyeBackendMissing:
        return False


def _ear(eye: np.ndarray) -> float:
    a = np.linalg.norm(eye[1] - eye[5])
    b = np.linalg.norm(eye[2] - eye[4])
    c = np.linalg.norm(eye[0] - eye[3])
    return float((a + b) / (2.0 * c)) if c > 1e-6 else 0.0


def dense_landmarks(image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
    """dlib's 68 landmarks of ``face`` as a (68, 2) array in image pixels. Raises EyeBackendMissing.

    The predictor runs on a crop scaled so the face box is ``WORK_FACE_HEIGHT`` px tall."""
    dlib, predictor = _predictor()
    x, y, w, h = face.box
    m = 0.25
    x0, y0 = max(0, int(x - m * w)), max(0, int(y - m * h))
    x1, y1 = min(image_bgr.shape[1], int(x + (1 + m) * w)), min(image_bgr.shape[0], int(y + (1 + m) * h))
    crop = image_bgr[y0:y1, x0:x1]
    s = WORK_FACE_HEIGHT / max(h, 1.0)
    crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    rgb = np.ascontiguousarray(crop[:, :, ::-1])
    rect = dlib.rectangle(int((x - x0) * s), int((y - y0) * s), int((x - x0 + w) * s), int((y - y0 + h) * s))
    with _lock:  # dlib predictors are not documented as thread-safe
        shape = predictor(rgb, rect)
    pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64)
    return pts / s + np.array([x0, y0], dtype=np.float64)


def eye_aspect_ratios(pts68: np.ndarray) -> tuple[float, float]:
    """(EAR of the image-left eye, EAR of the image-right eye) from the 68 landmarks."""
    return _ear(pts68[36:42]), _ear(pts68[42:48])
