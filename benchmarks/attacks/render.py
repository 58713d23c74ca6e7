"""Shared renderer: a hand-held sheet (print or screen) seen by the counter camera.

What it models: a 640x480 camera (focal 560 px) looking at a sheet whose surface is a plane, a
vertical two-plane fold, or a vertical cylinder, placed by a rotation (yaw about the vertical
axis, tilt about the horizontal axis, roll) and a translation; every output pixel's ray is
intersected with that surface (exact perspective, ``cv2.remap``). Lambertian shading per surface
normal, thumbs holding the sheet at its sides (drawn on the sheet, so they bend and move with it),
a static room-like background with the attacker's dark torso below the sheet, then the camera:
defocus blur, exposure flicker, sensor noise and JPEG q=80.

What it does not model: the attacker's head or hair around the sheet, cast shadows, paper
translucency, rolling shutter, motion blur, auto-exposure/white-balance dynamics, lens distortion.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

W, H = 640, 480
FOCAL = 560.0
CX, CY = W / 2.0, H / 2.0
LIGHT = np.array([-0.35, -0.55, -1.0]) / np.linalg.norm([-0.35, -0.55, -1.0])  # towards the light, camera frame
JPEG_Q = 80


@dataclass(frozen=True)
class SheetPose:
    """Where the sheet is: degrees and millimetres, camera frame (x right, y down, z away)."""
    yaw: float = 0.0     # rotation about the sheet's vertical axis (+: right edge goes away)
    tilt: float = 0.0    # rotation about the horizontal axis (+: top edge goes away)
    roll: float = 0.0
    tx: float = 0.0
    ty: float = 0.0
    z: float = 450.0
    bend: float = 0.0    # fold: angle of each half to the flat sheet (deg); cylinder: radius in mm (0 = flat)
    shift_y: float = 0.0  # extra downward displacement (mm), e.g. a flipbook page being swapped

    def plus(self, **d: float) -> "SheetPose":
        return replace(self, **{k: getattr(self, k) + v for k, v in d.items()})


@dataclass
class Sheet:
    """A texture (BGR uint8) with an alpha mask, its pixel size in mm and its origin pixel (the
    fold line / rotation centre: the nose of the printed face)."""
    texture: np.ndarray
    alpha: np.ndarray       # uint8, 255 = opaque (paper, bezel or thumb)
    mm_per_px: float
    origin_px: tuple[float, float]
    surface: str = "plane"  # plane | fold | cylinder
    glossy: bool = False    # screen: specular glare that moves with the pose


def rotation(yaw: float, tilt: float, roll: float) -> np.ndarray:
    a, b, c = map(math.radians, (yaw, tilt, roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rz @ rx @ ry


_RAYS: np.ndarray | None = None


def _rays() -> np.ndarray:
    global _RAYS
    if _RAYS is None:
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        _RAYS = np.stack([(xx - CX) / FOCAL, (yy - CY) / FOCAL, np.ones_like(xx)], axis=-1)
    return _RAYS


def _surface_points(surface: str, bend: float, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Forward model: sheet (u, v) in mm -> 3-D points in the sheet frame."""
    if surface == "fold" and bend > 0:
        th = math.radians(bend)
        return np.stack([u * math.cos(th), v, np.abs(u) * math.sin(th)], axis=-1)
    if surface == "cylinder" and bend > 0:
        return np.stack([bend * np.sin(u / bend), v, bend * (1 - np.cos(u / bend))], axis=-1)
    return np.stack([u, v, np.zeros_like(u)], axis=-1)


