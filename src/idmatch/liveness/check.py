"""Check the frames a client captured against an issued :class:`~.challenge.Challenge`.

Frame by frame: exactly one face and a head pose. Over the capture: the same person throughout
(SFace templates of a subset of frames, each against the most frontal one and against its
neighbour); the frames arriving at the capture rate with no repeats; the head following the
requested steps in order, each as a reaction to its prompt (not before it, not long after),
with no other large movement before each step is done; every turn showing depth
(:mod:`.parallax`); passive PAD; the best frontal frame to match, and the turned frames the ID
portrait must match too. Reasons are stable codes (``REASONS``); a result passes only when there
are none. The per-frame analysis lives in :mod:`.frames`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import IdmatchError
from ..match import cosine_score
from ..pose import HeadPose
from .challenge import TURNS, Challenge, ChallengeError
from .config import ChallengeConfig
from .frames import AnalyzedFrames, FrameReport, analyze_frames, frontalness
from .continuity import changes, continuous_pieces
from .parallax import parallax

log = logging.getLogger(__name__)

REASONS = {
    "challenge_expired": "the challenge's deadline has passed; issue a new one",
    "too_few_frames": "not enough frames with a face to judge movement",
    "no_face": "too many frames without a face",
    "multiple_faces": "more than one face in a frame",
    "identity_changed": "the face is not the same person in every frame",
    "face_jump": "the face jumps between two frames: a cut, a swapped photo or a spliced stream",
    "static_sequence": "the frames do not move: a still image, not a live person",
    "frozen_frames": "the capture repeats identical frames: a frozen, looped or injected stream",
    "frame_timing": "the frames do not come at the capture rate the challenge asks (10 frames/s, no gaps, "
                    "the whole prompt schedule)",
    "reaction_timing": "a movement started before its prompt was shown or long after it: not a live reaction",
    "challenge_not_followed": "the head movements do not follow the requested steps in order",
    "no_depth": "the head turn shows no depth: the face moves like a flat or folded sheet, not a head",
    "frame_cut": "the head turn shows depth only across a cut between two different images (a swapped photo): "
                 "no continuous part of the turn moves like a head",
    "spoof_suspected": "the passive check scores the frames as a print or screen replay",
}
POSE_ACTIONS = ("turn_left", "turn_right", "look_up", "look_down")
_AXIS = {"turn_left": "yaw", "turn_right": "yaw", "look_up": "pitch", "look_down": "pitch"}


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
    parallax: list[float | None] = field(default_factory=list)   # per step: 3-D evidence of turns (None: not a turn)
    match_frames: list[int] = field(default_factory=list)         # frames the ID portrait must also match: turned ones
    cut_turns: list[int] = field(default_factory=list)            # steps whose turn window holds a cut (continuity.py)
    timings_ms: dict[str, float] = field(default_factory=dict)
    best_frame: np.ndarray | None = field(default=None, repr=False)  # BGR image of the best frame
    templates: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # frame index → SFace template

    def to_dict(self, per_frame: bool = True) -> dict:
        r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        d = {"passed": self.passed, "reasons": list(self.reasons),
             "messages": [REASONS.get(c, c) for c in self.reasons], "nonce": self.nonce, "steps": self.steps,
             "step_frames": self.step_frames, "best_frame_index": self.best_frame_index,
             "pad_score": r(self.pad_score), "pad_threshold": r(self.pad_threshold),
             "identity_threshold": r(self.identity_threshold), "min_similarity": r(self.min_similarity),
             "parallax": [r(p) for p in self.parallax], "match_frames": list(self.match_frames),
             "cut_turns": list(self.cut_turns),
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


def follow_steps(steps: Sequence[str], poses: Sequence[HeadPose | None], cfg: ChallengeConfig = ChallengeConfig(),
                 times: Sequence[float] | None = None, prompt_at: Sequence[float] | None = None
                 ) -> tuple[bool, list[int | None], bool]:
    """Walk the frames: each step must be reached after the previous one, and no other head
    direction may be reached (as the dominant one of the frame's yaw and pitch change, each over
    its threshold) while a step is pending (a replayed clip that wanders fails).

    With a prompt schedule (``times`` of each frame and ``prompt_at`` of each step, seconds from the
    capture start) movements are measured from the applicant's own start pose (the frames before
    the first prompt), and step k counts only when reached between ``prompt_at[k] + min_reaction_s``
    and ``prompt_at[k] + max_step_s``; reaching it (or another direction) before its prompt is an
    anticipation. Returns (followed, frame index at which each step was completed, timing_ok)."""
    idx = [i for i, p in enumerate(poses) if p is not None]
    done: list[int | None] = [None] * len(steps)
    if not idx:
        return False, done, True
    timed = times is not None and prompt_at is not None
    if timed:
        before = [i for i in idx if times[i] < prompt_at[0]] or idx[:max(1, cfg.baseline_frames)]
        yaw0 = float(np.median([poses[i].yaw for i in before]))
        pitch0 = float(np.median([poses[i].pitch for i in before]))
        size0 = float(np.median([poses[i].size for i in before]))
    else:
        # yaw is measured from the frontal pose itself (the estimator reads a frontal face as 0±5°);
        # pitch from the median over the frames; size from the first frames (move_closer)
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
        early = timed and times[i] < prompt_at[k] + cfg.min_reaction_s
        if timed and times[i] > prompt_at[k] + cfg.max_step_s:
            return False, done, True
        if _condition(steps[k], dyaw, dpitch, scale, cfg):
            if early:
                log.debug("frame %d: %s reached %.2f s after its prompt", i, steps[k], times[i] - prompt_at[k])
                return False, done, False
            done[k] = i
            k += 1
            continue
        allowed = {steps[k]} | ({steps[k - 1]} if k > 0 else set())
        # a conflicting direction counts only where it dominates: the 5-point pose reads a real
        # 20-25° turn as 10-12° of pitch too (measured on the bona fide clips), which is no nod
        dominant = "yaw" if abs(dyaw) / cfg.yaw_deg >= abs(dpitch) / cfg.pitch_deg else "pitch"
        for other in POSE_ACTIONS:
            if (other not in allowed and _AXIS[other] == dominant
                    and _condition(other, dyaw, dpitch, scale, cfg, cfg.conflict_factor)):
                log.debug("frame %d: %s reached while waiting for %s", i, other, steps[k])
                return False, done, True
    return k == len(steps), done, True


def identity_threshold(engine, cfg: ChallengeConfig) -> float:
    if cfg.identity_threshold is not None:
        return float(cfg.identity_threshold)
    try:
        # frames of one capture, one camera: the ordinary capture class on both sides (the calibration's
        # strictest pair is for tight or grey crops, and would read a real turned head as another person)
        return float(engine.calibration.threshold_for(cfg.identity_fmr, classes=("normal", "normal")))
    except IdmatchError:
        return cfg.fallback_identity_threshold


def _timing_ok(times: Sequence[float], challenge: Challenge, cfg: ChallengeConfig) -> bool:
    t = np.asarray(times, dtype=np.float64)
    if len(t) < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        return False
    dt = np.diff(t)
    if float(np.median(dt)) > 1.0 / cfg.min_fps or float(dt.max()) > cfg.max_gap_s:
        return False
    last_prompt = challenge.prompt_at[-1] if challenge.prompt_at else 0.0
    return bool(t[0] <= cfg.max_gap_s and t[-1] >= last_prompt + 1.0)


def _window_parallax(frames: AnalyzedFrames, first: int, last: int) -> float:
    """Parallax over frames first..last, the grid placed in the first of them with a face."""
    first = next((i for i in range(first, last + 1) if frames.faces[i] is not None), last)
    if first >= last:
        return 0.0
    face, k = frames.faces[first], frames.gray_scale[first]
    box = tuple(v * k for v in face.box)
    return parallax(frames.grays[first:last + 1], box, face.inter_eye_distance * k).parallax


def _continuous_parallax(frames: AnalyzedFrames, start: int, peak: int, cfg: ChallengeConfig,
                         cut_turns: dict[int, float], step: int) -> float:
    """The turn's parallax from ``start`` to ``peak``, measured only over continuous footage: the
    window is split at every consecutive pair whose appearance change (:mod:`.continuity`) exceeds
    ``cfg.max_cut_change`` and the best piece counts -- flow across a cut between two photos reads
    as depth -- but never more than the whole window's (a false cut must not make a sheet's turn
    pass). A turn split by cuts is noted in ``cut_turns`` (step -> parallax across the cuts)."""
    if cfg.max_cut_change is None:
        return _window_parallax(frames, start, peak)
    cuts = [(c.a, c.b) for c in changes(frames.observations, start, peak) if c.change > cfg.max_cut_change]
    if not cuts:
        return _window_parallax(frames, start, peak)
    whole = cut_turns[step] = _window_parallax(frames, start, peak)
    return min(whole, max(_window_parallax(frames, a, b) for a, b in continuous_pieces(start, peak, cuts)))


def _turn_evidence(frames: AnalyzedFrames, steps: Sequence[str], done: Sequence[int | None], yaw0: float,
                   cfg: ChallengeConfig = ChallengeConfig(), cut_turns: dict[int, float] | None = None
                   ) -> tuple[list[float | None], list[int]]:
    """Parallax of each completed turn (from the last near-start-pose frame before it to the frame
    where it peaked, over continuous footage only: see :func:`_continuous_parallax`) and, per turn,
    the embedded frame that turned furthest (for the match)."""
    cut_turns = {} if cut_turns is None else cut_turns
    reports = frames.reports
    par: list[float | None] = []
    turned: list[int] = []
    prev_end = 0
    for step, end in zip(steps, done):
        if end is None or step not in TURNS:
            par.append(None)
            prev_end = end if end is not None else prev_end
            continue
        start = end
        for i in range(end, prev_end - 1, -1):
            p = reports[i].pose
            if p is not None and abs(p.yaw - yaw0) <= 5.0:
                start = i
                break
        peak = end
        for i in range(end, min(end + 6, len(reports))):
            p = reports[i].pose
            if p is not None and abs(p.yaw - yaw0) > abs(reports[peak].pose.yaw - yaw0):
                peak = i
        if start >= end or frames.faces[start] is None:
            start = max((i for i in range(prev_end, end) if frames.faces[i] is not None), default=end)
        if start < end:
            par.append(_continuous_parallax(frames, start, peak, cfg, cut_turns, len(par)))
        else:
            par.append(0.0)
        window = [i for i in frames.embedded if start <= i <= peak + 3]
        if window:
            turned.append(max(window, key=lambda i: abs(reports[i].pose.yaw - yaw0)))
        prev_end = end
    return par, turned


def judge(challenge: Challenge, frames: AnalyzedFrames, identity_thr: float, now: float | None = None,
          config: ChallengeConfig = ChallengeConfig(), timestamps: Sequence[float] | None = None,
          frame_times: Sequence[float] | None = None) -> ChallengeResult:
    """Apply the challenge's rules to analysed frames; see :func:`check_challenge`."""
    cfg = config
    now = time.time() if now is None else float(now)
    res = ChallengeResult(passed=False, reasons=[], nonce=challenge.nonce, steps=list(challenge.steps),
                          per_frame=frames.reports, timings_ms=dict(frames.timings_ms))
    if challenge.expired(now) or (timestamps is not None and any(t > challenge.expires_at for t in timestamps)):
        res.reasons = ["challenge_expired"]
        return res
    times = frame_times if frame_times is not None else frames.frame_times
    scheduled = challenge.prompt_at is not None
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
    if scheduled and (times is None or not _timing_ok(times, challenge, cfg)):
        reasons.append("frame_timing")
    # identity: every embedded frame against the reference AND against its embedded neighbour, so
    # a morph or a swap cannot bridge from the frontal frames to the moving ones
    res.identity_threshold = float(identity_thr)
    emb = frames.embedded
    sims = [reports[i].similarity for i in emb]
    sims += [cosine_score(frames.templates[a], frames.templates[b]) for a, b in zip(emb[:-1], emb[1:])]
    res.min_similarity = float(min(sims))
    if res.min_similarity < identity_thr:
        reasons.append("identity_changed")
    if frames.max_jump > cfg.max_jump:
        reasons.append("face_jump")
    yaws = [reports[i].pose.yaw for i in valid]
    pitches = [reports[i].pose.pitch for i in valid]
    sizes = [reports[i].pose.size for i in valid]
    pose_range = max(max(yaws) - min(yaws), max(pitches) - min(pitches))
    if (pose_range < cfg.static_pose_deg and max(sizes) / max(min(sizes), 1e-6) < 1.05
            and frames.pixel_motion < cfg.static_pixel_diff):
        reasons.append("static_sequence")
    if len(reports) > 1 and frames.frozen_pairs / (len(reports) - 1) > cfg.max_frozen_fraction:
        reasons.append("frozen_frames")
    use_times = scheduled and times is not None
    followed, res.step_frames, timing_ok = follow_steps(
        challenge.steps, [r.pose for r in reports], cfg, times=times if use_times else None,
        prompt_at=challenge.prompt_at if use_times else None)
    if not timing_ok:
        reasons.append("reaction_timing")
    elif not followed:
        reasons.append("challenge_not_followed")
    if use_times:
        before = [i for i in valid if times[i] < challenge.prompt_at[0]] or valid[:max(1, cfg.baseline_frames)]
        yaw0 = float(np.median([reports[i].pose.yaw for i in before]))
    else:
        yaw0 = 0.0
    cut_turns: dict[int, float] = {}
    res.parallax, res.match_frames = _turn_evidence(frames, challenge.steps, res.step_frames, yaw0, cfg, cut_turns)
    res.cut_turns = sorted(cut_turns)
    if cfg.min_parallax is not None:
        flat = [k for k, p in enumerate(res.parallax) if p is not None and p < cfg.min_parallax]
        # depth that showed only across a cut: the cut is what the capture shows, not a flat sheet
        if any(k in cut_turns and cut_turns[k] >= cfg.min_parallax for k in flat):
            reasons.append("frame_cut")
        if any(not (k in cut_turns and cut_turns[k] >= cfg.min_parallax) for k in flat):
            reasons.append("no_depth")
    if frames.pad_threshold is not None:
        scored = [reports[i].pad_score for i in valid if reports[i].pad_score is not None]
        res.pad_score = float(np.median(scored))
        res.pad_threshold = frames.pad_threshold
        if res.pad_score < frames.pad_threshold:
            reasons.append("spoof_suspected")
    # best frame: the sharpest near-frontal embedded frame of the right person
    same = [i for i in emb if reports[i].similarity >= identity_thr] or emb
    frontal = [i for i in same if abs(reports[i].pose.yaw - yaw0) <= cfg.frontal_deg
               and abs(reports[i].pose.pitch - frames.pitch0) <= cfg.frontal_deg]
    best = (max(frontal, key=lambda i: reports[i].sharpness) if frontal
            else min(same, key=lambda i: frontalness(reports[i], frames.pitch0)))
    res.best_frame_index = best
    res.best_frame = frames.image(best)
    res.templates = {i: frames.templates[i] for i in [best, *res.match_frames]}
    res.reasons = reasons
    res.passed = not reasons
    return res


