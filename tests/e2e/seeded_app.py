"""The service app for the browser tests, with its active challenges drawn from a fixed seed.

``uvicorn --app-dir tests/e2e seeded_app:app --factory``. Test-only: production challenges come
from the OS CSPRNG (``Challenge.issue()`` with no seed). When ``IDMATCH_CHALLENGE_SEED`` is set,
every session gets the steps ``Challenge.issue(rng=seed)`` draws — the movements the fake-camera
clip makes — with a fresh random nonce each time (nonces must never repeat).
"""
from __future__ import annotations

import os
import secrets


def _seeded_factory(seed: int):
    from idmatch.liveness import Challenge

    def issue(ttl_s: float | None = None) -> dict:
        kw = {"ttl_s": float(ttl_s)} if ttl_s is not None else {}
        d = Challenge.issue(rng=seed, **kw).to_dict()
        d["nonce"] = secrets.token_urlsafe(18)
        return d

    return issue


def app():
    from idmatch.service import app as app_module
    from idmatch.service import sessions

    seed = os.environ.get("IDMATCH_CHALLENGE_SEED")
    if seed is not None:
        sessions.issue_challenge = _seeded_factory(int(seed))
    return app_module.app_from_env()
