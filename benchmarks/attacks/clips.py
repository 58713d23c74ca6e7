"""Bona fide presentations: a "cooperative applicant" made from real clips of real people.

The clips in ../shared/data/video (LivePortrait driving videos, SadTalker, the face_recognition
stage clip) were not recorded for our prompts. Each clip is sampled at 10 frames/s, cropped to a
640x480 camera frame around the face, JPEG q=80, and analysed once with the library. Its real
movements are found with the library's pose reading: an *excursion* starts at a frontal frame,
moves past 10° of yaw (a turn) or 7° of pitch from the clip's median (a nod) or 15 % of face size
(closer), without passing the same threshold the other way (a head shake), and ends at the
next frontal frame. The applicant "performs" a step by playing one of
the clip's excursions for that action, starting 0.3-0.9 s after the prompt, and rests on the
clip's frontal frames in between. Challenges are drawn only over the actions a clip supplies.

What it does not model: a person's reaction to the prompt (the clip's move is what it is: its
speed, amplitude and any overshoot), nods and moving closer (no clip has them), real face-to-
camera distance at a counter (the clips are close-ups).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .analysis import FramePool, analyze_pool
from .performance import CachedPerformance
from .render import H, JPEG_Q, W

log = logging.getLogger(__name__)

FRONTAL_YAW, FRONTAL_PITCH = 7.0, 5.0
TURN_PEAK, NOD_PEAK, CLOSER_PEAK = 10.0, 7.0, 1.15
MAX_SEGMENT_S = 3.0


def clip_paths(data: Path) -> list[Path]:
    v = data / "video"
    return sorted((v / "liveportrait").glob("*.mp4")) + sorted((v / "sadtalker").glob("*.mp4")) + \
        sorted((v / "face_recognition").glob("*.mp4"))


def to_camera(frame: np.ndarray, centre: tuple[float, float] | None, encode: bool = True) -> np.ndarray:
    """Scale the clip frame to cover 640x480 and crop around ``centre`` (the face); JPEG q80 and
    decoded back unless ``encode`` is False."""
    h, w = frame.shape[:2]
    s = max(W / w, H / h)
    img = cv2.resize(frame, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    cx, cy = (centre[0] * s, centre[1] * s) if centre else (img.shape[1] / 2, img.shape[0] / 2)
    x0 = int(np.clip(cx - W / 2, 0, img.shape[1] - W))
    y0 = int(np.clip(cy - H / 2, 0, img.shape[0] - H))
    out = img[y0:y0 + H, x0:x0 + W]
    if not encode:
        return np.ascontiguousarray(out)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, JPEG_Q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def camera_frames(path: Path, engine, fps: float = 10.0, max_frames: int | None = None,
                  encode: bool = True) -> list[np.ndarray]:
    """A real clip sampled at ``fps`` and framed like the terminal's camera (:func:`to_camera`), the
    crop centred on the face found in its first frame (the frame's centre when there is none)."""
    from idmatch.detect import choose_face, find_faces
    from idmatch.liveness.video import sample_frames

    raw, _ = sample_frames(path, fps, max_frames=max_frames)
    found, _ = find_faces(raw[0], engine.detector, engine.config.detection)
    centre = None
    if found:
        f = choose_face(found, raw[0].shape, engine.config.detection)
        centre = (f.box[0] + f.box[2] / 2, f.box[1] + f.box[3] / 2)
    return [to_camera(fr, centre, encode=encode) for fr in raw]


@dataclass
class Clip:
    name: str
    pool: FramePool              # JPEG 640x480 q80 frames at 10 fps, observed by the library

    @property
    def frames(self) -> list[bytes]:
        return self.pool.jpegs

    def image(self, i: int) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(self.frames[i], np.uint8), cv2.IMREAD_COLOR)


def load_clip(path: Path, engine, passive, fps: float = 10.0, max_s: float = 20.0) -> Clip:
    frames = camera_frames(path, engine, fps, max_frames=int(max_s * fps))
    return Clip(path.stem, analyze_pool(engine, frames, passive, name=path.stem))


def _frontal(pool: FramePool, i: int, pitch0: float) -> bool:
    p = pool.pose(i)
    return p is not None and abs(p.yaw) <= FRONTAL_YAW and abs(p.pitch - pitch0) <= FRONTAL_PITCH


