"""A performance: what one attacker (or applicant) can show, analysed once, replayed onto any
challenge's prompt schedule.

* rest frames, played forward and back (a hand never holds perfectly still, a person breathes);
* one or more recorded segments per action (frontal -> moved -> held -> back to frontal);
* optionally *lead* frames shown before the first move and after the last one (the face-swap and
  morph-bridge attacks show the victim's photo there).

:meth:`CachedPerformance.sequence` places each step's segment 0.3-0.9 s after its prompt (never
before the previous segment has ended) and fills the rest with rest frames; unsupported actions
are left out (the performer cannot do them and stays at rest).

:func:`generate` is the same for a sheet attacker rendered frame by frame over the whole capture
(continuous hand shake, fresh timing per move): the ``--full`` path.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .analysis import FramePool, Ref, analyze_pool
from .schedule import Move, Schedule, cue, draw_durations, draw_reaction, plan_moves


@dataclass
class CachedPerformance:
    species: str
    subject: str
    rest: list[Ref]
    segments: dict[str, list[list[Ref]]] = field(default_factory=dict)
    lead: list[Ref] = field(default_factory=list)
    lead_tail_s: float = 0.5
    info: dict = field(default_factory=dict)
    frames_analysed: int = 0
    analysis_ms: float = 0.0

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(a for a, v in self.segments.items() if v)

    def sequence(self, schedule: Schedule, rng: np.random.Generator) -> list[Ref]:
        n, fps = schedule.n_frames, schedule.fps
        spans: list[tuple[int, list[Ref]]] = []
        prev_end = 0
        for action, p in zip(schedule.steps, schedule.prompt_at):
            segs = self.segments.get(action)
            if not segs:
                continue
            seg = segs[int(rng.integers(len(segs)))]
            start = max(int(round((p + draw_reaction(rng)) * fps)), prev_end)
            spans.append((start, seg))
            prev_end = start + len(seg)
        out: list[Ref | None] = [None] * n
        for start, seg in spans:
            for k, ref in enumerate(seg):
                if start + k < n:
                    out[start + k] = ref
        first = spans[0][0] if spans else n
        last = spans[-1][0] + len(spans[-1][1]) + int(round(self.lead_tail_s * fps)) if spans else n
        rest_iter = _pingpong(self.rest, int(rng.integers(len(self.rest))))
        lead_iter = _pingpong(self.lead, int(rng.integers(len(self.lead)))) if self.lead else None
        for k in range(n):
            if out[k] is None:
                out[k] = next(lead_iter) if lead_iter is not None and (k < first - 2 or k >= last) else next(rest_iter)
        return out  # type: ignore[return-value]


def _pingpong(items: Sequence, start: int):
    if len(items) == 1:
        while True:
            yield items[0]
    i, step = start % len(items), 1
    while True:
        yield items[i]
        if not 0 <= i + step < len(items):
            step = -step
        i += step


def sheet_performance(perf, engine, passive, rng: np.random.Generator, subject: str,
                      rest_frames: int = 12, fps: float = 10.0) -> CachedPerformance:
    """Render a sheet attacker's rest and one performance of each calibrated action, observed once."""
    frames: list[np.ndarray] = []
    t = 0.0
    for _ in range(rest_frames):
        frames.append(perf.frame(None, 0.0, t))
        t += 1.0 / fps
    layout: dict[str, tuple[int, int]] = {}
    for action in perf.actions:
        m = Move(action, 0.0, *draw_durations(rng))
        k0 = len(frames)
        tt = 1.0 / fps
        while tt < m.end:
            frames.append(perf.frame(action, m.level(tt), t + tt))
            tt += 1.0 / fps
        t += m.end + 1.0
        layout[action] = (k0, len(frames) - k0)
    pool = analyze_pool(engine, frames, passive, name=f"{subject}/{perf.species}")
    return CachedPerformance(
        perf.species, subject, rest=[(pool, i) for i in range(rest_frames)],
        segments={a: [[(pool, i) for i in range(k0, k0 + n)]] for a, (k0, n) in layout.items()},
        info={"calibration": getattr(perf, "calibration", {})}, frames_analysed=len(frames), analysis_ms=pool.ms)


def generate(perf, steps: Sequence[str], prompt_at: Sequence[float], capture_s: float, fps: float,
             rng: np.random.Generator) -> tuple[list[np.ndarray], list[float]]:
    """Render a whole capture of a sheet attacker following the prompts: frames and their times
    (seconds from capture start). Actions the attacker could not calibrate are not performed."""
    sched = Schedule(tuple(steps), tuple(prompt_at), float(capture_s), fps)
    moves = [m for m in plan_moves(sched, rng) if m.action in perf.actions]
    times = sched.times
    return [perf.frame(*cue(moves, t), t) for t in times], times


def pool_of(frames: Sequence[np.ndarray], engine, passive, name: str) -> FramePool:
    return analyze_pool(engine, frames, passive, name=name)
