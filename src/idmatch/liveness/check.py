"""Check the frames a client captured against an issued :class:`~.challenge.Challenge`.

Frame by frame: exactly one face; the same person throughout (SFace template of every frame
against the most frontal one); head pose following the requested steps in order, with no other
large movement before each step is done; passive PAD; and the best frontal frame to match.
Reasons are stable codes (``REASONS``); a result passes only when there are none.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from ..errors import IdmatchError
from ..match import cosine_score
from ..models import DetectedFace
from .challenge import Challenge, ChallengeError
from .pose import HeadPose, estimate_pose

log = logging.getLogger(__name__)

REASONS = {
    "challenge_expired": "the challenge's deadline has passed; issue a new one",
    "too_few_frames": "not enough frames with a face to judge movement",
    "no_face": "too many frames without a face",
    "multiple_faces": "more than one face in a frame",
    "identity_changed": "the face is not the same person in every frame",
    "static_sequence": "the frames do not move: a still image, not a live person",
    "challenge_not_followed": "the head movements do not follow the requested steps in order",
    "spoof_suspected": "the passive check scores the frames as a print or screen replay",
}
POSE_ACTIONS = ("turn_left", "turn_right", "look_up", "look_down")


@dataclass(frozen=True)
class ChallengeConfig:
    yaw_deg: float = 15.0           # turn_left / turn_right: yaw change from the starting pose
    pitch_deg: float = 10.0         # look_up / look_down: pitch change
    closer_ratio: float = 1.2       # move_closer: face size growth
    conflict_factor: float = 1.0    # another direction beyond factor x its threshold before a step = not followed
    baseline_frames: int = 3        # starting face size: median of the first frames with a face
    min_frames: int = 3
    max_frames: int = 150
    max_missing_fraction: float = 0.2
    identity_threshold: float | None = None  # cosine; None: the calibration's threshold at identity_fmr
    identity_fmr: float = 1e-3
    fallback_identity_threshold: float = 0.30  # when no calibration is available
    static_pose_deg: float = 2.0    # pose range below this ...
    static_pixel_diff: float = 1.5  # ... and aligned crops differing less than this (0-255) = static
    frontal_deg: float = 10.0
    mirrored: bool = False          # frames are a mirrored (selfie-preview) image


@dataclass
class FrameReport:
    index: int
    faces: int
    pose: HeadPose | None = None
    similarity: float | None = None
    pad_score: float | None = None
    sharpness: float | None = None

    def to_dict(self) -> dict:
        r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        return {"index": self.index, "faces": self.faces, "pose": self.pose.to_dict() if self.pose else None,
                "similarity": r(self.similarity), "pad_score": r(self.pad_score), "sharpness": r(self.sharpness)}


@dataclass
class ChallengeResult:
    passed: bool
    reasons: list[str]
    nonce: str
    steps: list[str]
    step_frames: list[int | None] = field(default_factory=list)
    best_frame_index: int | None = None
    per_frame: list[FrameReport] = field(default_factory=list)
    pad_score: float | None = None
    pad_threshold: float | None = None
    identity_threshold: float | None = None
    min_similarity: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    best_frame: np.ndarray | None = field(default=None, repr=False)  # BGR image of the best frame

    def to_dict(self, per_frame: bool = True) -> dict:
        r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        d = {"passed": self.passed, "reasons": list(self.reasons),
             "messages": [REASONS.get(c, c) for c in self.reasons], "nonce": self.nonce, "steps": self.steps,
             "step_frames": self.step_frames, "best_frame_index": self.best_frame_index,
             "pad_score": r(self.pad_score), "pad_threshold": r(self.pad_threshold),
             "identity_threshold": r(self.identity_threshold), "min_similarity": r(self.min_similarity),
             "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()}}
        if per_frame:
            d["per_frame"] = [f.to_dict() for f in self.per_frame]
        return d


def _condition(action: str, dyaw: float, dpitch: float, scale: float, cfg: ChallengeConfig, factor: float = 1.0) -> bool:
    if action == "turn_left":
        return dyaw >= factor * cfg.yaw_deg
    if action == "turn_right":
        return dyaw <= -factor * cfg.yaw_deg
    if action == "look_up":
        return dpitch >= factor * cfg.pitch_deg
    if action == "look_down":
        return dpitch <= -factor * cfg.pitch_deg
    if action == "move_closer":
        return scale >= cfg.closer_ratio
    raise ChallengeError(f"unknown challenge step {action!r}")


def follow_steps(steps: Sequence[str], poses: Sequence[HeadPose | None], cfg: ChallengeConfig = ChallengeConfig()
                 ) -> tuple[bool, list[int | None]]:
    """Walk the frames: each step must be reached after the previous one, and no other head
    direction may be reached while a step is pending (a replayed clip that wanders fails).
    Returns (followed, frame index at which each step was completed)."""
    idx = [i for i, p in enumerate(poses) if p is not None]
    done: list[int | None] = [None] * len(steps)
    if not idx:
        return False, done
    # yaw is measured from the frontal pose itself (the estimator reads a frontal face as 0±5°);
    # pitch from the median over the frames (people hold their head level differently; the
    # estimator's neutral varies by a few degrees); size from the first frames (move_closer)
    base = idx[:max(1, cfg.baseline_frames)]
    yaw0 = 0.0
    pitch0 = float(np.median([poses[i].pitch for i in idx]))
    size0 = float(np.median([poses[i].size for i in base]))
    k = 0
    for i in idx:
        if k >= len(steps):
            break
        p = poses[i]
        dyaw, dpitch, scale = p.yaw - yaw0, p.pitch - pitch0, p.size / max(size0, 1e-6)
        if _condition(steps[k], dyaw, dpitch, scale, cfg):
            done[k] = i
            k += 1
            continue
        allowed = {steps[k]} | ({steps[k - 1]} if k > 0 else set())
        for other in POSE_ACTIONS:
            if other not in allowed and _condition(other, dyaw, dpitch, scale, cfg, cfg.conflict_factor):
                log.debug("frame %d: %s reached while waiting for %s", i, other, steps[k])
                return False, done
    return k == len(steps), done


def _sharpness(aligned: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


@dataclass
class AnalyzedFrames:
    """Per-frame work that does not depend on the challenge: faces, poses, templates, PAD scores.
    Judge it against any number of challenges with :func:`judge` (tests and benchmarks do)."""

    images: list[np.ndarray]
    faces: list[DetectedFace | None]
    reports: list[FrameReport]
    valid: list[int]
    pitch0: float = 0.0
    reference: int | None = None
    pad_threshold: float | None = None
    pixel_motion: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)


def analyze_frames(engine, frames: Sequence[bytes | np.ndarray | str], passive=None, use_passive: bool = True,
                   config: ChallengeConfig = ChallengeConfig()) -> AnalyzedFrames:
    """Decode, detect, pose, embed (vs the most frontal frame) and PAD-score every frame."""
    from ..detect import choose_face, find_faces

    cfg = config
    if len(frames) > cfg.max_frames:
        raise ChallengeError(f"{len(frames)} frames sent, at most {cfg.max_frames} accepted", code="too_many_frames")
    t0 = time.perf_counter()
    images = [f if isinstance(f, np.ndarray) else engine.decode(f) for f in frames]
    t1 = time.perf_counter()
    reports: list[FrameReport] = []
    faces: list[DetectedFace | None] = []
    aligned: list[np.ndarray | None] = []
    for i, img in enumerate(images):
        found, _ = find_faces(img, engine.detector, engine.config.detection)
        rep = FrameReport(index=i, faces=len(found))
        face = None
        if len(found) == 1:
            face = choose_face(found, img.shape, engine.config.detection)
            rep.pose = estimate_pose(face.landmarks, mirrored=cfg.mirrored)
        faces.append(face)
        aligned.append(engine.align(img, face) if face is not None else None)
        reports.append(rep)
    t2 = time.perf_counter()
    valid = [i for i, f in enumerate(faces) if f is not None]
    out = AnalyzedFrames(images=images, faces=faces, reports=reports, valid=valid)
    out.timings_ms = {"decode": (t1 - t0) * 1e3, "detect_align": (t2 - t1) * 1e3}
    if not valid:
        return out
    for i in valid:
        reports[i].sharpness = _sharpness(aligned[i])
    out.pitch0 = float(np.median([reports[i].pose.pitch for i in valid]))
    out.reference = min(valid, key=lambda i: _frontalness(reports[i], out.pitch0))
    # one batch, no flip augmentation: consistency needs no extra accuracy, and it halves the cost
    embs = np.atleast_2d(engine.recognizer.embed(np.stack([aligned[i] for i in valid])))
    ref_t = embs[valid.index(out.reference)]
    for i, e in zip(valid, embs):
        reports[i].similarity = cosine_score(ref_t, e)
    g0 = cv2.cvtColor(aligned[valid[0]], cv2.COLOR_BGR2GRAY).astype(np.float32)
    out.pixel_motion = max(float(np.mean(np.abs(cv2.cvtColor(aligned[i], cv2.COLOR_BGR2GRAY).astype(np.float32) - g0)))
                           for i in valid)
    t3 = time.perf_counter()
    if use_passive:
        if passive is None:
            from .passive import PassiveLiveness

            passive = PassiveLiveness(engine=engine)
        for i in valid:
            reports[i].pad_score = passive.score_face(images[i], faces[i]).score
        out.pad_threshold = passive.threshold
    t4 = time.perf_counter()
    out.timings_ms.update({"embed": (t3 - t2) * 1e3, "pad": (t4 - t3) * 1e3})
    return out


def _frontalness(rep: FrameReport, pitch0: float) -> float:
    return abs(rep.pose.yaw) + abs(rep.pose.pitch - pitch0)


def identity_threshold(engine, cfg: ChallengeConfig) -> float:
    if cfg.identity_threshold is not None:
        return float(cfg.identity_threshold)
    try:
        return float(engine.calibration.threshold_for(cfg.identity_fmr))
    except IdmatchError:
        return cfg.fallback_identity_threshold


def judge(challenge: Challenge, frames: AnalyzedFrames, identity_thr: float, now: float | None = None,
          config: ChallengeConfig = ChallengeConfig(), timestamps: Sequence[float] | None = None) -> ChallengeResult:
    """Apply the challenge's rules to analysed frames; see :func:`check_challenge`."""
    cfg = config
    now = time.time() if now is None else float(now)
    res = ChallengeResult(passed=False, reasons=[], nonce=challenge.nonce, steps=list(challenge.steps),
                          per_frame=frames.reports, timings_ms=dict(frames.timings_ms))
    if challenge.expired(now) or (timestamps is not None and any(t > challenge.expires_at for t in timestamps)):
        res.reasons = ["challenge_expired"]
        return res
    reports, valid = frames.reports, frames.valid
    reasons: list[str] = []
    if any(r.faces > 1 for r in reports):
        reasons.append("multiple_faces")
    missing = sum(1 for r in reports if r.faces == 0)
    if reports and missing / len(reports) > cfg.max_missing_fraction:
        reasons.append("no_face")
    if len(valid) < cfg.min_frames:
        reasons.append("too_few_frames")
        res.reasons = reasons
        return res
    res.identity_threshold = float(identity_thr)
    res.min_similarity = float(min(reports[i].similarity for i in valid))
    if res.min_similarity < identity_thr:
        reasons.append("identity_changed")
    yaws = [reports[i].pose.yaw for i in valid]
    pitches = [reports[i].pose.pitch for i in valid]
    sizes = [reports[i].pose.size for i in valid]
    pose_range = max(max(yaws) - min(yaws), max(pitches) - min(pitches))
    if (pose_range < cfg.static_pose_deg and max(sizes) / max(min(sizes), 1e-6) < 1.05
            and frames.pixel_motion < cfg.static_pixel_diff):
        reasons.append("static_sequence")
    followed, res.step_frames = follow_steps(challenge.steps, [r.pose for r in reports], cfg)
    if not followed:
        reasons.append("challenge_not_followed")
    if frames.pad_threshold is not None:
        res.pad_score = float(np.median([reports[i].pad_score for i in valid]))
        res.pad_threshold = frames.pad_threshold
        if res.pad_score < frames.pad_threshold:
            reasons.append("spoof_suspected")
    # best frame: the sharpest near-frontal frame of the right person
    same = [i for i in valid if reports[i].similarity >= identity_thr] or valid
    frontal = [i for i in same if abs(reports[i].pose.yaw) <= cfg.frontal_deg
               and abs(reports[i].pose.pitch - frames.pitch0) <= cfg.frontal_deg]
    best = (max(frontal, key=lambda i: reports[i].sharpness) if frontal
            else min(same, key=lambda i: _frontalness(reports[i], frames.pitch0)))
    res.best_frame_index = best
    res.best_frame = frames.images[best]
    res.reasons = reasons
    res.passed = not reasons
    return res


