"""The active challenge's settings (one frozen dataclass shared by the frame analysis and the judge)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChallengeConfig:
    yaw_deg: float = 12.0           # turn_left / turn_right: yaw change from the starting pose (real turns read 12-35°)
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
    # server-owned capture (used when the challenge carries a prompt schedule)
    work_side: int = 320            # frames are detected (pose, tracking) at most this many pixels on their longer side
    embed_every: int = 16           # identity: every n-th frame is embedded (and compared with its neighbours); 8 before issue 12
    pad_every: int = 16             # passive PAD on every n-th frame with a face (of the frames below, in long captures)
    pad_sample_every: int = 8       # PAD's frames: those embedding every n-th frame picks (n at most embed_every)
    max_jump: float = 1.0           # face centre moving more than its width in 0.1 s = a cut (timed captures; real: <= 0.55)
    min_fps: float = 8.0            # median frame interval must be at most 1/min_fps
    max_gap_s: float = 0.6          # no hole in the capture longer than this
    frozen_diff: float = 0.35       # consecutive frames closer than this (mean |diff|, 0-255, 64x48 grey) are repeats
    max_frozen_fraction: float = 0.15
    min_reaction_s: float = 0.2     # a step reached sooner than this after its prompt was anticipated
    max_step_s: float = 4.0         # ... and later than this after its prompt was not a reaction
    min_parallax: float | None = 0.03   # 3-D evidence of every turn (liveness/parallax.py); None: not checked
    # a turn's depth counts only within continuous footage (liveness/continuity.py): consecutive frames
    # whose appearance change (0-255 grey, motion-compensated) exceeds this are a cut. Bona fide only:
    # the worst pair over every consecutive pair of the 15 real clips in ../shared/data/video (1 570
    # pairs: fast turns, talking, camera zoom) is 14.8 (SadTalker KatieHill; hamilton 14.7, d12's fast
    # turn 7.2); x 1.5 for unseen cameras and movements = 22. None: not checked.
    max_cut_change: float | None = 22.0