def _roi(sheet: "Sheet", pose: "SheetPose", rot: np.ndarray, t: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (x0, y0, x1, y1) of the sheet in the image, from its projected outline."""
    hh, ww = sheet.alpha.shape
    ox, oy = sheet.origin_px
    us = (np.linspace(0, ww, 9) - ox) * sheet.mm_per_px
    vs = (np.array([0.0, hh]) - oy) * sheet.mm_per_px
    uu, vv = np.meshgrid(us, vs)
    p = _surface_points(sheet.surface, pose.bend, uu.ravel(), vv.ravel()) @ rot.T + t
    if np.any(p[:, 2] <= 1.0):
        return 0, 0, W, H
    x, y = FOCAL * p[:, 0] / p[:, 2] + CX, FOCAL * p[:, 1] / p[:, 2] + CY
    x0, x1 = int(max(0, x.min() - 6)), int(min(W, x.max() + 7))
    y0, y1 = int(max(0, y.min() - 6)), int(min(H, y.max() + 7))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _intersect(surface: str, bend: float, o: np.ndarray, d: np.ndarray):
    """Ray (origin o (3,), directions d (H,W,3)) vs the surface in sheet coordinates.
    Returns u, v (mm on the sheet), hit mask, surface normal (H,W,3) facing the camera."""
    dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
    if surface == "fold" and bend > 0:
        th = math.radians(bend)
        best_t = np.full(dx.shape, np.inf, np.float32)
        u_out = np.zeros_like(dx)
        nrm = np.zeros_like(d)
        for sgn in (1.0, -1.0):  # right half (u >= 0), left half (u < 0)
            a = np.array([math.cos(th), 0.0, sgn * math.sin(th)])    # u direction of this half
            n = np.array([sgn * math.sin(th), 0.0, -math.cos(th)])   # normal (points at the camera)
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
        v = o[1] + best_t * dy
        return u_out, np.where(hit, v, 0), hit, nrm
    if surface == "cylinder" and bend > 0:
        r = float(bend)
        oz = o[2] - r
        a = dx * dx + dz * dz
        b = 2 * (o[0] * dx + oz * dz)
        c = o[0] ** 2 + oz ** 2 - r * r
        disc = b * b - 4 * a * c
        hit = disc >= 0
        sq = np.sqrt(np.where(hit, disc, 0))
        t = (-b - sq) / (2 * a)  # the nearer root is the front of the cylinder (convex to the camera)
        px, pz = o[0] + t * dx, o[2] + t * dz
        phi = np.arctan2(px, r - pz)
        hit &= (t > 0) & (pz < r)
        u = r * phi
        v = o[1] + t * dy
        nrm = np.stack([np.sin(phi), np.zeros_like(phi), -np.cos(phi)], axis=-1)
        return u, v, hit, nrm
    den = dz
    t = -o[2] / den
    hit = t > 0
    u, v = o[0] + t * dx, o[1] + t * dy
    nrm = np.zeros_like(d)
    nrm[..., 2] = -1.0
    return u, v, hit, nrm


def render_sheet(sheet: Sheet, pose: SheetPose) -> tuple[np.ndarray, np.ndarray]:
    """The sheet as the camera sees it: (BGR float32 image, alpha float32 0..1), before the camera
    pipeline. Pixels off the sheet have alpha 0."""
    rot = rotation(pose.yaw, pose.tilt, pose.roll)
    t = np.array([pose.tx, pose.ty + pose.shift_y, pose.z])
    out = np.zeros((H, W, 3), np.float32)
    alpha_out = np.zeros((H, W), np.float32)
    roi = _roi(sheet, pose, rot, t)
    if roi is None:
        return out, alpha_out
    x0, y0, x1, y1 = roi
    rays = _rays()[y0:y1, x0:x1]
    o = -rot.T @ t
    d = rays @ rot.astype(np.float32)   # R^T d for every ray (row vectors)
    u, v, hit, nrm = _intersect(sheet.surface, pose.bend, o, d)
    ox, oy = sheet.origin_px
    mx = np.where(hit, u / sheet.mm_per_px + ox, -10).astype(np.float32)
    my = np.where(hit, v / sheet.mm_per_px + oy, -10).astype(np.float32)
    img = cv2.remap(sheet.texture, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = cv2.remap(sheet.alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    n_cam = nrm.astype(np.float32) @ rot.T.astype(np.float32)
    lam = np.clip(n_cam @ LIGHT.astype(np.float32), 0, 1)
    shade = 0.6 + 0.5 * lam
    layer = img.astype(np.float32) * shade[..., None]
    if sheet.glossy:  # specular glare: reflection of a ceiling light, moves with the normal
        view = -rays / np.linalg.norm(rays, axis=-1, keepdims=True)
        half = LIGHT.astype(np.float32) + view
        half /= np.linalg.norm(half, axis=-1, keepdims=True)
        spec = np.clip(np.sum(n_cam * half, axis=-1), 0, 1) ** 60
        layer += 200.0 * spec[..., None]
    out[y0:y1, x0:x1] = layer
    alpha_out[y0:y1, x0:x1] = alpha.astype(np.float32) / 255.0
    return out, alpha_out


def room_background(rng: np.random.Generator) -> np.ndarray:
    """A shop-counter-like room: shaded wall, a door/shelf block, a poster, a counter edge,
    textured; then the attacker's dark torso in the lower middle (the sheet hides the head)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    wall = np.array(rng.uniform(120, 210, 3), np.float32)
    img = wall[None, None, :] * (0.85 + 0.25 * (1 - yy / H))[..., None] * (0.9 + 0.1 * xx / W)[..., None]
    for _ in range(int(rng.integers(2, 5))):  # furniture / door / shelf blocks
        x0, y0 = int(rng.integers(0, W - 80)), int(rng.integers(0, H // 2))
        w, h = int(rng.integers(60, 220)), int(rng.integers(60, 300))
        col = rng.uniform(40, 230, 3)
        cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), tuple(float(c) for c in col), -1)
        cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), tuple(float(c) * 0.6 for c in col), 2)
        for k in range(int(rng.integers(0, 4))):
            yk = y0 + (k + 1) * h // 5
            cv2.line(img, (x0, yk), (x0 + w, yk), tuple(float(c) * 0.5 for c in col), 3)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (H // 4, W // 4)).astype(np.float32), (0, 0), 1.5)
    img *= (1.0 + 0.06 * cv2.resize(noise, (W, H)))[..., None]
    img += rng.normal(0, 2.0, img.shape).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 2.0)  # background out of focus
    torso = np.array(rng.uniform(20, 90, 3), np.float32)
    pts = np.array([[W * 0.22, H], [W * 0.3, H * 0.72], [W * 0.7, H * 0.72], [W * 0.78, H]], np.int32)
    cv2.fillPoly(img, [pts], tuple(float(c) for c in torso))
    cv2.ellipse(img, (W // 2, int(H * 0.5)), (70, 95), 0, 0, 360, tuple(float(c) * 0.8 for c in torso), -1)  # head/hair behind
    return np.clip(img, 0, 255)


def camera(scene: np.ndarray, rng: np.random.Generator, blur: float = 0.7, noise: float = 2.5,
           quality: int | None = JPEG_Q) -> np.ndarray:
    """Sensor and codec: defocus, exposure flicker, noise, JPEG; returns the decoded BGR frame
    (``quality=None``: the sensor's frame before the codec)."""
    img = cv2.GaussianBlur(scene, (0, 0), blur) * float(rng.uniform(0.97, 1.03))
    img = img + noise * rng.standard_normal(img.shape, dtype=np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if quality is None:
        return img
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def composite(background: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None]
    return background * (1 - a) + layer * a


def draw_thumbs(texture: np.ndarray, alpha: np.ndarray, paper: tuple[int, int, int, int],
                rng: np.random.Generator, px_per_mm: float) -> None:
    """Two thumbs pinching the sheet's left and right edges, lower half; drawn in place."""
    x0, y0, x1, y1 = paper
    skin = tuple(float(c) for c in rng.uniform([70, 110, 150], [120, 160, 220]))
    for side in (0, 1):
        yc = int(y0 + (y1 - y0) * rng.uniform(0.55, 0.8))
        xc = int(x0 + 5 * px_per_mm) if side == 0 else int(x1 - 5 * px_per_mm)
        axes = (int(16 * px_per_mm), int(11 * px_per_mm))
        ang = float(rng.uniform(-20, 20))
        cv2.ellipse(texture, (xc, yc), axes, ang, 0, 360, skin, -1)
        cv2.ellipse(texture, (xc, yc), axes, ang, 0, 360, tuple(c * 0.75 for c in skin), 2)
        cv2.ellipse(alpha, (xc, yc), axes, ang, 0, 360, 255, -1)