def check_challenge(engine, challenge: Challenge, frames: Sequence[bytes | np.ndarray | str],
                    now: float | None = None, passive=None, use_passive: bool = True,
                    config: ChallengeConfig = ChallengeConfig(), timestamps: Sequence[float] | None = None
                    ) -> ChallengeResult:
    """Judge ``frames`` (in capture order) against ``challenge``.

    ``engine``: a :class:`~idmatch.pipeline.FaceEngine`. ``passive``: a :class:`.PassiveLiveness`
    (the shipped one when None and ``use_passive``). ``now``: submission time (epoch seconds);
    an expired challenge is refused before any frame is decoded. ``timestamps``: optional capture
    times (epoch seconds); any after the deadline expires the challenge. Raises
    :class:`IdmatchError` for undecodable frames or too many frames.
    """
    now = time.time() if now is None else float(now)
    if challenge.expired(now):
        return ChallengeResult(passed=False, reasons=["challenge_expired"], nonce=challenge.nonce,
                               steps=list(challenge.steps))
    t0 = time.perf_counter()
    analyzed = analyze_frames(engine, frames, passive=passive, use_passive=use_passive, config=config)
    res = judge(challenge, analyzed, identity_threshold(engine, config), now=now, config=config, timestamps=timestamps)
    res.timings_ms["total"] = (time.perf_counter() - t0) * 1e3
    res.timings_ms["frames"] = float(len(frames))
    return res
