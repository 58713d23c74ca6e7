"""The active challenge's frame analysis, in two stages.

1. :func:`observe_frame` -- what one frame shows on its own, whatever the challenge: decoded at the
   work size only (JPEG DCT scaling, no full-size raster), the faces found, the head pose, a small
   grey copy for the repeat check. The full-size frame is decoded later, and only for the frames
   that need it (embedding, PAD, the best frame). Templates, sharpness and PAD scores are kept on
   the observation once computed, so a frame seen in several sequences is analysed once.
2. :func:`summarize` -- what depends on the whole capture: which frames are embedded (every n-th,
   and each turn's peak), the most frontal reference and every embedded frame's similarity to it,
   repeated frames, face jumps, pixel motion, PAD on a subset.

:func:`analyze_frames` is both for one capture (the service's path); benchmarks observe a pool of
frames once and summarize any number of sequences drawn from it with the same code.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from ..match import cosine_score
from ..models import DetectedFace
from ..pose import HeadPose, estimate_pose
from .challenge import ChallengeError
from .config import ChallengeConfig


@dataclass
class FrameReport:
    index: int
    faces: int
    pose: HeadPose | None = None
    similarity: float | None = None   # vs the reference frame; None when the frame was not embedded
    pad_score: float | None = None
    sharpness: float | None = None
    time_s: float | None = None

    def to_dict(self) -> dict:
        r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        return {"index": self.index, "faces": self.faces, "pose": self.pose.to_dict() if self.pose else None,
                "similarity": r(self.similarity), "pad_score": r(self.pad_score), "sharpness": r(self.sharpness),
                "time_s": r(self.time_s)}


@dataclass(eq=False)
class FrameObservation:
    """One frame on its own (see the module docstring). Bound to the engine (and PAD model) that
    observed it: the memoised template, sharpness and PAD score are theirs."""

    source: bytes | np.ndarray | str = field(repr=False)
    faces: int
    face: DetectedFace | None          # full-frame coordinates; None unless exactly one usable face
    pose: HeadPose | None
    gray: np.ndarray = field(repr=False)     # the frame at the work size, grey
    scale: float = 1.0                 # work size / full size
    small: np.ndarray = field(default=None, repr=False)   # 64x48 float32 grey (repeat check)
    template: np.ndarray | None = field(default=None, repr=False)
    sharpness: float | None = None
    aligned_gray: np.ndarray | None = field(default=None, repr=False)
    pad_score: float | None = None
    image: np.ndarray | None = field(default=None, repr=False)   # full size, once decoded

    def full(self, engine) -> np.ndarray:
        if self.image is None:
            self.image = self.source if isinstance(self.source, np.ndarray) else engine.decode(self.source)
        return self.image


def observe_frame(engine, frame: bytes | np.ndarray | str, config: ChallengeConfig = ChallengeConfig()
                  ) -> FrameObservation:
    """Decode at the work size, detect, estimate the pose (see the module docstring)."""
    from ..detect import choose_face, find_faces

    work, scale = engine.decode_work(frame, config.work_side)
    found, _ = find_faces(work, engine.detector, engine.config.detection)
    face = pose = None
    if len(found) == 1:
        face = choose_face(found, work.shape, engine.config.detection).scaled(1.0 / scale)
        pose = estimate_pose(face.landmarks, mirrored=config.mirrored)
        if pose is None:              # a degenerate landmark layout: no usable face in this frame
            face = None
    gray = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY) if work.ndim == 3 else work
    small = cv2.resize(gray, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)
    return FrameObservation(source=frame, faces=len(found), face=face, pose=pose, gray=gray, scale=scale, small=small,
                            image=frame if isinstance(frame, np.ndarray) else None)


@dataclass
class AnalyzedFrames:
    """The frames of one capture, observed and summarized: judge it against a challenge with
    :func:`~.check.judge`."""

    observations: list[FrameObservation] = field(repr=False)
    reports: list[FrameReport]
    valid: list[int]
    embedded: list[int] = field(default_factory=list)
    templates: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    frozen_pairs: int = 0
    max_jump: float = 0.0               # largest face-centre move between consecutive frames, in face widths per 0.1 s
    frame_times: list[float] | None = None
    pitch0: float = 0.0
    reference: int | None = None
    pad_threshold: float | None = None
    pixel_motion: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def faces(self) -> list[DetectedFace | None]:
        return [o.face for o in self.observations]

    @property
    def grays(self) -> list[np.ndarray]:
        return [o.gray for o in self.observations]

    @property
    def gray_scale(self) -> list[float]:
        return [o.scale for o in self.observations]

    def image(self, i: int) -> np.ndarray | None:
        """The full-size frame ``i`` when it was decoded (every embedded frame is)."""
        return self.observations[i].image


def frontalness(rep: FrameReport, pitch0: float) -> float:
    return abs(rep.pose.yaw) + abs(rep.pose.pitch - pitch0)


def _embedded_subset(valid: list[int], reports: list[FrameReport], every: int) -> list[int]:
    """Frames to embed: all of a short capture; else every ``every``-th frame with a face, the last
    one, and every turn's peak (a local extreme of yaw at least 10° from the median), so the ID
    portrait can be matched against the turned face."""
    if len(valid) <= 16:
        return list(valid)
    sub = set(valid[::every]) | {valid[-1]}
    yaw = {i: reports[i].pose.yaw for i in valid}
    y0 = float(np.median(list(yaw.values())))
    for n, i in enumerate(valid):
        near = valid[max(0, n - 3):n + 4]
        if abs(yaw[i] - y0) >= 10 and abs(yaw[i] - y0) == max(abs(yaw[j] - y0) for j in near):
            sub.add(i)
    return sorted(sub)


def _pad_subset(valid: list[int], reports: list[FrameReport], embedded: list[int], cfg: ChallengeConfig) -> list[int]:
    """Frames to PAD-score: the frames an embedding of every ``pad_sample_every``-th frame would
    pick (or the embedded ones where embedding is denser), every ``pad_every``-th of them in a long
    capture. Kept apart from the embedded frames since issue 12 embeds every 16th frame: PAD on only
    those let one more flipbook of 80 through the attack benchmark (the median over ~8 frames
    instead of ~12); a PAD score costs a quarter of an embedding."""
    every = min(cfg.pad_sample_every, cfg.embed_every)
    pool = embedded if every == cfg.embed_every else _embedded_subset(valid, reports, every)
    return pool[::max(1, cfg.pad_every // max(1, every))] if len(pool) > 16 else pool


def _embed(engine, observations: Sequence[FrameObservation]) -> None:
    """Template, sharpness and aligned grey crop of each observation that has none yet (one batch,
    no flip augmentation: consistency needs no extra accuracy, and it halves the cost)."""
    from ..quality.measures import face_sharpness   # one sharpness for quality and liveness

    todo = [o for o in dict.fromkeys(observations) if o.template is None]
    if not todo:
        return
    aligned = [engine.align(o.full(engine), o.face) for o in todo]
    embs = np.atleast_2d(engine.recognizer.embed(np.stack(aligned)))
    for o, a, e in zip(todo, aligned, embs):
        o.aligned_gray = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY)
        o.sharpness = face_sharpness(o.aligned_gray)
        o.template = e


def summarize(engine, observations: Sequence[FrameObservation], passive=None, use_passive: bool = True,
              config: ChallengeConfig = ChallengeConfig(), frame_times: Sequence[float] | None = None
              ) -> AnalyzedFrames:
    """The whole-capture analysis of observed frames (see the module docstring)."""
    cfg = config
    obs = list(observations)
    t0 = time.perf_counter()
    reports = [FrameReport(index=i, faces=o.faces, pose=o.pose,
                           time_s=None if frame_times is None else float(frame_times[i])) for i, o in enumerate(obs)]
    valid = [i for i, o in enumerate(obs) if o.face is not None]
    frozen = sum(1 for a, b in zip(obs[:-1], obs[1:]) if float(np.mean(np.abs(a.small - b.small))) < cfg.frozen_diff)
    out = AnalyzedFrames(observations=obs, reports=reports, valid=valid, frozen_pairs=frozen,
                         frame_times=None if frame_times is None else [float(t) for t in frame_times])
    if not valid:
        return out
    out.pitch0 = float(np.median([reports[i].pose.pitch for i in valid]))
    if frame_times is not None:
        for a, b in zip(valid[:-1], valid[1:]):
            if b == a + 1:
                fa, fb = obs[a].face, obs[b].face
                d = float(np.hypot(fa.center[0] - fb.center[0], fa.center[1] - fb.center[1])) / max(fa.box[2], 1.0)
                d *= 0.1 / max(float(frame_times[b]) - float(frame_times[a]), 0.02)
                out.max_jump = max(out.max_jump, d)
    out.embedded = _embedded_subset(valid, reports, cfg.embed_every)
    _embed(engine, [obs[i] for i in out.embedded])
    for i in out.embedded:
        reports[i].sharpness = obs[i].sharpness
    out.reference = min(out.embedded, key=lambda i: frontalness(reports[i], out.pitch0))
    out.templates = {i: obs[i].template for i in out.embedded}
    ref_t = out.templates[out.reference]
    for i in out.embedded:
        reports[i].similarity = cosine_score(ref_t, out.templates[i])
    g0 = obs[out.embedded[0]].aligned_gray.astype(np.float32)
    out.pixel_motion = max(float(np.mean(np.abs(obs[i].aligned_gray.astype(np.float32) - g0))) for i in out.embedded)
    t1 = time.perf_counter()
    if use_passive:
        if passive is None:
            from .passive import PassiveLiveness

            passive = PassiveLiveness(engine=engine)
        scored = _pad_subset(valid, reports, out.embedded, cfg)
        for i in scored:
            o = obs[i]
            if o.pad_score is None:
                o.pad_score = passive.score_face(o.full(engine), o.face).score
            reports[i].pad_score = o.pad_score
        out.pad_threshold = passive.threshold
    t2 = time.perf_counter()
    out.timings_ms = {"embed": (t1 - t0) * 1e3, "pad": (t2 - t1) * 1e3}
    return out


def analyze_frames(engine, frames: Sequence[bytes | np.ndarray | str], passive=None, use_passive: bool = True,
                   config: ChallengeConfig = ChallengeConfig(), frame_times: Sequence[float] | None = None
                   ) -> AnalyzedFrames:
    """Observe every frame and summarize the capture. ``frame_times``: seconds from the capture start."""
    cfg = config
    if len(frames) > cfg.max_frames:
        raise ChallengeError(f"{len(frames)} frames sent, at most {cfg.max_frames} accepted", code="too_many_frames")
    if frame_times is not None and len(frame_times) != len(frames):
        raise ChallengeError(f"{len(frame_times)} frame times for {len(frames)} frames", code="bad_frame_times")
    t0 = time.perf_counter()
    obs = [observe_frame(engine, f, cfg) for f in frames]
    t1 = time.perf_counter()
    out = summarize(engine, obs, passive=passive, use_passive=use_passive, config=cfg, frame_times=frame_times)
    out.timings_ms = {"observe": (t1 - t0) * 1e3, **out.timings_ms}
    return out