def excursions(pool: FramePool, fps: float = 10.0) -> tuple[dict[str, list[list[int]]], list[int], float]:
    """(action -> list of frame-index segments, frontal frame indices, pitch median)."""
    idx = [i for i in range(len(pool)) if pool.pose(i) is not None]
    if not idx:
        return {}, [], 0.0
    pitch0 = float(np.median([pool.pose(i).pitch for i in idx]))
    frontal = [i for i in idx if _frontal(pool, i, pitch0)]
    size0 = float(np.median([pool.pose(i).size for i in frontal])) if frontal else 1.0
    segs: dict[str, list[list[int]]] = {}
    for a, b in zip(frontal, frontal[1:]):
        if b - a < 3 or (b - a) / fps > MAX_SEGMENT_S:
            continue
        inner = [pool.pose(i) for i in range(a + 1, b)]
        if any(p is None for p in inner):
            continue
        yaws = [p.yaw for p in inner]
        dps = [p.pitch - pitch0 for p in inner]
        sc = [p.size / size0 for p in inner]
        cand = [("turn_left", max(yaws) / TURN_PEAK), ("turn_right", -min(yaws) / TURN_PEAK),
                ("look_up", max(dps) / NOD_PEAK), ("look_down", -min(dps) / NOD_PEAK),
                ("move_closer", (max(sc) - 1) / (CLOSER_PEAK - 1))]
        act, score = max(cand, key=lambda c: c[1])
        opposite = {"turn_left": "turn_right", "turn_right": "turn_left", "look_up": "look_down", "look_down": "look_up"}
        clean = dict(cand).get(opposite.get(act, ""), 0.0) < 1.0   # a head shake is not a turn
        if score >= 1.0 and clean:
            segs.setdefault(act, []).append(list(range(a + 1, b + 1)))
    return segs, frontal, pitch0


def frontal_runs(frontal: list[int], min_len: int = 3) -> list[list[int]]:
    runs: list[list[int]] = []
    for i in frontal:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return [r for r in runs if len(r) >= min_len]


def clip_performance(clip: Clip, species: str = "bona_fide", subject: str | None = None) -> CachedPerformance:
    segs, frontal, _ = excursions(clip.pool)
    runs = frontal_runs(frontal)
    rest_idx = max(runs, key=len) if runs else frontal[:1]
    perf = CachedPerformance(species, subject or clip.name, rest=[(clip.pool, i) for i in rest_idx],
                             segments={a: [[(clip.pool, i) for i in s] for s in v] for a, v in segs.items()},
                             frames_analysed=len(clip.pool), analysis_ms=clip.pool.ms)
    perf.info = {"clip": clip.name, "frames": len(clip.pool), "frontal_frames": len(frontal),
                 "rest_run": len(rest_idx), "segments": {a: len(v) for a, v in segs.items()}}
    return perf


def reached_segments(perf: CachedPerformance, yaw: float = 15.0, pitch: float = 12.5, closer: float = 1.3) -> dict:
    """The cooperative applicant who moves as far as asked: only the clip's segments whose peak
    reaches 1.25x the step's threshold (turns 12°, nods 10°, move closer 1.2x), measured from the
    median of the clip's rest frames, as the check measures from the applicant's start pose."""
    rest = [p.obs[i].pose for p, i in perf.rest if p.obs[i].pose is not None]
    if not rest:
        return {}
    y0, p0 = float(np.median([r.yaw for r in rest])), float(np.median([r.pitch for r in rest]))
    s0 = float(np.median([r.size for r in rest]))
    reach = {"turn_left": lambda q: q.yaw - y0 >= yaw, "turn_right": lambda q: y0 - q.yaw >= yaw,
             "look_up": lambda q: q.pitch - p0 >= pitch, "look_down": lambda q: p0 - q.pitch >= pitch,
             "move_closer": lambda q: q.size / max(s0, 1e-6) >= closer}
    out = {}
    for a, segs in perf.segments.items():
        keep = [seg for seg in segs if any(p.obs[i].pose is not None and reach[a](p.obs[i].pose) for p, i in seg)]
        if keep:
            out[a] = keep
    return out

