"""Liveness: is a live person in front of the camera, not a print or a screen?

Two layers (details and measured figures in docs/liveness.md):

**Passive PAD, one frame** -- a colour-LBP + logistic-regression presentation-attack detector
trained by ``training/train_pad.py`` and shipped as ``idmatch/data/liveness_pad.json``
(numpy/OpenCV inference, no learning framework at run time)::

    from idmatch.liveness import PassiveLiveness
    pad = PassiveLiveness()                      # build once, reuse (thread-safe)
    r = pad.score(face_analysis)                 # or pad.score("photo.jpg"), pad.score(bgr_array)
    r.score, r.threshold, r.is_live, r.model     # LivenessResult; r.to_dict() for JSON

**Active challenge, several frames** -- the server issues a random sequence of head movements
with a nonce and a deadline, keeps it keyed by nonce, and checks the frames the client sends::

    from idmatch.liveness import Challenge, check_challenge
    ch = Challenge.issue()                       # rng=seed for tests; length=3, ttl_s=60
    ch.to_dict()                                 # {"nonce", "steps", "instructions", "issued_at", "expires_at"}
    ...                                          # client captures frames (e.g. 5 per second)
    res = check_challenge(engine, ch, frames)    # frames: list of bytes | BGR ndarray | path
    res.passed, res.reasons, res.best_frame_index, res.best_frame, res.per_frame

Steps: ``turn_left``, ``turn_right`` (the subject's own left/right, unmirrored frames),
``look_up``, ``look_down``, ``move_closer``. Reason codes (stable strings, ``check.REASONS``):
``challenge_expired``, ``too_few_frames``, ``no_face``, ``multiple_faces``, ``identity_changed``,
``static_sequence``, ``challenge_not_followed``, ``spoof_suspected``, ``no_depth``, ``frame_cut``
and the rest of ``check.REASONS``. Nonces must be accepted once: that bookkeeping belongs to the
caller (the service), which should look the challenge up by nonce and never trust one echoed back
by the client.
"""
from __future__ import annotations

from .challenge import ACTIONS, Challenge, ChallengeError, challenge_entropy_bits, count_sequences
from .check import REASONS, ChallengeResult, check_challenge, follow_steps, identity_threshold, judge
from .config import ChallengeConfig
from .frames import AnalyzedFrames, FrameObservation, FrameReport, analyze_frames, observe_frame, summarize
from .passive import LivenessResult, PadModel, PassiveLiveness, shipped_model
from ..pose import HeadPose, estimate_pose

__all__ = [
    "ACTIONS", "AnalyzedFrames", "Challenge", "ChallengeConfig", "ChallengeError", "ChallengeResult", "FrameObservation",
    "FrameReport", "HeadPose",
    "LivenessResult", "PadModel", "PassiveLiveness", "REASONS", "challenge_entropy_bits", "check_challenge",
    "analyze_frames", "count_sequences", "estimate_pose", "follow_steps", "identity_threshold", "judge",
    "observe_frame", "shipped_model", "summarize",
]
