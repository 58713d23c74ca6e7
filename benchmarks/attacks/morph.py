"""A 50/50 face morph of an attacker and a victim, in the victim photo's frame.

dlib's 68-point landmarks (the ``face_recognition_models`` predictor, given the YuNet box) on both
faces; the attacker image is brought onto the victim's by a similarity transform; both are warped
piecewise-affinely (Delaunay triangles of the mean shape plus the image border) to the mean shape
and blended (whole image, or inside the feathered face hull only).

Not modelled: colour/skin-tone matching, the manual retouching of ghosting that real morphing
attacks use, morph ratios other than 0.5.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np


@functools.lru_cache(maxsize=1)
def _predictor():
    import dlib
    import face_recognition_models

    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


def landmarks68(img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    import dlib

    x, y, w, h = box
    rect = dlib.rectangle(int(x), int(y), int(x + w), int(y + h))
    shape = _predictor()(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), rect)
    return np.array([[p.x, p.y] for p in shape.parts()], np.float32)


def _border(w: int, h: int) -> np.ndarray:
    return np.array([[0, 0], [w / 2, 0], [w - 1, 0], [w - 1, h / 2], [w - 1, h - 1], [w / 2, h - 1], [0, h - 1], [0, h / 2]],
                    np.float32)


def _triangles(pts: np.ndarray, w: int, h: int) -> list[tuple[int, int, int]]:
    sub = cv2.Subdiv2D((0, 0, w, h))
    for p in pts:
        sub.insert((float(np.clip(p[0], 0, w - 1)), float(np.clip(p[1], 0, h - 1))))
    tris = []
    for t in sub.getTriangleList():
        tri = []
        for k in range(3):
            q = np.array([t[2 * k], t[2 * k + 1]], np.float32)
            d = np.linalg.norm(pts - q, axis=1)
            if d.min() > 1.0:
                break
            tri.append(int(d.argmin()))
        if len(tri) == 3:
            tris.append(tuple(tri))
    return tris


def _warp(img: np.ndarray, src: np.ndarray, dst: np.ndarray, tris) -> np.ndarray:
    h, w = img.shape[:2]
    out = np.zeros_like(img, dtype=np.float32)
    for a, b, c in tris:
        s, d = src[[a, b, c]], dst[[a, b, c]]
        m = cv2.getAffineTransform(s, d)
        warped = cv2.warpAffine(img.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillConvexPoly(mask, np.round(d).astype(np.int32), 1)
        out[mask > 0] = warped[mask > 0]
    return out


def morph(victim: np.ndarray, victim_box, attacker: np.ndarray, attacker_box, ratio: float = 0.5,
          face_only: bool = False) -> np.ndarray:
    """Victim-frame morph (BGR uint8). ``face_only``: blend inside the landmark hull only (the
    victim's hair and background kept); otherwise the whole aligned images are blended."""
    h, w = victim.shape[:2]
    pv = landmarks68(victim, victim_box)
    pa = landmarks68(attacker, attacker_box)
    m, _ = cv2.estimateAffinePartial2D(pa, pv)
    att = cv2.warpAffine(attacker, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    pa2 = pa @ m[:, :2].T + m[:, 2]
    pm = (1 - ratio) * pv + ratio * pa2
    border = _border(w, h)
    src_v, src_a, dst = (np.vstack([x, border]).astype(np.float32) for x in (pv, pa2, pm))
    tris = _triangles(dst, w, h)
    wv = _warp(victim, src_v, dst, tris)
    wa = _warp(att, src_a, dst, tris)
    blend = (1 - ratio) * wv + ratio * wa
    if not face_only:
        return np.clip(blend, 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(pm).astype(np.int32)), 1.0)
    k = max(3, int(0.06 * w) | 1)
    mask = cv2.GaussianBlur(cv2.erode(mask, np.ones((k, k), np.uint8)), (0, 0), k / 2)[..., None]
    return np.clip(mask * blend + (1 - mask) * wv, 0, 255).astype(np.uint8)
