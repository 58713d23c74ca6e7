"""Hand-held sheet performers (prints and screens) and the attacker's calibration.

A :class:`SheetPerformer` holds one or more :class:`~.render.Sheet` s in a fixed scene and, for
each prompted action, a *target* change of pose (and for the flipbook, which page to show). A
frame at (action, level, t) is rest + level x target + hand shake(t), rendered and captured.

:func:`calibrate` is the fraudster rehearsing in front of the camera: for every action it tries
candidate moves from the least to the most effort, reads the pose the *library* reads
(detector + ``estimate_pose``, i.e. what the terminal's frame-check shows) and keeps the first that passes
the step threshold with a 25 % margin without reaching another direction; if none does, the one
that comes closest.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np

from .render import Sheet, SheetPose, camera, composite, draw_thumbs, render_sheet, room_background

log = logging.getLogger(__name__)

FACE_MM = 64.0        # printed face size (mean of eye distance and eye-to-mouth), life size
MARGIN_MM = 10.0      # white paper around the photo
HOLD_MM = 28.0        # transparent border for the thumbs
YAW_T, PITCH_T, CLOSER_T = 15.0, 10.0, 1.2   # the current step thresholds (ChallengeConfig defaults)
MARGIN = 1.25
MAX_PROBES = 24     # candidates tried per action before settling for one that reaches the threshold
MIN_PROGRESS = 0.8  # below this share of the threshold an action is not rendered (cannot pass)
POSE_ACTIONS = ("turn_left", "turn_right", "look_up", "look_down")


@dataclass
class Shake:
    """Hand tremor and drift: a sum of sinusoids per degree of freedom (deg / mm)."""
    amp: dict[str, float]
    freqs: dict[str, np.ndarray]
    phases: dict[str, np.ndarray]

    @classmethod
    def draw(cls, rng: np.random.Generator, scale: float = 1.0) -> "Shake":
        amp = {"yaw": 1.2, "tilt": 1.2, "roll": 1.5, "tx": 3.0, "ty": 3.0, "z": 5.0}
        return cls({k: v * scale for k, v in amp.items()},
                   {k: rng.uniform(0.2, 2.5, 3) for k in amp}, {k: rng.uniform(0, 2 * np.pi, 3) for k in amp})

    def at(self, t: float) -> dict[str, float]:
        return {k: float(a * np.mean(np.sin(2 * np.pi * self.freqs[k] * t + self.phases[k])) * 1.6)
                for k, a in self.amp.items()}


def print_look(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink on paper: reduced contrast and saturation, paper white point, fibre texture."""
    f = img.astype(np.float32)
    mean = f.mean(axis=(0, 1), keepdims=True)
    f = mean + (f - mean) * rng.uniform(0.75, 0.92)
    grey = f.mean(axis=2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(0.7, 0.9)
    f = f * rng.uniform(0.9, 1.0, size=(1, 1, 3)) + rng.uniform(8, 20)
    h, w = f.shape[:2]
    fib = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
    return np.clip(f + rng.uniform(2, 5) * fib[..., None], 0, 255).astype(np.uint8)


def screen_look(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A backlit LCD: RGB sub-pixel stripes (moiré once re-sampled by the camera), gamma, blue cast."""
    try:
        from training.synth_attacks import _subpixel_grid
        img = _subpixel_grid(img, rng)
    except ImportError:  # pragma: no cover - the training folder is part of the repo
        pass
    f = np.power(img.astype(np.float32) / 255.0, rng.uniform(0.75, 0.95))
    f = f * np.array([1.06, 1.0, 0.94], np.float32) * rng.uniform(0.95, 1.1) + 0.03
    return np.clip(f * 255, 0, 255).astype(np.uint8)


def crop_head(photo) -> tuple[np.ndarray, tuple[float, float]]:
    """Head and shoulders around the face, turned upright (eyes level), as an attacker prints it on
    an A5/A4 sheet; the border is replicated where the photo is too tight. Returns the crop and
    the nose's position in it."""
    lm = photo.landmarks
    roll = float(np.degrees(np.arctan2(lm[1, 1] - lm[0, 1], lm[1, 0] - lm[0, 0])))
    nx, ny = photo.nose
    s = photo.size
    w, h = int(round(3.4 * s)), int(round(4.3 * s))
    m = cv2.getRotationMatrix2D((nx, ny), roll, 1.0)
    m[:, 2] += np.array([w / 2.0 - nx, 2.3 * s - ny])
    img = cv2.warpAffine(photo.image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return img, (w / 2.0, 2.3 * s)


def make_sheet(photo, rng: np.random.Generator, medium: str = "print", surface: str = "plane") -> Sheet:
    """Print ``photo`` (a subjects.Photo) at life size on paper (or show it on a tablet screen
    with a black bezel), with thumbs on both sides. The sheet origin is the printed nose, so a
    fold runs down the nose line and rotations pivot there."""
    up = 3 if photo.image.shape[1] < 220 else 2
    img, (nx, ny) = crop_head(photo)
    img = cv2.resize(img, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
    mm_per_px = FACE_MM / (photo.size * up)
    if medium == "screen":
        mm_per_px *= 0.85                # a tablet shows the face a little smaller than life
        img = screen_look(img, rng)
        border_mm = 9.0
        border_col = (18, 18, 22)
    else:
        img = print_look(img, rng)
        border_mm = MARGIN_MM
        border_col = tuple(float(c) for c in rng.uniform(225, 250, 3))
    b = int(round(border_mm / mm_per_px))
    hold = int(round(HOLD_MM / mm_per_px))
    h, w = img.shape[:2]
    tex = np.zeros((h + 2 * (b + hold), w + 2 * (b + hold), 3), np.uint8)
    alpha = np.zeros(tex.shape[:2], np.uint8)
    x0, y0, x1, y1 = hold, hold, hold + w + 2 * b, hold + h + 2 * b
    cv2.rectangle(tex, (x0, y0), (x1 - 1, y1 - 1), border_col, -1)
    cv2.rectangle(alpha, (x0, y0), (x1 - 1, y1 - 1), 255, -1)
    tex[y0 + b:y0 + b + h, x0 + b:x0 + b + w] = img
    draw_thumbs(tex, alpha, (x0, y0, x1, y1), rng, 1.0 / mm_per_px)
    return Sheet(tex, alpha, mm_per_px, (x0 + b + nx * up, y0 + b + ny * up), surface, glossy=(medium == "screen"))


@dataclass
class Target:
    """What the attacker does at full amplitude of one action: a pose change and a page."""
    delta: dict[str, float] = field(default_factory=dict)
    page: int = 0
    probe: dict | None = None      # pose the library read at calibration
    via: tuple[int, ...] = ()      # flipbook: intermediate-pose pages shown on the way to ``page``


@dataclass
class SheetPerformer:
    species: str
    sheets: list[Sheet]
    rest: SheetPose
    rng: np.random.Generator
    background: np.ndarray
    shake: Shake
    targets: dict[str, Target] = field(default_factory=dict)
    swap_band: float = 0.0        # flipbook: level band around each page change in which the page is being swapped
    rest_page: int = 0
    swap_shift_mm: float = 120.0  # flipbook: how far the hand pulls the pages apart (0: a stack, swapped in place)

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(self.targets)

    def pose(self, action: str | None, level: float, t: float | None) -> tuple[SheetPose, int]:
        p, page = self.rest, self.rest_page
        if action is not None and level > 0:
            tg = self.targets[action]
            p = p.plus(**{k: level * v for k, v in tg.delta.items()})
            if tg.page != self.rest_page:
                # pages shown in order (rest, intermediate ones, the turned one), each change at an
                # equal share of the move: one change at level 0.5 without intermediate pages
                pages = (self.rest_page, *tg.via, tg.page)
                cuts = [j / len(pages) for j in range(1, len(pages))]
                page = pages[sum(level >= c for c in cuts)]
                near = min(abs(level - c) for c in cuts)
                if self.swap_band > 0 and self.swap_shift_mm > 0 and near < self.swap_band:
                    # the hand pulls one page down and the next one up
                    p = replace(p, shift_y=p.shift_y + self.swap_shift_mm * (1 - near / self.swap_band))
        if t is not None:
            p = p.plus(**self.shake.at(t))
        return p, page

    def frame(self, action: str | None, level: float, t: float | None) -> np.ndarray:
        p, page = self.pose(action, level, t)
        layer, alpha = render_sheet(self.sheets[page], p)
        return camera(composite(self.background, layer, alpha), self.rng)


def _progress(action: str, pose, rest) -> float:
    if action == "turn_left":
        return pose.yaw / YAW_T
    if action == "turn_right":
        return -pose.yaw / YAW_T
    if action == "look_up":
        return (pose.pitch - rest.pitch) / PITCH_T
    if action == "look_down":
        return -(pose.pitch - rest.pitch) / PITCH_T
    return (pose.size / max(rest.size, 1e-6) - 1.0) / (CLOSER_T - 1.0)


def probe_pose(engine, frame: np.ndarray):
    """The pose the library reads on one frame (None: no single face): its detector and
    ``estimate_pose`` -- at the library's work size when it analyses at one -- as the terminal's
    frame-check shows it (not the whole analysis: 4x cheaper)."""
    from idmatch.detect import choose_face, find_faces
    from idmatch.liveness import ChallengeConfig, estimate_pose

    side = getattr(ChallengeConfig(), "work_side", None)
    scale = min(1.0, side / max(frame.shape[:2])) if side else 1.0
    work = frame if scale == 1.0 else cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    found, _ = find_faces(work, engine.detector, engine.config.detection)
    if len(found) != 1:
        return None
    lm = np.asarray(choose_face(found, work.shape, engine.config.detection).landmarks, np.float64) / scale
    return estimate_pose(lm)


def calibrate(perf: SheetPerformer, engine, candidates: dict[str, list[Target]],
              trim: list[dict[str, float]] | None = None) -> dict[str, dict]:
    """Pick each action's target (see module docstring). ``trim``: rest-pose changes to try so the
    rest reads frontal (yaw measured from 0). Returns what was read, for the report."""
    rest = probe_pose(engine, perf.frame(None, 0.0, None))
    for d in trim or []:
        if rest is None or abs(rest.yaw) < 3.0:
            break
        base = perf.rest
        perf.rest = base.plus(**d)
        p = probe_pose(engine, perf.frame(None, 0.0, None))
        if p is not None and abs(p.yaw) < abs(rest.yaw):
            rest = p
        else:
            perf.rest = base
    if rest is None:
        raise RuntimeError(f"{perf.species}: no face on the rest frame")
    log_: dict[str, dict] = {"rest": {"yaw": round(rest.yaw, 1), "pitch": round(rest.pitch, 1), "sheet_yaw": perf.rest.yaw}}
    for action, cands in candidates.items():
        best, best_score = None, -math.inf
        for n_probe, tg in enumerate(cands):
            if n_probe >= MAX_PROBES and best is not None and (best.probe or {}).get("progress", 0.0) >= 1.15:
                break  # rehearsal time is not unlimited: past the threshold with a smaller margin will do
            perf.targets[action] = tg
            p = probe_pose(engine, perf.frame(action, 1.0, None))
            if p is None:
                continue
            prog = _progress(action, p, rest)
            conflict = max([_progress(o, p, rest) for o in POSE_ACTIONS if o != action] or [0.0])
            tg.probe = {"yaw": round(p.yaw, 1), "pitch": round(p.pitch - rest.pitch, 1),
                        "scale": round(p.size / rest.size, 3), "progress": round(prog, 2), "conflict": round(conflict, 2)}
            score = min(prog, MARGIN) - 2.0 * max(0.0, conflict - 0.8)
            if score > best_score:
                best, best_score = tg, score
            if prog >= MARGIN and conflict < 0.8:
                break
        if best is None or (best.probe or {}).get("progress", 0.0) < MIN_PROGRESS:
            # out of reach: the attacker does not perform it (the challenge fails on this step anyway)
            perf.targets.pop(action, None)
            log_[action] = {"unreachable": True, **((best.probe or {}) if best else {})}
            continue
        perf.targets[action] = best
        log_[action] = {"delta": best.delta, "page": best.page, **(best.probe or {})}
    return log_


def turn_sign(perf: SheetPerformer, engine, delta: dict[str, float]) -> float:
    """+1 if the sheet yaw in ``delta`` makes the library read a turn to the subject's left."""
    perf.targets["_probe"] = Target(dict(delta), page=perf.rest_page)
    rest = probe_pose(engine, perf.frame(None, 0.0, None))
    p = probe_pose(engine, perf.frame("_probe", 1.0, None))
    perf.targets.pop("_probe")
    if rest is None or p is None:
        return 1.0
    return 1.0 if p.yaw >= rest.yaw else -1.0


def sheet_scene(rng: np.random.Generator) -> tuple[np.ndarray, Shake]:
    return room_background(rng), Shake.draw(rng)


CandidateFn = Callable[[float], dict[str, list[Target]]]
