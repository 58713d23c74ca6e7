"""Analyse rendered or real frames once, judge many challenges assembled from them.

``analyze_frames`` (the library's own per-frame work: detection, pose, alignment, SFace, PAD) runs
once over a *pool* of frames: an attacker's rest frames and one performance of each action, or a
real clip. A challenge is then a list of pool indices in capture order; :func:`assemble` rebuilds
the :class:`idmatch.liveness.AnalyzedFrames` the library would have produced for exactly those
frames (the parts that depend on the whole sequence -- the most frontal reference, every frame's
similarity to it, the pitch baseline, the pixel motion -- are recomputed from the recorded
templates and aligned crops) and :func:`judge_challenge` applies the library's ``judge``.

The shortcut is only valid while ``AnalyzedFrames`` holds nothing else that depends on the
sequence; :func:`shortcut_supported` says so, and the runner's ``--full`` mode (whole sequences
through ``check_challenge``) measures the agreement.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)

KNOWN_FIELDS = {"images", "faces", "reports", "valid", "pitch0", "reference", "pad_threshold", "pixel_motion", "timings_ms"}


def shortcut_supported() -> tuple[bool, str]:
    from idmatch.liveness import AnalyzedFrames

    extra = {f.name for f in dataclasses.fields(AnalyzedFrames)} - KNOWN_FIELDS
    return (not extra, f"AnalyzedFrames has fields the shortcut does not rebuild: {sorted(extra)}" if extra else "")


class _RecordingRecognizer:
    def __init__(self, rec):
        self._r = rec
        self.batches: list[np.ndarray] = []

    def __getattr__(self, n):
        return getattr(self._r, n)

    def embed(self, x):
        e = self._r.embed(x)
        self.batches.append(np.atleast_2d(np.asarray(e, np.float32)))
        return e


class RecordingEngine:
    """A FaceEngine stand-in that keeps the aligned crops and templates ``analyze_frames`` makes."""

    def __init__(self, engine):
        self._e = engine
        self.recognizer = _RecordingRecognizer(engine.recognizer)
        self.aligned: list[np.ndarray] = []

    def __getattr__(self, n):
        return getattr(self._e, n)

    def align(self, img, face):
        a = self._e.align(img, face)
        self.aligned.append(a)
        return a


@dataclass
class FramePool:
    """Per-frame library analyses of a set of frames (no images kept, to bound memory)."""
    name: str
    reports: list = field(default_factory=list)      # FrameReport (index = position in the pool)
    faces: list = field(default_factory=list)        # DetectedFace | None
    emb: dict[int, np.ndarray] = field(default_factory=dict)
    grey: dict[int, np.ndarray] = field(default_factory=dict)
    pad_threshold: float | None = None
    ms: float = 0.0
    jpegs: list[bytes] | None = None                 # the frames themselves, when kept (whole-capture checks)

    def __len__(self) -> int:
        return len(self.reports)

    def pose(self, i: int):
        return self.reports[i].pose


def analyze_pool(engine, frames: Sequence[np.ndarray], passive, name: str = "", chunk: int = 120,
                 keep_frames: bool = False) -> FramePool:
    """Run the library's ``analyze_frames`` over ``frames`` (in chunks) and keep what assembling
    challenges needs (and the frames as JPEG q95 when ``keep_frames``)."""
    import time

    from idmatch.liveness import analyze_frames

    pool = FramePool(name)
    t0 = time.perf_counter()
    for c0 in range(0, len(frames), chunk):
        part = list(frames[c0:c0 + chunk])
        rec = RecordingEngine(engine)
        a = analyze_frames(rec, part, passive=passive, use_passive=passive is not None)
        embs = np.concatenate(rec.recognizer.batches) if rec.recognizer.batches else np.zeros((0, 128), np.float32)
        aligned = rec.aligned
        if len(embs) != len(a.valid) or len(aligned) != len(a.valid):  # the library embeds a subset
            if shortcut_supported()[0]:
                aligned = [engine.align(part[i], a.faces[i]) for i in a.valid]
                embs = np.atleast_2d(engine.recognizer.embed(np.stack(aligned))) if aligned else embs
            else:   # whole captures only: per-frame templates are not needed
                aligned, embs = None, None
        for j, i in enumerate(a.valid if embs is not None else []):
            pool.emb[c0 + i] = embs[j]
            pool.grey[c0 + i] = cv2.cvtColor(aligned[j], cv2.COLOR_BGR2GRAY)
        for r in a.reports:
            pool.reports.append(dataclasses.replace(r, index=c0 + r.index))
        pool.faces.extend(a.faces)
        pool.pad_threshold = a.pad_threshold
    pool.ms = (time.perf_counter() - t0) * 1e3
    if keep_frames:
        pool.jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for f in frames]
    return pool


def frames_of(seq: Sequence[Ref]) -> list[bytes]:
    """The frames of an assembled sequence (pools that kept them), for ``check_challenge``."""
    if any(p.jpegs is None for p, _ in seq):
        raise ValueError("a pool in this sequence did not keep its frames")
    return [p.jpegs[i] for p, i in seq]


Ref = tuple[FramePool, int]


def _frontalness(rep, pitch0: float) -> float:
    return abs(rep.pose.yaw) + abs(rep.pose.pitch - pitch0)


def assemble(seq: Sequence[Ref]):
    """The ``AnalyzedFrames`` the library would compute for the frames ``seq`` (pool, index)."""
    from idmatch.liveness import AnalyzedFrames
    from idmatch.match import cosine_score

    reports, faces = [], []
    for k, (pool, i) in enumerate(seq):
        reports.append(dataclasses.replace(pool.reports[i], index=k))
        faces.append(pool.faces[i])
    valid = [k for k, f in enumerate(faces) if f is not None]
    out = AnalyzedFrames(images=[None] * len(seq), faces=faces, reports=reports, valid=valid)
    thr = [p.pad_threshold for p, _ in seq if p.pad_threshold is not None]
    out.pad_threshold = thr[0] if thr else None
    if not valid:
        return out
    out.pitch0 = float(np.median([reports[k].pose.pitch for k in valid]))
    out.reference = min(valid, key=lambda k: _frontalness(reports[k], out.pitch0))
    rp, ri = seq[out.reference]
    ref = rp.emb[ri]
    for k in valid:
        p, i = seq[k]
        reports[k].similarity = cosine_score(ref, p.emb[i])
    p0, i0 = seq[valid[0]]
    g0 = p0.grey[i0].astype(np.float32)
    out.pixel_motion = max(float(np.mean(np.abs(seq[k][0].grey[seq[k][1]].astype(np.float32) - g0))) for k in valid)
    return out


def judge_challenge(challenge, analyzed, identity_thr: float, frame_times: Sequence[float], config=None):
    """The library's ``judge``, passing the capture times when it accepts them."""
    from idmatch.liveness import ChallengeConfig, judge

    cfg = config or ChallengeConfig()
    now = challenge.issued_at + 1.0
    try:
        return judge(challenge, analyzed, identity_thr, now=now, config=cfg, frame_times=list(frame_times))
    except TypeError:
        return judge(challenge, analyzed, identity_thr, now=now, config=cfg)


def check_full(engine, challenge, frames: Sequence[np.ndarray], frame_times: Sequence[float], passive, config=None):
    """Whole sequence through the library's ``check_challenge`` (the service's path)."""
    from idmatch.liveness import ChallengeConfig, check_challenge

    cfg = config or ChallengeConfig()
    now = challenge.issued_at + 1.0
    try:
        return check_challenge(engine, challenge, list(frames), now=now, passive=passive, config=cfg,
                               frame_times=list(frame_times))
    except TypeError:
        return check_challenge(engine, challenge, list(frames), now=now, passive=passive, config=cfg)
