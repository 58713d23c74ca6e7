"""3-D evidence of a head movement: motion inside the face that no sheet of paper or screen makes.

A print held flat, a screen, a print folded down the nose line, or one curved round a cylinder
is a *developable* surface: every point of it moves, between two camera frames, as a point of one
plane (flat print, screen) or of two planes meeting at the fold. A head is not: when it turns,
the nose tip, the cheeks, the eyes and the jaw line sit at very different depths and slide past
each other (parallax), and the far cheek disappears behind the nose.

So: a grid of points inside the face box is carried from the movement's start frame to the frame
where the step was reached by dense optical flow (Farnebäck, on a 160-px crop, frame to frame, so
a 10 frames/s capture tracks a 30° turn), and the points' displacement is explained by the best
single homography and by the best pair of homographies split at a vertical (and, for nods, a
horizontal) line. The mean residual of the two-plane model, in inter-ocular distances, is the
**parallax**. Measured (docs/liveness.md): real turns of 15–30° on the bona fide clips
0.05–0.34; rendered flat prints about 0.006, folded prints 0.010–0.072, curved prints 0.016–0.028.

Why optical flow and not landmarks: a landmark regressor (YuNet's five points, dlib's 68) draws a
face-shaped answer from appearance; on a folded print it moves the nose and the jaw line as if
the head had turned (measured: the "nose off the midline" and "cheek width" cues move with the
same sign and size on folds as on real turns). Flow follows the texture that is really there.

What it does not stop: a print that is crumpled or waved while it turns (non-developable motion),
a 3-D mask, a deep-fake video injected into the camera stream. Those need the passive model,
the server-owned capture and the prompt timing checks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

WORK_SIDE = 160      # the face crop is scaled so its longer side is this many pixels
GRID = 14            # GRID x GRID points inside the face box


@dataclass(frozen=True)
class ParallaxResult:
    parallax: float          # two-plane residual / inter-ocular distance
    one_plane: float         # one-homography residual / inter-ocular distance
    frames: int              # frames the points were carried through

    def to_dict(self) -> dict:
        return {"parallax": round(self.parallax, 4), "one_plane": round(self.one_plane, 4), "frames": self.frames}


def _crop_box(box: Sequence[float], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    x, y, w, h = box
    x0, y0 = int(max(0, x - 0.3 * w)), int(max(0, y - 0.3 * h))
    x1, y1 = int(min(shape[1], x + 1.3 * w)), int(min(shape[0], y + 1.3 * h))
    return x0, y0, x1, y1


def track_grid(grays: Sequence[np.ndarray], box: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Carry a grid of points inside ``box`` (x, y, w, h, in the first frame) through ``grays``
    (full-size 8-bit grey frames, in order). Returns (start points, end points) in image pixels."""
    x, y, w, h = box
    x0, y0, x1, y1 = _crop_box(box, grays[0].shape)
    s = WORK_SIDE / max(x1 - x0, y1 - y0, 1)
    small = [cv2.resize(g[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=cv2.INTER_AREA) for g in grays]
    gx, gy = np.meshgrid(np.linspace(x + 0.15 * w, x + 0.85 * w, GRID), np.linspace(y + 0.15 * h, y + 0.95 * h, GRID))
    p0 = np.stack([(gx.ravel() - x0) * s, (gy.ravel() - y0) * s], axis=1).astype(np.float32)
    p = p0.copy()
    for a, b in zip(small[:-1], small[1:]):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        mx, my = p[:, 0].reshape(1, -1), p[:, 1].reshape(1, -1)
        dx = cv2.remap(flow[..., 0], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).ravel()
        dy = cv2.remap(flow[..., 1], mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).ravel()
        p = p + np.stack([dx, dy], axis=1)
    off = np.array([x0, y0], dtype=np.float32)
    return p0 / s + off, p / s + off


def _h_residual(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    H, _ = cv2.findHomography(a, b, 0)
    if H is None:
        return np.full(len(a), np.inf)
    return np.linalg.norm(cv2.perspectiveTransform(a.reshape(-1, 1, 2), H).reshape(-1, 2) - b, axis=1)


def plane_residuals(p0: np.ndarray, p1: np.ndarray, iod: float) -> tuple[float, float]:
    """(one-plane, best two-plane) mean residual of the motion p0 → p1, in units of ``iod``."""
    iod = max(float(iod), 1e-6)
    one = float(np.mean(_h_residual(p0, p1)))
    best = one
    for axis in (0, 1):
        for cut in np.quantile(p0[:, axis], np.linspace(0.3, 0.7, 9)):
            sides = (p0[:, axis] <= cut, p0[:, axis] > cut)
            if min(int(m.sum()) for m in sides) < 8:
                continue
            err = np.concatenate([_h_residual(p0[m], p1[m]) for m in sides])
            best = min(best, float(np.mean(err)))
    return one / iod, best / iod


def parallax(grays: Sequence[np.ndarray], box: Sequence[float], iod: float) -> ParallaxResult:
    """Parallax of the face in ``box`` (first frame) over ``grays`` (≥ 2 frames in capture order)."""
    if len(grays) < 2:
        return ParallaxResult(parallax=0.0, one_plane=0.0, frames=len(grays))
    p0, p1 = track_grid(grays, box)
    one, two = plane_residuals(p0, p1, iod)
    return ParallaxResult(parallax=two, one_plane=one, frames=len(grays))
