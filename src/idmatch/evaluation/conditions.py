"""Capture conditions a counter sees, generated deterministically from a labelled full photo.

A threshold calibrated on press photos does not hold its false-match rate on every capture: a tight,
face-filling crop exported by a previous system or a cropping reader, a document chip photo, a greyscale
scan or a low-resolution webcam frame all shift the impostor scores. Calibration therefore measures each
condition, made from the same labelled images:

* ``full``    the image as it is;
* ``chip``    a head-and-shoulders document / chip portrait, 102x126, JPEG quality 75;
* ``tight``   a face-filling 150x150 similarity-aligned crop (eyes and mouth on the recogniser's template);
* ``grey``    the full image in greyscale;
* ``lowres``  the full image scaled so the eyes are 24 px apart (below the 30 px of a usable capture).

Every generator is a pure function of the image and its 5 landmarks (found once on the full image), so
a condition's templates are reproducible and can be cached by condition name.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ..align import TEMPLATE_112, similarity_transform

FULL = "full"
CONDITIONS: tuple[str, ...] = ("full", "chip", "tight", "grey", "lowres")

CHIP_SIZE = (102, 126)          # width, height of an ID-1 chip portrait
CHIP_JPEG_QUALITY = 75
CHIP_WIDTH_PER_EYE = 3.6        # chip width in inter-eye distances (head and shoulders)
CHIP_EYE_LINE = 0.45            # eye line as a share of the chip height from the top
TIGHT_SIZE = 150
TIGHT_ZOOM = 1.5                # the face spread 1.5x the recogniser's own template: brow to chin fills the frame
LOWRES_INTER_EYE = 24.0


def _eyes(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    lm = np.asarray(landmarks, dtype=np.float64)
    centre = (lm[0] + lm[1]) / 2.0
    return centre, float(np.linalg.norm(lm[0] - lm[1]))


def full(img: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    return img


def chip(img: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Head-and-shoulders portrait around the eyes, upright, 102x126, re-encoded as JPEG q75."""
    (cx, cy), eye = _eyes(landmarks)
    w = CHIP_WIDTH_PER_EYE * max(eye, 1.0)
    h = w * CHIP_SIZE[1] / CHIP_SIZE[0]
    x0, y0 = cx - w / 2.0, cy - CHIP_EYE_LINE * h
    sx, sy = CHIP_SIZE[0] / w, CHIP_SIZE[1] / h
    m = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]])
    # area-downscale first so the affine warp does not alias a big face
    f = min(1.0, 2.0 * sx)
    if f < 1.0:
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        m = m @ np.diag([1.0 / f, 1.0 / f, 1.0])
    out = cv2.warpAffine(img, m, CHIP_SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    ok, buf = cv2.imencode(".jpg", out, [int(cv2.IMWRITE_JPEG_QUALITY), CHIP_JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid array
        raise ValueError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def tight(img: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A face-filling aligned crop, as a previous system or a cropping reader exports it."""
    c = np.array([56.0, 56.0])
    dst = (c + (TEMPLATE_112 - c) * TIGHT_ZOOM) * (TIGHT_SIZE / 112.0)
    m = similarity_transform(np.asarray(landmarks, dtype=np.float64), dst)
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    if scale < 0.5:
        f = min(1.0, 2.0 * scale)
        img = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        m = similarity_transform(np.asarray(landmarks, dtype=np.float64) * f, dst)
    return cv2.warpAffine(img, m, (TIGHT_SIZE, TIGHT_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def grey(img: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def lowres(img: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The whole frame scaled down until the eyes are 24 px apart (kept as it is if already smaller)."""
    _, eye = _eyes(landmarks)
    f = LOWRES_INTER_EYE / max(eye, 1e-6)
    if f >= 1.0:
        return img
    return cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)


GENERATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "full": full, "chip": chip, "tight": tight, "grey": grey, "lowres": lowres,
}


def generate(condition: str, img: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The image as captured under ``condition`` (``landmarks``: the 5 points found on ``img``)."""
    try:
        gen = GENERATORS[condition]
    except KeyError:
        raise ValueError(f"unknown capture condition {condition!r}; known: {', '.join(CONDITIONS)}") from None
    return np.ascontiguousarray(gen(img, landmarks))


def condition_pairs(conditions: tuple[str, ...] | list[str] = CONDITIONS) -> list[tuple[str, str]]:
    """Unordered (portrait, live) pairs: all ordered cross-identity comparisons make (a, b) and (b, a) the same set."""
    conds = list(conditions)
    return [(a, b) for i, a in enumerate(conds) for b in conds[i:]]


#: what a verifier can tell about a capture without knowing how it was made (see :func:`capture_class`)
CAPTURE_CLASSES: tuple[str, ...] = ("normal", "close", "lowres", "grey")
CLOSE_FACE_SHARE = 0.35         # face box / frame area above which the face fills the frame
LOWRES_EYES_PX = 30.0
GREY_CHANNEL_DIFF = 2.0


def capture_class(height: float, width: float, box_w: float, box_h: float, inter_eye: float, colour: float) -> str:
    """The capture class seen at run time: ``grey`` (no colour), ``close`` (face fills the frame),
    ``lowres`` (eyes under 30 px apart) or ``normal``; the first that applies, in that order."""
    if colour < GREY_CHANNEL_DIFF:
        return "grey"
    if box_w * box_h >= CLOSE_FACE_SHARE * height * width:
        return "close"
    if inter_eye < LOWRES_EYES_PX:
        return "lowres"
    return "normal"


def class_key(a: str, b: str) -> str:
    """The (unordered) class pair of a comparison: ``"close|normal"``."""
    return "|".join(sorted((a, b)))


def image_colour(image: np.ndarray) -> float:
    """Mean absolute difference between neighbouring colour channels (0 for a greyscale image)."""
    small = np.asarray(image)[::4, ::4].astype(np.int16)
    if small.ndim < 3 or small.shape[2] < 3:
        return 0.0
    return float(np.abs(small[..., 0] - small[..., 1]).mean() + np.abs(small[..., 1] - small[..., 2]).mean()) / 2


def class_of_features(f: np.ndarray) -> str:
    """:func:`capture_class` of a feature row from :func:`~idmatch.evaluation.condition_templates.capture_features`."""
    h, w, _x, _y, bw, bh, ie, colour = (float(v) for v in f)
    return capture_class(h, w, bw, bh, ie, colour)


def generator_params(condition: str) -> dict:
    """The parameters a condition's images are made with (cache keys and the calibration manifest)."""
    return {"full": {}, "grey": {},
            "chip": {"size": list(CHIP_SIZE), "jpeg_quality": CHIP_JPEG_QUALITY,
                     "width_per_inter_eye": CHIP_WIDTH_PER_EYE, "eye_line": CHIP_EYE_LINE},
            "tight": {"size": TIGHT_SIZE, "zoom": TIGHT_ZOOM},
            "lowres": {"inter_eye_px": LOWRES_INTER_EYE}}[condition]
