"""Colour-texture features for passive presentation-attack detection.

The inner part of the detected face box (``CROP_MARGIN`` < 0 shrinks it; clipped to the image,
never padded: replicated borders on tight face crops such as NUAA's were the strongest -- and a
spurious -- cue in the first measurement) is resized to ``CROP_SIZE`` and converted to HSV and
YCbCr; each of the six channels gives a uniform-LBP histogram (59 bins) at radius 1 and 2.
Printed and re-displayed faces differ from live skin in exactly these statistics (halftone,
moiré, reduced gamut, gamma), as Boulkenafet et al. (ICIP 2015) showed for colour LBP.

Only numpy and OpenCV: no learning framework at run time.
"""
from __future__ import annotations

import cv2
import numpy as np

CROP_SIZE = 128
CROP_MARGIN = -0.1  # border added around the face box, fraction of its longest side each way (<0: inside)
RADII = (1, 2)
N_BINS = 59


def _uniform_lut() -> np.ndarray:
    """Map 8-bit LBP codes to 58 uniform patterns + 1 bin for all non-uniform ones."""
    lut = np.full(256, 58, dtype=np.int64)
    k = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        transitions = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        if transitions <= 2:
            lut[code] = k
            k += 1
    assert k == 58
    return lut


_LUT = _uniform_lut()
# 8 neighbours, clockwise from the right, as integer offsets scaled by the radius
_OFFSETS = [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)]


def lbp_histogram(channel: np.ndarray, radius: int) -> np.ndarray:
    """Normalised uniform-LBP histogram (59 bins) of one uint8 channel."""
    c = channel.astype(np.int16)
    h, w = c.shape
    r = radius
    centre = c[r:h - r, r:w - r]
    code = np.zeros(centre.shape, dtype=np.uint8)
    for bit, (dy, dx) in enumerate(_OFFSETS):
        nb = c[r + dy * r:h - r + dy * r, r + dx * r:w - r + dx * r]
        code |= ((nb >= centre).astype(np.uint8) << bit)
    hist = np.bincount(_LUT[code.ravel()], minlength=N_BINS).astype(np.float32)
    return hist / max(float(hist.sum()), 1.0)


def face_crop(img_bgr: np.ndarray, box: tuple[float, float, float, float], size: int = CROP_SIZE,
              margin: float = CROP_MARGIN) -> np.ndarray:
    """Square region centred on the face box (``margin`` added each side), clipped to the image, resized."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    s = max(2, int(round(side)))
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    ih, iw = img_bgr.shape[:2]
    crop = img_bgr[max(0, y0):min(ih, y0 + s), max(0, x0):min(iw, x0 + s)]
    if crop.size == 0:
        crop = img_bgr
    interp = cv2.INTER_AREA if max(crop.shape[:2]) > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def colour_lbp_features(crop_bgr: np.ndarray) -> np.ndarray:
    """Concatenated LBP histograms of H, S, V, Y, Cr, Cb at every radius: (6 * 59 * len(RADII),)."""
    hsv = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2HSV)
    ycc = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2YCrCb)
    feats = [lbp_histogram(space[:, :, i], r) for space in (hsv, ycc) for i in range(3) for r in RADII]
    return np.concatenate(feats)


def feature_dim() -> int:
    return 6 * N_BINS * len(RADII)
