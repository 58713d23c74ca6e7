"""Physical presentation attacks for PAD training: a bona fide photo printed (or shown on a
screen), held by hand in front of a counter camera, and re-captured.

Species (the ones the attack benchmark renders, ``benchmarks/attacks/`` on the h12a branch):

* ``print_folded``   -- life-size print folded vertically down the nose line (two planes), turned;
* ``print_curved``   -- the print bent round a vertical cylinder (radius 70-200 mm), turned;
* ``print_handheld`` -- a flat print held by both thumbs, tilted/turned, sheet edges, white
  border, background and fingers in view;
* ``replay_handheld`` -- the photo on a phone/tablet: RGB sub-pixel stripes re-sampled by the
  camera (moiré), pixel-grid gaps, display gamma and blue cast, a specular glare that follows the
  screen's normal, a black bezel, thumbs.

The geometry (exact per-pixel ray/surface intersection for a plane, a two-plane fold and a
cylinder, Lambertian shading, thumbs drawn on the sheet) is adapted from the benchmark's
``render.py``/``sheet.py`` (copied, not imported: the benchmark may change). What differs on
purpose, so the model cannot learn the benchmark's own artefacts:

* every parameter is drawn from wider ranges, per sample, from ``numpy.random.Generator`` seeded
  by the caller (deterministic: same image + seed -> same pixels);
* the background is another bona fide photo (blurred, re-scaled) or a plain procedural wall,
  not the benchmark's room generator;
* the camera varies resolution (480p/720p-like scales), defocus, noise and JPEG quality.

The bona fide photos are the caller's choice: training uses LFW identities that the benchmark
cannot draw (see ``pad_data.py``), never CASIA-FaceV5.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from synth_attacks import _jpeg, _subpixel_grid

W, H = 640, 480
FOCAL = 560.0
SPECIES = ("print_folded", "print_curved", "print_handheld", "replay_handheld")
SPECIES_TYPE = {"print_folded": "print", "print_curved": "print", "print_handheld": "print",
                "replay_handheld": "replay_screen"}


# ---- geometry (after benchmarks/attacks/render.py) ---------------------------------------------
def rotation(yaw: float, tilt: float, roll: float) -> np.ndarray:
    a, b, c = map(math.radians, (yaw, tilt, roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ rx @ ry


def _intersect(surface: str, bend: float, o: np.ndarray, d: np.ndarray):
    """Rays (origin o, directions d (h,w,3), sheet frame) vs plane / fold / cylinder:
    u, v (mm on the sheet), hit mask, normals facing the camera."""
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    if surface == "fold" and bend > 0:
        th = math.radians(bend)
        best_t = np.full(dx.shape, np.inf, np.float32)
        u_out = np.zeros_like(dx)
        nrm = np.zeros_like(d)
        for sgn in (1.0, -1.0):
            a = np.array([math.cos(th), 0.0, sgn * math.sin(th)])
            n = np.array([sgn * math.sin(th), 0.0, -math.cos(th)])
            den = dx * n[0] + dz * n[2]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = -(o @ n) / den
            px, pz = o[0] + t * dx, o[2] + t * dz
            u = px * a[0] + pz * a[2]
            ok = (t > 0) & ((u >= 0) if sgn > 0 else (u < 0)) & (t < best_t)
            best_t = np.where(ok, t, best_t)
            u_out = np.where(ok, u, u_out)
            nrm[ok] = n
        hit = np.isfinite(best_t)
        v = o[1] + np.where(hit, best_t, 0) * dy
        return u_out, v, hit, nrm
    if surface == "cylinder" and bend > 0:
        r = float(bend)
        oz = o[2] - r
        a = dx * dx + dz * dz
        b = 2 * (o[0] * dx + oz * dz)
        c = o[0] ** 2 + oz ** 2 - r * r
        disc = b * b - 4 * a * c
        hit = disc >= 0
        sq = np.sqrt(np.where(hit, disc, 0))
        t = (-b - sq) / (2 * a)
        px, pz = o[0] + t * dx, o[2] + t * dz
        phi = np.arctan2(px, r - pz)
        hit &= (t > 0) & (pz < r)
        v = o[1] + t * dy
        nrm = np.stack([np.sin(phi), np.zeros_like(phi), -np.cos(phi)], axis=-1)
        return r * phi, v, hit, nrm
    t = -o[2] / dz
    hit = t > 0
    nrm = np.zeros_like(d)
    nrm[..., 2] = -1.0
    return o[0] + t * dx, o[1] + t * dy, hit, nrm


def render_sheet(tex: np.ndarray, alpha: np.ndarray, mm_per_px: float, origin: tuple[float, float],
                 surface: str, bend: float, yaw: float, tilt: float, roll: float, tvec: np.ndarray,
                 glossy: bool, light: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The sheet as the camera sees it: (BGR float32, alpha 0..1) of size (H, W)."""
    rot = rotation(yaw, tilt, roll)
    rays = _rays()
    o = (-rot.T @ tvec).astype(np.float32)
    d = rays @ rot.astype(np.float32)
    u, v, hit, nrm = _intersect(surface, bend, o, d)
    mx = np.where(hit, u / mm_per_px + origin[0], -10).astype(np.float32)
    my = np.where(hit, v / mm_per_px + origin[1], -10).astype(np.float32)
    img = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = cv2.remap(alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    n_cam = nrm.astype(np.float32) @ rot.T.astype(np.float32)
    lam = np.clip(n_cam @ light.astype(np.float32), 0, 1)
    layer = img.astype(np.float32) * (rng.uniform(0.5, 0.7) + rng.uniform(0.35, 0.6) * lam)[..., None]
    if glossy:
        view = -rays / np.linalg.norm(rays, axis=-1, keepdims=True)
        half = light.astype(np.float32) + view
        half /= np.linalg.norm(half, axis=-1, keepdims=True)
        spec = np.clip(np.sum(n_cam * half, axis=-1), 0, 1) ** rng.uniform(20, 80)
        layer += rng.uniform(80, 230) * spec[..., None]
    return layer, a.astype(np.float32) / 255.0


_RAYS: list[np.ndarray] = []


def _rays() -> np.ndarray:
    if not _RAYS:
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        _RAYS.append(np.stack([(xx - W / 2) / FOCAL, (yy - H / 2) / FOCAL, np.ones_like(xx)], axis=-1))
    return _RAYS[0]


# ---- the sheet ---------------------------------------------------------------------------------
def _print_look(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f = img.astype(np.float32)
    mean = f.mean(axis=(0, 1), keepdims=True)
    f = mean + (f - mean) * rng.uniform(0.65, 0.95)
    grey = f.mean(axis=2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(0.6, 0.95)
    f = f * rng.uniform(0.88, 1.0, size=(1, 1, 3)) + rng.uniform(5, 22)
    h, w = f.shape[:2]
    fib = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
    f = f + rng.uniform(1.5, 6) * fib[..., None]
    if rng.random() < 0.5:  # inkjet/laser dot structure at the print's own resolution
        pitch = rng.uniform(2.0, 4.0)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = np.deg2rad(rng.uniform(0, 90))
        dots = np.cos(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / pitch) * \
            np.cos(2 * np.pi * (-xx * np.sin(a) + yy * np.cos(a)) / pitch)
        f = f * (1.0 + rng.uniform(0.03, 0.12) * dots[..., None])
    return np.clip(f, 0, 255).astype(np.uint8)


def _screen_look(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = _jpeg(img, int(rng.integers(40, 85)))
    img = _subpixel_grid(img, rng)
    f = np.power(img.astype(np.float32) / 255.0, rng.uniform(0.7, 1.1))
    f = f * np.array([rng.uniform(1.0, 1.1), 1.0, rng.uniform(0.88, 1.0)], np.float32) * rng.uniform(0.9, 1.12)
    f = f + rng.uniform(0.0, 0.06)
    return np.clip(f * 255, 0, 255).astype(np.uint8)


def _head_crop(img: np.ndarray, box: tuple[float, float, float, float], rng: np.random.Generator):
    """Head and shoulders around the face as an attacker prints it; the nose's position in it."""
    x, y, w, h = box
    s = 0.42 * max(w, h)  # ~ HeadPose.size (mean of eye distance and eye-to-mouth) for a YuNet box
    nx, ny = x + w / 2.0, y + 0.58 * h
    cw, ch = int(round(rng.uniform(3.0, 4.0) * s)), int(round(rng.uniform(3.8, 4.8) * s))
    m = np.float32([[1, 0, cw / 2.0 - nx], [0, 1, 2.3 * s - ny]])
    crop = cv2.warpAffine(img, m, (cw, ch), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return crop, (cw / 2.0, 2.3 * s), s


def _thumbs(tex: np.ndarray, alpha: np.ndarray, paper: tuple[int, int, int, int], rng, px_per_mm: float) -> None:
    """Fingers pinching the sheet: thumbs on the sides (sometimes one, sometimes at the bottom)."""
    x0, y0, x1, y1 = paper
    skin = tuple(float(c) for c in rng.uniform([60, 100, 140], [140, 170, 230]))
    sides = [0, 1] if rng.random() < 0.7 else [int(rng.integers(0, 3))]
    for side in sides:
        if side == 2:  # bottom edge
            xc, yc = int(x0 + (x1 - x0) * rng.uniform(0.3, 0.7)), int(y1 - 5 * px_per_mm)
        else:
            yc = int(y0 + (y1 - y0) * rng.uniform(0.45, 0.85))
            xc = int(x0 + 5 * px_per_mm) if side == 0 else int(x1 - 5 * px_per_mm)
        axes = (int(rng.uniform(13, 19) * px_per_mm), int(rng.uniform(9, 13) * px_per_mm))
        ang = float(rng.uniform(-30, 30) + (90 if side == 2 else 0))
        cv2.ellipse(tex, (xc, yc), axes, ang, 0, 360, skin, -1)
        cv2.ellipse(tex, (xc, yc), axes, ang, 0, 360, tuple(c * 0.75 for c in skin), 2)
        cv2.ellipse(alpha, (xc, yc), axes, ang, 0, 360, 255, -1)


def make_sheet(img, box, rng: np.random.Generator, medium: str):
    crop, (nx, ny), s = _head_crop(img, box, rng)
    up = 3 if crop.shape[1] < 220 and medium != "screen" else 2
    crop = cv2.resize(crop, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
    face_mm = rng.uniform(55.0, 70.0) * (rng.uniform(0.5, 0.95) if medium == "screen" else 1.0)
    mm_per_px = face_mm / (s * up)
    if medium == "screen":
        crop = _screen_look(crop, rng)
        border_mm = rng.uniform(4.0, 12.0)
        border_col = tuple(float(c) for c in rng.uniform(5, 35, 3))
    else:
        crop = _print_look(crop, rng)
        border_mm = rng.uniform(0.0, 15.0)
        border_col = tuple(float(c) for c in rng.uniform(215, 252, 3))
    b = int(round(border_mm / mm_per_px))
    hold = int(round(28.0 / mm_per_px))
    h, w = crop.shape[:2]
    tex = np.zeros((h + 2 * (b + hold), w + 2 * (b + hold), 3), np.uint8)
    alpha = np.zeros(tex.shape[:2], np.uint8)
    x0, y0, x1, y1 = hold, hold, hold + w + 2 * b, hold + h + 2 * b
    cv2.rectangle(tex, (x0, y0), (x1 - 1, y1 - 1), border_col, -1)
    cv2.rectangle(alpha, (x0, y0), (x1 - 1, y1 - 1), 255, -1)
    tex[y0 + b:y0 + b + h, x0 + b:x0 + b + w] = crop
    _thumbs(tex, alpha, (x0, y0, x1, y1), rng, 1.0 / mm_per_px)
    return tex, alpha, mm_per_px, (x0 + b + nx * up, y0 + b + ny * up)


# ---- scene and camera --------------------------------------------------------------------------
def _background(rng: np.random.Generator, backdrop: np.ndarray | None) -> np.ndarray:
    """Another bona fide photo (a real scene, blurred and re-scaled) or a plain shaded wall, with
    the attacker's torso below the sheet."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    if backdrop is not None and rng.random() < 0.6:
        bg = cv2.resize(backdrop, (W, H), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(2.0, 8.0))
        if rng.random() < 0.5:
            bg = bg[:, ::-1]
    else:
        wall = np.array(rng.uniform(90, 220, 3), np.float32)
        bg = wall[None, None] * (0.8 + rng.uniform(0.1, 0.35) * (1 - yy / H))[..., None] * \
            (0.9 + rng.uniform(-0.1, 0.2) * xx / W)[..., None]
        for _ in range(int(rng.integers(0, 4))):
            x0, y0 = int(rng.integers(0, W - 60)), int(rng.integers(0, H - 60))
            col = tuple(float(c) for c in rng.uniform(30, 230, 3))
            cv2.rectangle(bg, (x0, y0), (x0 + int(rng.integers(40, 260)), y0 + int(rng.integers(40, 300))), col, -1)
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(1.0, 4.0))
        bg = np.ascontiguousarray(bg)
    bg = np.ascontiguousarray(bg, dtype=np.float32)
    if rng.random() < 0.8:
        torso = tuple(float(c) for c in rng.uniform(15, 120, 3))
        cx = W * rng.uniform(0.4, 0.6)
        pts = np.array([[cx - W * 0.3, H], [cx - W * 0.2, H * 0.72], [cx + W * 0.2, H * 0.72], [cx + W * 0.3, H]], np.int32)
        cv2.fillPoly(bg, [pts], torso)
    return bg


def _camera(scene: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = cv2.GaussianBlur(scene, (0, 0), rng.uniform(0.5, 1.3)) * float(rng.uniform(0.9, 1.1))
    img = img + rng.uniform(1.0, 4.0) * rng.standard_normal(img.shape, dtype=np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # a lower-resolution camera, up-scaled by the client
        f = rng.uniform(0.5, 0.8)
        img = cv2.resize(cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), (W, H),
                         interpolation=cv2.INTER_LINEAR)
    return _jpeg(img, int(rng.integers(65, 95)))


def physical_attack(img: np.ndarray, box: tuple[float, float, float, float], species: str,
                    rng: np.random.Generator, backdrop: np.ndarray | None = None) -> np.ndarray:
    """A 640x480 counter-camera frame of ``img``'s face presented as ``species``."""
    medium = "screen" if species == "replay_handheld" else "print"
    tex, alpha, mm_per_px, origin = make_sheet(img, box, rng, medium)
    surface, bend = "plane", 0.0
    yaw = rng.uniform(-35, 35)
    if species == "print_folded":
        surface, bend = "fold", rng.uniform(5.0, 40.0)
    elif species == "print_curved":
        surface, bend = "cylinder", rng.uniform(70.0, 200.0)
    elif species == "replay_handheld":
        yaw = rng.uniform(-25, 25)
    tilt = rng.uniform(-30, 45)
    roll = rng.uniform(-10, 10)
    tvec = np.array([rng.uniform(-40, 40), rng.uniform(-40, 20), rng.uniform(280, 520)])
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.8, -0.2), -1.0])
    light /= np.linalg.norm(light)
    layer, a = render_sheet(tex, alpha, mm_per_px, origin, surface, bend, yaw, tilt, roll, tvec,
                            medium == "screen", light, rng)
    bg = _background(rng, backdrop)
    scene = bg * (1 - a[..., None]) + layer * a[..., None]
    return _camera(scene, rng)


def species_for(key: str) -> str:
    """Species of the physical attack made from one photo (SHA-1, not CRC-32: CRC is linear, so
    its residues correlate with pad_data's crc32(path) subsampling and would pick few species)."""
    import hashlib

    return SPECIES[hashlib.sha1(f"phys:{key}".encode()).digest()[0] % len(SPECIES)]
