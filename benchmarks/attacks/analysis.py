"""Observe frames once, judge many challenges assembled from them -- with the library's own code.

The library analyses a capture in two stages (``idmatch.liveness.frames``): ``observe_frame`` (what
one frame shows on its own: work-size decode, faces, pose) and ``summarize`` (what depends on the
whole capture: which frames are embedded, the reference, similarities, repeats, jumps, PAD). A
*pool* is an attacker's rest frames and one performance of each action (or a real clip), encoded
as the terminal sends them (640x480 JPEG q80) and observed once. A challenge is a list of pool
indices in capture order: :func:`assemble` hands those observations to the library's
``summarize`` and :func:`judge_challenge` to its ``judge`` -- exactly what ``check_challenge``
does with the same frames; only the per-frame work (and the templates and PAD scores the library
memoises on each observation) is shared between challenges.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)

JPEG_QUALITY = 80      # what the terminal sends


@dataclass
class FramePool:
    """Frames (JPEG bytes) and the library's observation of each."""
    name: str
    obs: list = field(default_factory=list)          # idmatch.liveness.FrameObservation
    jpegs: list[bytes] = field(default_factory=list)
    ms: float = 0.0

    def __len__(self) -> int:
        return len(self.obs)

    def pose(self, i: int):
        return self.obs[i].pose

    @property
    def faces(self) -> list:
        return [o.face for o in self.obs]

    def template(self, engine, i: int) -> np.ndarray:
        """Frame ``i``'s SFace template as the library embeds it (memoised on the observation)."""
        from idmatch.liveness.frames import _embed

        _embed(engine, [self.obs[i]])
        return self.obs[i].template


def encode(frame: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()


def analyze_pool(engine, frames: Sequence[np.ndarray | bytes], passive=None, name: str = "") -> FramePool:
    """Encode ``frames`` as the terminal does and observe each with the library's ``observe_frame``."""
    from idmatch.liveness import ChallengeConfig, observe_frame

    cfg = ChallengeConfig()
    t0 = time.perf_counter()
    jpegs = [f if isinstance(f, bytes) else encode(f) for f in frames]
    pool = FramePool(name, obs=[observe_frame(engine, j, cfg) for j in jpegs], jpegs=jpegs)
    pool.ms = (time.perf_counter() - t0) * 1e3
    return pool


Ref = tuple[FramePool, int]


def frames_of(seq: Sequence[Ref]) -> list[bytes]:
    """The frames (JPEG bytes) of an assembled sequence, for ``check_challenge``."""
    return [p.jpegs[i] for p, i in seq]


def assemble(engine, passive, seq: Sequence[Ref], frame_times: Sequence[float], config=None):
    """The library's ``summarize`` over the observations of ``seq`` (pool, index)."""
    from idmatch.liveness import ChallengeConfig, summarize

    return summarize(engine, [p.obs[i] for p, i in seq], passive=passive, use_passive=passive is not None,
                     config=config or ChallengeConfig(), frame_times=list(frame_times))


def judge_challenge(challenge, analyzed, identity_thr: float, frame_times: Sequence[float], config=None):
    """The library's ``judge`` (submitted 1 s after the challenge was issued)."""
    from idmatch.liveness import ChallengeConfig, judge

    return judge(challenge, analyzed, identity_thr, now=challenge.issued_at + 1.0, config=config or ChallengeConfig(),
                 frame_times=list(frame_times))


def check_full(engine, challenge, frames: Sequence[np.ndarray | bytes], frame_times: Sequence[float], passive,
               config=None):
    """Whole capture through the library's ``check_challenge`` (the service's path), as JPEG bytes."""
    from idmatch.liveness import ChallengeConfig, check_challenge

    jpegs = [f if isinstance(f, bytes) else encode(f) for f in frames]
    return check_challenge(engine, challenge, jpegs, now=challenge.issued_at + 1.0, passive=passive,
                           use_passive=passive is not None, config=config or ChallengeConfig(),
                           frame_times=list(frame_times))