def check_challenge(engine, challenge: Challenge, frames: Sequence[bytes | np.ndarray | str],
                    now: float | None = None, passive=None, use_passive: bool = True,
                    config: ChallengeConfig = ChallengeConfig(), timestamps: Sequence[float] | None = None,
                    frame_times: Sequence[float] | None = None) -> ChallengeResult:
    """Judge ``frames`` (in capture order) against ``challenge``.

    ``engine``: a :class:`~idmatch.pipeline.FaceEngine`. ``passive``: a :class:`.PassiveLiveness`
    (the shipped one when None and ``use_passive``). ``now``: submission time (epoch seconds);
    an expired challenge is refused before any frame is decoded. ``timestamps``: optional capture
    times (epoch seconds); any after the deadline expires the challenge. ``frame_times``: seconds
    from the capture start of each frame -- required when the challenge carries a prompt schedule
    (every challenge :meth:`Challenge.issue` draws does): the frame rate, the gaps and the reaction
    to each prompt are judged on them. Raises :class:`IdmatchError` for undecodable frames or too
    many frames.
    """
    now = time.time() if now is None else float(now)
    if challenge.expired(now):
        return ChallengeResult(passed=False, reasons=["challenge_expired"], nonce=challenge.nonce,
                               steps=list(challenge.steps))
    t0 = time.perf_counter()
    analyzed = analyze_frames(engine, frames, passive=passive, use_passive=use_passive, config=config,
                              frame_times=frame_times)
    res = judge(challenge, analyzed, identity_threshold(engine, config), now=now, config=config, timestamps=timestamps)
    res.timings_ms["judge"] = (time.perf_counter() - t0) * 1e3 - sum(analyzed.timings_ms.values())
    res.timings_ms["total"] = (time.perf_counter() - t0) * 1e3
    res.timings_ms["frames"] = float(len(frames))
    return res
