"""The service app for the browser tests: challenges the fake camera can follow, and a relaxed reaction window.

``uvicorn --app-dir tests/e2e seeded_app:app --factory``. Test-only; production challenges come from
the OS CSPRNG (``Challenge.issue()``) and are judged with the shipped :class:`ChallengeConfig`.

* **Challenges** (``IDMATCH_E2E_CHALLENGES=clip``): every session gets the steps and the prompt schedule
  that the camera clip performs (``CLIP_STEPS`` / ``CLIP_PROMPT_AT`` / ``CLIP_CAPTURE_S``, see
  ``media.py``: the LivePortrait clip d12 turns to the subject's left at 1.4 s, right at 3.1 s, left at
  6.6 s), each with a fresh random nonce and the service's deadline. A test may queue other steps for
  the next challenges through ``POST /__e2e__/next-challenges`` (``{"steps": [["look_up", ...], ...]}``):
  that is how a first attempt is made to fail (the clip never looks up) before a passing retry.
* **Reaction window**: a fake camera plays a clip; it cannot react to the prompts. The browser tests
  start each capture on the clip's first frame (the clip carries its frame number in a corner), so the
  clip's movements fall 0.5 s after their prompts, give or take the start latency of a loaded machine.
  The server therefore accepts a step reached from ``E2E_MIN_REACTION_S`` before its prompt up to
  ``E2E_MAX_STEP_S`` after it (shipped: 0.2 s after, at most 4 s). Nothing else of the check is relaxed:
  frame rate, gaps, frozen frames, order, conflicts, depth, identity and PAD are judged as shipped. The
  timing rules themselves are tested on real clips in ``tests/test_liveness_active.py``.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import threading
import time

CLIP_STEPS = ["turn_left", "turn_right", "turn_left"]
CLIP_PROMPT_AT = [0.9, 2.6, 6.0]
CLIP_CAPTURE_S = 8.6                      # the last prompt + 2.6 s, as Challenge.issue draws it
E2E_MIN_REACTION_S = -1.0
E2E_MAX_STEP_S = 4.5

_queue: list[list[str]] = []
_lock = threading.Lock()


def _issue(ttl_s: float | None = None) -> dict:
    from idmatch.liveness import Challenge

    with _lock:
        steps = _queue.pop(0) if _queue else list(CLIP_STEPS)
    prompts = CLIP_PROMPT_AT[:len(steps)] + [CLIP_PROMPT_AT[-1] + 2.5 * (i + 1) for i in range(len(steps) - len(CLIP_PROMPT_AT))]
    now = time.time()
    ttl = float(ttl_s) if ttl_s is not None else 60.0
    ch = Challenge(nonce=secrets.token_urlsafe(18), steps=list(steps), issued_at=now, expires_at=now + ttl,
                   prompt_at=prompts, capture_s=round(max(CLIP_CAPTURE_S, prompts[-1] + 2.6), 2))
    return ch.to_dict()


def _relax_reaction_window() -> None:
    """Wrap ``idmatch.liveness.check_challenge`` (and ``judge``) so that only the reaction window differs."""
    import idmatch.liveness as lv
    from idmatch.liveness import check as ck

    def relaxed(cfg):
        cfg = cfg if cfg is not None else lv.ChallengeConfig()
        return dataclasses.replace(cfg, min_reaction_s=E2E_MIN_REACTION_S, max_step_s=E2E_MAX_STEP_S)

    def wrap(fn):
        def inner(*args, **kw):
            kw["config"] = relaxed(kw.get("config"))
            return fn(*args, **kw)
        inner.__wrapped__ = fn
        return inner

    for mod in (lv, ck):
        for name in ("check_challenge", "judge"):
            fn = getattr(mod, name, None)
            if callable(fn) and not hasattr(fn, "__wrapped__"):
                setattr(mod, name, wrap(fn))


def app():
    from fastapi import Body

    clip = os.environ.get("IDMATCH_E2E_CHALLENGES", "clip") == "clip"
    if clip:
        _relax_reaction_window()      # before the service imports anything from the liveness module
    from idmatch.service import app as app_module
    from idmatch.service import sessions

    if clip:
        sessions.issue_challenge = _issue          # where the service issues its challenges ("tests seed it here")
    application = app_module.app_from_env()

    @application.post("/__e2e__/next-challenges", include_in_schema=False)
    def next_challenges(body: dict = Body(...)) -> dict:
        with _lock:
            _queue.extend([list(map(str, s)) for s in body.get("steps", [])])
            return {"queued": len(_queue)}

    return application
