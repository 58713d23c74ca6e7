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
    """Normalised uniform-LBP histogram (59 bins) of one uint8 channel.

    Counted over the 256 raw codes first and folded into the 59 uniform bins after (the same
    integer counts as mapping every pixel through the table, without a per-pixel lookup pass);
    uint8 pixels compare directly. It runs 15 times per PAD-scored frame."""
    c = channel if channel.dtype == np.uint8 else channel.astype(np.int16)
    h, w = c.shape
    r = radius
    centre = c[r:h - r, r:w - r]
    code = np.zeros(centre.shape, dtype=np.uint8)
    bit_plane = np.empty(centre.shape, dtype=np.uint8)
    for bit, (dy, dx) in enumerate(_OFFSETS):
        nb = c[r + dy * r:h - r + dy * r, r + dx * r:w - r + dx * r]
        np.greater_equal(nb, centre, out=bit_plane, casting="unsafe")
        code |= bit_plane << bit
    raw = np.bincount(code.ravel(), minlength=256)
    hist = np.bincount(_LUT, weights=raw, minlength=N_BINS).astype(np.float32)
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


def grey_lbp_features(crop_bgr: np.ndarray, radii: tuple[int, ...] = (1, 2, 4)) -> np.ndarray:
    """Uniform-LBP histograms of the grey crop at several radii (larger radii see coarser periodic
    structure such as moiré and halftone at a distance)."""
    g = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    return np.concatenate([lbp_histogram(g, r) for r in radii])


N_FREQ_BANDS = 12
N_PEAK_BANDS = 6


def _radial_index(n: int) -> tuple[np.ndarray, np.ndarray]:
    f = np.fft.fftfreq(n) * n
    fy, fx = np.meshgrid(f, f, indexing="ij")
    return np.hypot(fx, fy), np.arctan2(fy, fx)


_FREQ_CACHE: dict[int, tuple[np.ndarray, ...]] = {}


def _freq_masks(n: int):
    if n not in _FREQ_CACHE:
        r, th = _radial_index(n)
        edges = np.geomspace(2.0, n / 2.0 * 1.4142, N_FREQ_BANDS + 1)
        band = np.digitize(r, edges) - 1          # -1: below 2 cycles (DC and the face's shape)
        band[band >= N_FREQ_BANDS] = -1
        orient = ((np.round(th / (np.pi / 4)).astype(int)) % 4)  # 0, 45, 90, 135 degrees
        win = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
        _FREQ_CACHE[n] = (band, orient, win, r)
    return _FREQ_CACHE[n]


def frequency_features(crop_bgr: np.ndarray) -> np.ndarray:
    """Fourier cues of re-capture, from the grey crop (Hann-windowed power spectrum):

    * share of the energy in 12 log-spaced radial bands (2 cycles/crop to the corner): prints and
      screens lose or add high frequencies (blur, halftone, sub-pixel grid);
    * peakiness in the 6 highest bands, log(max / mean): moiré and a pixel grid are sharp peaks,
      skin and hair a smooth fall-off;
    * share of the upper-half-band energy along 0/45/90/135 degrees: a screen's grid and a
      sheet's straight edges are axis-aligned lines in the spectrum.
    All non-negative (the model square-roots its features).
    """
    g = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    n = g.shape[0]
    band, orient, win, r = _freq_masks(n)
    g = (g - g.mean()) * win
    p = np.abs(np.fft.fft2(g)) ** 2
    valid = band >= 0
    tot = float(p[valid].sum()) + 1e-9
    shares = np.bincount(band[valid], weights=p[valid], minlength=N_FREQ_BANDS) / tot
    peaks = []
    for b in range(N_FREQ_BANDS - N_PEAK_BANDS, N_FREQ_BANDS):
        v = p[band == b]
        peaks.append(np.log1p(float(v.max()) / (float(v.mean()) + 1e-9)) if v.size else 0.0)
    hi = valid & (r >= n / 4.0)
    oh = np.bincount(orient[hi], weights=p[hi], minlength=4)
    oh = oh / (float(oh.sum()) + 1e-9)
    return np.concatenate([shares, np.asarray(peaks), oh]).astype(np.float32)


def edge_ring_features(crop_bgr: np.ndarray, inner: float = 0.5) -> np.ndarray:
    """Where a hand-held sheet or phone shows: the ring of a *wide* crop outside its central
    ``inner`` fraction (the face). Per side (top, bottom, left, right), a magnitude-weighted
    histogram of gradient orientation (8 bins, share of that side's gradient energy) and the share
    of strong-edge pixels; long straight sheet/bezel edges concentrate in one or two bins."""
    g = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy)
    ang = ((np.arctan2(gy, gx) % np.pi) / np.pi * 8).astype(int) % 8
    n = g.shape[0]
    a, b = int(n * (1 - inner) / 2), int(n * (1 + inner) / 2)
    thr = float(np.percentile(mag, 90)) + 1e-6
    out = []
    for sl in ((slice(0, a), slice(None)), (slice(b, n), slice(None)), (slice(a, b), slice(0, a)), (slice(a, b), slice(b, n))):
        m, o = mag[sl].ravel(), ang[sl].ravel()
        h = np.bincount(o, weights=m, minlength=8)
        out.append(h / (float(h.sum()) + 1e-6))
        out.append(np.array([float(np.mean(m > thr))]))
    return np.concatenate(out).astype(np.float32)


# Feature blocks a model can name in its ``feature_spec``; each reads one of the model's crops.
BLOCKS = {
    "clbp": ("inner", colour_lbp_features),
    "freq": ("inner", frequency_features),
    "glbp": ("inner", grey_lbp_features),
    "wide_clbp": ("wide", colour_lbp_features),
    "wide_freq": ("wide", frequency_features),
    "wide_glbp": ("wide", grey_lbp_features),
    "wide_edges": ("wide", edge_ring_features),
}
V1_SPEC = {"crops": {"inner": [CROP_SIZE, CROP_MARGIN]}, "blocks": ["clbp"]}


def spec_features(crops: dict[str, np.ndarray], spec: dict) -> np.ndarray:
    """Concatenated feature blocks of ``spec`` from the named crops (see :func:`spec_crops`)."""
    return np.concatenate([BLOCKS[b][1](crops[BLOCKS[b][0]]) for b in spec["blocks"]])


def spec_crops(img_bgr: np.ndarray, box: tuple[float, float, float, float], spec: dict) -> dict[str, np.ndarray]:
    return {name: face_crop(img_bgr, box, int(sz), float(mg)) for name, (sz, mg) in spec["crops"].items()}


def feature_dim(spec: dict | None = None) -> int:
    if spec is None:
        return 6 * N_BINS * len(RADII)
    z = {name: np.zeros((int(sz), int(sz), 3), np.uint8) for name, (sz, mg) in spec["crops"].items()}
    return int(spec_features(z, spec).shape[0])
