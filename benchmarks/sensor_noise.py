"""Sensor-noise estimates of a captured frame: how much pixel-level noise a frame carries.

A camera sensor adds shot and read noise to every pixel; frames rendered or synthesised on a
computer and fed to the terminal through a virtual camera need not carry any. These are the
measurements ``benchmarks/injected_frames.py`` compares on bona fide captures, rendered physical
attacks and injected captures (``reports/injected_frames.md``). They are NOT a liveness reason:
after the terminal's JPEG q80 every capture reads well under one grey level, and the real clips
(H.264 re-encodes, denoised at the source) read the LEAST of all -- flat sigma 0.04-0.30 against
0.12-0.24 for a digitally warped photo; temporal residual 0 on 7 of 15 clips (at least a tenth
of the frame identical from frame to frame: static backgrounds the source codec copied) -- so
any noise floor that stops injected frames rejects real people first.
A reason needs real terminal-camera captures to be set on; the benchmark is ready for them.

* :func:`immerkaer_sigma` -- Immerkær's fast noise-variance estimator (J. Immerkær, "Fast Noise
  Variance Estimation", CVIU 64(2), 1996): the image convolved with the difference of two
  Laplacians, which cancels smooth structure; sigma = sqrt(pi/2) / (6 (W-2)(H-2)) * sum |I * N|.
  Edges leak into it, so ``flat=True`` keeps only the pixels whose gradient is in the lowest
  ``flat_quantile`` of the frame (the flat patches: wall, cheek), where what is left is noise.
* :func:`temporal_residual` -- the frame-to-frame difference where nothing moves: the
  ``quantile`` of the per-block standard deviation of the difference of two consecutive frames
  (16x16 blocks); a static background seen by a sensor differs by sqrt(2) sigma, an injected
  still background by the codec's rounding only.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def _grey(img: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    return g.astype(np.float32)


def immerkaer_sigma(img: np.ndarray, flat: bool = False, flat_quantile: float = 0.5) -> float:
    """Noise standard deviation (0-255 grey levels) of a BGR or grey frame (see the module docstring)."""
    g = _grey(img)
    if min(g.shape[:2]) < 8:
        return float("nan")
    r = np.abs(cv2.filter2D(g, -1, _KERNEL, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    if flat:
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)[1:-1, 1:-1]
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)[1:-1, 1:-1]
        mag = cv2.add(cv2.absdiff(gx, 0), cv2.absdiff(gy, 0)).ravel()
        k = min(mag.size - 1, int(flat_quantile * mag.size))
        r = r.ravel()[mag <= np.partition(mag, k)[k]]
    return float(math.sqrt(math.pi / 2.0) * float(np.mean(r)) / 6.0)


def temporal_residual(a: np.ndarray, b: np.ndarray, block: int = 16, quantile: float = 0.1) -> float:
    """Noise left between two consecutive frames where nothing moves (see the module docstring)."""
    d = _grey(b) - _grey(a)
    h, w = (d.shape[0] // block) * block, (d.shape[1] // block) * block
    if h == 0 or w == 0:
        return float("nan")
    blocks = d[:h, :w].reshape(h // block, block, w // block, block)
    std = blocks.std(axis=(1, 3))
    return float(np.quantile(std, quantile))
