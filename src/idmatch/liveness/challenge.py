"""Random active-liveness challenges: a short sequence of head movements, a nonce and a deadline.

The server issues a :class:`Challenge`, keeps it (keyed by ``nonce``) and accepts each nonce
once; the client shows the steps, captures frames and sends them back with the nonce. Never
trust a challenge echoed back by the client: look it up by nonce.
"""
from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import IdmatchError

ACTIONS: tuple[str, ...] = ("turn_left", "turn_right", "look_up", "look_down", "move_closer")
DEFAULT_LENGTH = 3
DEFAULT_TTL_S = 60.0
MAX_TTL_S = 60.0
TURNS = ("turn_left", "turn_right")   # the steps whose evidence is 3-D (parallax): every challenge has one
# prompt schedule, seconds from the start of the capture: drawn by the server, so a recorded or
# pre-rendered sequence cannot know when each movement must begin
FIRST_PROMPT_S = (1.0, 2.0)
PROMPT_GAP_S = (2.2, 3.2)
TAIL_S = 2.6

INSTRUCTIONS = {
    "turn_left": "Turn your head to your left",
    "turn_right": "Turn your head to your right",
    "look_up": "Tilt your head up",
    "look_down": "Tilt your head down",
    "move_closer": "Move the phone closer to your face",
}


class ChallengeError(IdmatchError):
    code = "bad_challenge"
    http_status = 422


def count_sequences(length: int, actions: Sequence[str] = ACTIONS) -> int:
    """How many distinct sequences :meth:`Challenge.issue` can draw: no action twice in a row,
    ``move_closer`` at most once (a face cannot keep coming closer), at least one turn (the step
    with 3-D evidence) when the action set has turns."""
    def total(acts: Sequence[str]) -> int:
        return sum(_completions(length - 1, a, a == "move_closer", acts) for a in acts) if acts else 0
    no_turn = [a for a in actions if a not in TURNS]
    return total(actions) - (total(no_turn) if len(no_turn) < len(actions) else 0)


def challenge_entropy_bits(length: int = DEFAULT_LENGTH, actions: Sequence[str] = ACTIONS) -> float:
    return math.log2(count_sequences(length, actions))


@dataclass
class Challenge:
    nonce: str
    steps: list[str]
    issued_at: float
    expires_at: float
    meta: dict = field(default_factory=dict)
    prompt_at: list[float] | None = None   # seconds after the capture starts at which step k is prompted
    capture_s: float | None = None          # length of the capture the client must send

    @classmethod
    def issue(cls, rng: np.random.Generator | int | None = None, length: int = DEFAULT_LENGTH,
              ttl_s: float = DEFAULT_TTL_S, now: float | None = None, actions: Sequence[str] = ACTIONS
              ) -> "Challenge":
        """Draw a sequence uniformly among :func:`count_sequences` possibilities.

        ``rng``: a seed or Generator for reproducible tests; ``None`` uses the OS CSPRNG (production).
        The nonce always comes from :mod:`secrets` unless ``rng`` is given (then it is derived from it).
        """
        if length < 1 or length > 8:
            raise ChallengeError(f"challenge length must be 1..8, got {length}")
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ChallengeError(f"challenge ttl must be in (0, {MAX_TTL_S:g}] s, got {ttl_s}")
        now = time.time() if now is None else float(now)
        if rng is None:
            sysrand = secrets.SystemRandom()
            pick = lambda opts: opts[sysrand.randrange(len(opts))]  # noqa: E731
            nonce = secrets.token_urlsafe(16)
        else:
            g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
            pick = lambda opts: opts[int(g.integers(len(opts)))]  # noqa: E731
            nonce = g.bytes(16).hex()
        # uniform over valid sequences: sample step by step weighted by completions; redraw the
        # (few) sequences without a turn, which keeps the draw uniform over those with one
        need_turn = any(a in TURNS for a in actions)
        while True:
            steps: list[str] = []
            for i in range(length):
                opts = [a for a in actions if (not steps or a != steps[-1]) and not (a == "move_closer" and "move_closer" in steps)]
                weights = [_completions(length - i - 1, a, "move_closer" in steps or a == "move_closer", actions) for a in opts]
                expanded = [a for a, wt in zip(opts, weights) for _ in range(wt)]
                steps.append(pick(expanded))
            if not need_turn or any(a in TURNS for a in steps):
                break
        uniform = (lambda lo, hi: lo + (hi - lo) * sysrand.random()) if rng is None else (lambda lo, hi: float(g.uniform(lo, hi)))
        prompt_at = [round(uniform(*FIRST_PROMPT_S), 2)]
        for _ in steps[1:]:
            prompt_at.append(round(prompt_at[-1] + uniform(*PROMPT_GAP_S), 2))
        return cls(nonce=nonce, steps=steps, issued_at=now, expires_at=now + float(ttl_s), prompt_at=prompt_at,
                   capture_s=round(prompt_at[-1] + TAIL_S, 2))

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) > self.expires_at

    @property
    def instructions(self) -> list[str]:
        return [INSTRUCTIONS[s] for s in self.steps]

    def to_dict(self) -> dict:
        d = {"nonce": self.nonce, "steps": list(self.steps), "instructions": self.instructions,
             "issued_at": self.issued_at, "expires_at": self.expires_at, **({"meta": self.meta} if self.meta else {})}
        if self.prompt_at is not None:
            d.update(prompt_at=list(self.prompt_at), capture_s=self.capture_s)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Challenge":
        try:
            steps = [str(s) for s in d["steps"]]
            bad = [s for s in steps if s not in ACTIONS]
            if bad or not steps:
                raise ChallengeError(f"unknown challenge steps: {bad or 'none given'}; known: {list(ACTIONS)}")
            prompt_at = [float(t) for t in d["prompt_at"]] if d.get("prompt_at") is not None else None
            if prompt_at is not None and len(prompt_at) != len(steps):
                raise ChallengeError("prompt_at must give one time per step")
            return cls(nonce=str(d["nonce"]), steps=steps, issued_at=float(d.get("issued_at", 0.0)),
                       expires_at=float(d["expires_at"]), meta=dict(d.get("meta", {})), prompt_at=prompt_at,
                       capture_s=float(d["capture_s"]) if d.get("capture_s") is not None else None)
        except (KeyError, TypeError, ValueError) as e:
            raise ChallengeError(f"malformed challenge: {e}") from None


def _completions(remaining: int, last: str, closer_used: bool, actions: Sequence[str]) -> int:
    """Number of valid continuations of ``remaining`` steps after ``last``."""
    if remaining == 0:
        return 1
    total = 0
    for a in actions:
        if a == last or (a == "move_closer" and closer_used):
            continue
        total += _completions(remaining - 1, a, closer_used or a == "move_closer", actions)
    return total
