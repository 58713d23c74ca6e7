"""Synthetic presentation attacks made from bona fide face images.

Each function takes a BGR uint8 image and a numpy Generator and returns an image of the same
size that imitates the face being *re-captured* from a print or a screen. Geometry is kept (the
face box of the original still applies), so one detection serves the bona fide image and its
attacks.

print:  reduced gamut + paper white point, halftone dot screen, paper texture, blur, re-capture
replay: sub-pixel RGB stripe grid, moiré from resampling, gamma, glare, bezel edge, recompression
"""
from __future__ import annotations

import cv2
import numpy as np


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img


def _camera(img: np.ndarray, rng: np.random.Generator, noise: float = 3.0) -> np.ndarray:
    """The re-capturing camera: illumination gradient, sensor noise, JPEG."""
    h, w = img.shape[:2]
    f = img.astype(np.float32)
    gx, gy = rng.uniform(-0.25, 0.25, size=2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grad = 1.0 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5)
    f = f * grad[:, :, None]
    f += rng.normal(0, rng.uniform(0.5, noise), size=f.shape).astype(np.float32)
    return _jpeg(np.clip(f, 0, 255).astype(np.uint8), int(rng.integers(70, 96)))


def _halftone(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ordered-dither dot screen per CMY channel at a random pitch and angle, softened."""
    h, w = img.shape[:2]
    pitch = rng.uniform(2.0, 5.0)
    out = np.empty_like(img, dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for c, angle in enumerate((15.0, 75.0, 0.0)):
        a = np.deg2rad(angle + rng.uniform(-5, 5))
        u = (xx * np.cos(a) + yy * np.sin(a)) / pitch
        v = (-xx * np.sin(a) + yy * np.cos(a)) / pitch
        screen = (np.cos(2 * np.pi * u) * np.cos(2 * np.pi * v) + 1) / 2  # 0..1 dot pattern
        ink = 1.0 - img[:, :, c].astype(np.float32) / 255.0
        dots = (ink > screen).astype(np.float32)
        out[:, :, c] = 255.0 * (1.0 - (0.6 * dots + 0.4 * ink))
    soft = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.0))
    return np.clip(soft, 0, 255).astype(np.uint8)


def print_attack(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f = img.astype(np.float32)
    # reduced gamut: lower contrast and saturation, paper white point (warm/cool tint)
    mean = f.mean(axis=(0, 1), keepdims=True)
    f = mean + (f - mean) * rng.uniform(0.6, 0.9)
    grey = f.mean(axis=2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(0.5, 0.85)
    f = f * rng.uniform(0.85, 1.0, size=(1, 1, 3)) + rng.uniform(5, 25)
    img2 = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        img2 = _halftone(img2, rng)
    # paper texture: fibrous high-frequency + blotchy low-frequency variation
    h, w = img.shape[:2]
    fib = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.7)
    blot = cv2.resize(rng.normal(0, 1, (max(2, h // 24), max(2, w // 24))).astype(np.float32), (w, h),
                      interpolation=cv2.INTER_CUBIC)
    tex = rng.uniform(2, 7) * fib + rng.uniform(2, 6) * blot
    img2 = np.clip(img2.astype(np.float32) + tex[:, :, None], 0, 255).astype(np.uint8)
    img2 = cv2.GaussianBlur(img2, (0, 0), rng.uniform(0.3, 1.5))
    return _camera(img2, rng)


def _subpixel_grid(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render on an RGB-stripe panel seen at a slight scale/rotation (aliasing makes moiré)."""
    h, w = img.shape[:2]
    k = int(rng.integers(3, 6))  # panel pixels per image pixel (each split into 3 stripes)
    big = cv2.resize(img, (w * k, h * k), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    stripe = np.zeros((1, w * k, 3), np.float32)
    cols = np.arange(w * k) % k
    third = max(1, k // 3)
    for c_bgr, c_rgb in ((2, 0), (1, 1), (0, 2)):  # R, G, B stripes left to right
        stripe[0, :, c_bgr] = ((cols // third) == c_rgb).astype(np.float32)
    gap = (np.arange(h * k) % k != k - 1).astype(np.float32)[:, None, None]  # dark row between pixels
    depth = rng.uniform(0.05, 0.35)  # how visible the sub-pixel structure is after defocus
    big = big * (1.0 - depth + depth * 3.0 * stripe) * (1.0 - 0.5 * depth * (1.0 - gap))
    angle = rng.uniform(-2, 2)
    scale = 1.0 / k * rng.uniform(0.97, 1.03)
    m = cv2.getRotationMatrix2D((w * k / 2, h * k / 2), angle, scale)
    m[:, 2] += np.array([w / 2 - w * k / 2, h / 2 - h * k / 2])
    small = cv2.warpAffine(big, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.clip(small, 0, 255).astype(np.uint8)


def replay_attack(img: np.ndarray, rng: np.random.Generator, box: tuple[float, float, float, float] | None = None
                  ) -> np.ndarray:
    h, w = img.shape[:2]
    out = _jpeg(img, int(rng.integers(40, 80)))  # the video/image as stored on the device
    out = _subpixel_grid(out, rng) if rng.random() < 0.8 else out
    f = out.astype(np.float32) / 255.0
    f = np.power(f, rng.uniform(0.6, 1.5))  # display gamma / exposure mismatch
    f = f * rng.uniform(0.9, 1.0, size=(1, 1, 3)) + rng.uniform(0.0, 0.08, size=(1, 1, 3)) * np.array([1.0, 0.8, 0.6])[None, None]
    if rng.random() < 0.6:  # glare: a soft bright blob
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        sig = rng.uniform(0.1, 0.4) * max(h, w)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        f += rng.uniform(0.1, 0.5) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sig ** 2))[:, :, None]
    out = np.clip(f * 255, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:  # bezel: dark band on one side, in the margin around the face
        x, y, bw, bh = box if box is not None else (w * 0.3, h * 0.3, w * 0.4, h * 0.4)
        side = int(rng.integers(0, 4))
        gapf = rng.uniform(0.05, 0.3)
        colour = rng.uniform(0, 40)
        if side == 0:
            out[:, :max(0, int(x - gapf * bw))] = colour
        elif side == 1:
            out[:, min(w, int(x + bw + gapf * bw)):] = colour
        elif side == 2:
            out[:max(0, int(y - gapf * bh))] = colour
        else:
            out[min(h, int(y + bh + gapf * bh)):] = colour
    out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0))
    return _camera(out, rng, noise=4.0)


ATTACKS = {"print": print_attack, "replay_screen": replay_attack}
