"""PAI species ``injected_*``: frames fed to the terminal through a virtual camera, never seen by a
sensor, so they carry no sensor noise (issue 12 item 3). Encoded as the terminal encodes its
camera frames: 640x480 JPEG q80, 10 frames/s.

* ``injected_warp`` -- the victim's most frontal photo animated digitally, following the prompt
  schedule (:mod:`.schedule`): a perspective warp of the photo plane about the nose (yaw for
  turns, pitch for nods) plus a smooth displacement field that slides the nose off the face's
  midline (sideways for turns, along it for nods: what a landmark-driven animation tool does),
  and a head sway of a few pixels so consecutive frames differ like a live head's. The photo fills the frame (its borders replicated). No camera model
  at all: a face-animation tool's output before any noise is added. It is a probe of the noise
  floor, not a successful attack: the detector's landmarks barely follow a locally slid nose (a
  probe on one CASIA face read 0-7° of yaw for the left slide, 11-18° for the right), so the
  shipped check answers ``challenge_not_followed`` (``reports/injected_frames.md``). The denoised
  real clips stand for a generator good enough to follow the prompts.
* ``injected_denoised`` -- a real person's clip (the bona fide clips) re-rendered through a
  denoiser, as a generator's clean output would be: ``cv2.fastNlMeansDenoisingColored`` (h=6,
  11-px search) on each 640x480 frame, then JPEG q80. ``injected_bilateral``: the same through a bilateral filter
  (d=7, sigma 30/5), cheaper and milder.

Not modelled: a generator's own artefacts (blending seams, temporal flicker), an attacker who adds
synthetic Gaussian noise (which defeats any noise-floor check by construction).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .render import FOCAL, H, JPEG_Q, W
from .schedule import Schedule, cue, plan_moves

TURN_DEG = 15.0      # the photo plane's rotation at full amplitude of a turn
NOD_DEG = 10.0
NOSE_TURN = 0.3      # nose slide at full amplitude, in face sizes (a 25° yaw if the detector's nose point followed it)
NOSE_NOD = 0.15      # ... along the midline (13° of pitch, likewise)
SWAY_PX = 5.0        # head sway amplitude (pixels)
FACE_PX = 100.0      # HeadPose.size of the face in the injected frame (the clips' close-ups read 100-160)


def encode(img: np.ndarray, quality: int = JPEG_Q) -> np.ndarray:
    """The terminal's encoding: JPEG at ``quality``, decoded back (BGR uint8)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _plane_homography(yaw: float, pitch: float, centre: tuple[float, float], z: float = 500.0) -> np.ndarray:
    """Homography of the image plane (at depth ``z``) rotated by yaw/pitch degrees about ``centre``."""
    cx, cy = centre
    src = np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float64)
    pts = np.stack([(src[:, 0] - cx) * z / FOCAL, (src[:, 1] - cy) * z / FOCAL, np.zeros(4)], axis=1)
    a, b = math.radians(yaw), math.radians(pitch)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    p = pts @ (rx @ ry).T
    p[:, 2] += z
    dst = np.stack([FOCAL * p[:, 0] / p[:, 2] + cx, FOCAL * p[:, 1] / p[:, 2] + cy], axis=1)
    return cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))


@dataclass
class WarpPerformer:
    """The victim's photo placed in a 640x480 frame (nose at the centre, eyes level) and warped."""
    base: np.ndarray                    # 640x480 BGR, the photo placed
    rng: np.random.Generator
    sway: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_photo(cls, photo, rng: np.random.Generator) -> "WarpPerformer":
        lm = photo.landmarks
        roll = float(np.degrees(np.arctan2(lm[1, 1] - lm[0, 1], lm[1, 0] - lm[0, 0])))
        s = FACE_PX / max(photo.size, 1e-6)
        m = cv2.getRotationMatrix2D(photo.nose, roll, s)
        m[:, 2] += np.array([W / 2.0 - photo.nose[0], H / 2.0 + 0.1 * FACE_PX - photo.nose[1]])
        base = cv2.warpAffine(photo.image, m, (W, H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        return cls(base, rng, tuple(float(v) for v in rng.uniform(0, 2 * np.pi, 4)))

    def frame(self, action: str | None, level: float, t: float) -> np.ndarray:
        yaw = pitch = 0.0
        if action == "turn_left":
            yaw = -TURN_DEG * level
        elif action == "turn_right":
            yaw = TURN_DEG * level
        elif action == "look_up":
            pitch = NOD_DEG * level
        elif action == "look_down":
            pitch = -NOD_DEG * level
        # a slow sway of the head (0.4°, and the shift below)
        p1, p2, p3, p4 = self.sway
        yaw += 0.4 * math.sin(2 * math.pi * 0.5 * t + p1)
        pitch += 0.4 * math.sin(2 * math.pi * 0.4 * t + p2)
        nx = ny = 0.0
        if action in ("turn_left", "turn_right"):
            nx = (1.0 if action == "turn_left" else -1.0) * NOSE_TURN * FACE_PX * level
        elif action in ("look_up", "look_down"):
            ny = (-1.0 if action == "look_up" else 1.0) * NOSE_NOD * FACE_PX * level
        img = self.base
        if nx or ny:   # slide the nose region: a Gaussian displacement field centred on the nose
            yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
            bump = np.exp(-((xx - W / 2.0) ** 2 + (yy - self.nose_y) ** 2) / (2 * (0.3 * FACE_PX) ** 2))
            img = cv2.remap(img, xx - nx * bump, yy - ny * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        hm = _plane_homography(yaw, pitch, (W / 2.0, self.nose_y))
        sx = SWAY_PX * (0.6 * math.sin(2 * math.pi * 0.7 * t + p3) + 0.4 * math.sin(2 * math.pi * 1.3 * t + p1))
        sy = SWAY_PX * (0.6 * math.sin(2 * math.pi * 0.5 * t + p4) + 0.4 * math.sin(2 * math.pi * 1.1 * t + p2))
        shift = np.array([[1, 0, sx], [0, 1, sy], [0, 0, 1]])
        return cv2.warpPerspective(img, shift @ hm, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    @property
    def nose_y(self) -> float:
        return H / 2.0 + 0.1 * FACE_PX


def warp_capture(photo, schedule: Schedule, rng: np.random.Generator) -> list[np.ndarray]:
    """``injected_warp``: one capture of the photo animated to ``schedule``'s prompts (before the
    terminal's JPEG: pass each frame to :func:`encode`)."""
    perf = WarpPerformer.from_photo(photo, rng)
    moves = plan_moves(schedule, rng)
    return [perf.frame(*cue(moves, t), t) for t in schedule.times]


def denoise_nlm(frame: np.ndarray) -> np.ndarray:
    """``injected_denoised``: non-local means (before the terminal's JPEG)."""
    return cv2.fastNlMeansDenoisingColored(frame, None, 6, 6, 7, 11)


def denoise_bilateral(frame: np.ndarray) -> np.ndarray:
    """``injected_bilateral``: an edge-preserving bilateral filter (before the terminal's JPEG)."""
    return cv2.bilateralFilter(frame, 7, 30, 5)
