"""The prompt schedule of a challenge and how an attacker (or a cooperative applicant) follows it.

The server prompts step ``k`` at ``prompt_at[k]`` seconds after capture start and the capture
lasts ``capture_s``. Until :class:`idmatch.liveness.Challenge` carries its own schedule,
:func:`make_schedule` draws one the way the lead's design describes: first prompt 1.0-1.8 s,
the next ones 2.0-2.8 s apart, capture ending 2.5 s after the last prompt.

A performer reacts 0.3-0.9 s after each prompt, moves for 0.4-1.0 s (cosine ease), holds about
0.5 s and returns to frontal. A move never starts before the previous one has returned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

FPS = 10.0


@dataclass(frozen=True)
class Schedule:
    steps: tuple[str, ...]
    prompt_at: tuple[float, ...]
    capture_s: float
    fps: float = FPS

    @property
    def n_frames(self) -> int:
        return int(round(self.capture_s * self.fps))

    @property
    def times(self) -> list[float]:
        return [i / self.fps for i in range(self.n_frames)]


def make_schedule(steps: Sequence[str], rng: np.random.Generator, fps: float = FPS) -> Schedule:
    """A server-like randomised prompt schedule (see module docstring)."""
    t = float(rng.uniform(1.0, 1.8))
    at = []
    for _ in steps:
        at.append(round(t, 3))
        t += float(rng.uniform(2.0, 2.8))
    return Schedule(tuple(steps), tuple(at), round(at[-1] + 2.5, 3), fps)


def schedule_of(challenge, rng: np.random.Generator, fps: float = FPS) -> Schedule:
    """The challenge's own schedule when the library issues one (``prompt_at``/``capture_s``),
    else one drawn by :func:`make_schedule`."""
    at = getattr(challenge, "prompt_at", None)
    cap = getattr(challenge, "capture_s", None)
    if at and cap:
        return Schedule(tuple(challenge.steps), tuple(float(a) for a in at), float(cap), fps)
    return make_schedule(challenge.steps, rng, fps)


@dataclass(frozen=True)
class Move:
    """One performed step: starts ``start`` s after capture start, eases to full amplitude over
    ``rise``, holds ``hold``, eases back over ``fall``."""
    action: str
    start: float
    rise: float
    hold: float
    fall: float

    @property
    def end(self) -> float:
        return self.start + self.rise + self.hold + self.fall

    def level(self, t: float) -> float:
        x = t - self.start
        if x <= 0 or x >= self.rise + self.hold + self.fall:
            return 0.0
        if x < self.rise:
            return 0.5 - 0.5 * math.cos(math.pi * x / self.rise)
        x -= self.rise
        if x < self.hold:
            return 1.0
        x -= self.hold
        return 0.5 + 0.5 * math.cos(math.pi * x / self.fall)


def draw_durations(rng: np.random.Generator) -> tuple[float, float, float]:
    """rise, hold, fall in seconds."""
    return float(rng.uniform(0.4, 1.0)), float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.8))


def draw_reaction(rng: np.random.Generator) -> float:
    return float(rng.uniform(0.3, 0.9))


def plan_moves(schedule: Schedule, rng: np.random.Generator) -> list[Move]:
    moves: list[Move] = []
    prev_end = 0.0
    for action, p in zip(schedule.steps, schedule.prompt_at):
        start = max(p + draw_reaction(rng), prev_end + 0.1)
        m = Move(action, start, *draw_durations(rng))
        moves.append(m)
        prev_end = m.end
    return moves


def cue(moves: Sequence[Move], t: float) -> tuple[str | None, float]:
    """(action, level 0..1) being performed at time ``t``; (None, 0) at rest."""
    for m in moves:
        lv = m.level(t)
        if lv > 0:
            return m.action, lv
    return None, 0.0
