"""Optional stages from sibling packages, imported lazily so the service runs without them.

Hooks a package can provide (all optional; the first one found wins):

* ``idmatch.quality.service_assess(analysis: FaceAnalysis, role: str) -> dict`` with keys
  ``passed`` (bool), ``codes`` (list[str]), optional ``score`` and ``details``.
* ``idmatch.liveness.service_score(analysis: FaceAnalysis) -> dict`` with ``score``, ``threshold``,
  ``is_live``, optional ``model``; otherwise ``idmatch.liveness.passive.PassiveLiveness`` is used.
* ``idmatch.liveness.Challenge.issue(ttl_s=...)`` and ``idmatch.liveness.check_challenge(engine,
  challenge, frames, use_passive=...)`` for active (head-movement) challenges.
* ``idmatch.fraud.service_stages(store) -> list[Stage]`` (see :mod:`idmatch.service.decision`);
  replaces the built-in lines-per-identity stage when present.
"""
from __future__ import annotations

import importlib
import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)
_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
    except Exception:  # a sibling package mid-development must not take the service down
        log.warning("optional module %s failed to import", name, exc_info=True)
        return None


def _cached(key: str, build: Callable[[], Any]) -> Any:
    with _lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


def quality_assessor() -> Callable | None:
    def build():
        mod = _module("idmatch.quality")
        fn = getattr(mod, "service_assess", None) if mod else None
        return fn if callable(fn) else None
    return _cached("quality", build)


def liveness_scorer(engine) -> Callable | None:
    def build():
        mod = _module("idmatch.liveness")
        fn = getattr(mod, "service_score", None) if mod else None
        if callable(fn):
            return fn
        passive = _module("idmatch.liveness.passive")
        cls = getattr(passive, "PassiveLiveness", None) if passive else None
        if cls is None:
            return None
        try:
            pl = cls(engine=engine)
        except Exception as exc:  # e.g. shipped PAD model not generated yet
            log.warning("passive liveness unavailable: %s", exc)
            return None

        def score(analysis) -> dict:
            r = pl.score(analysis)
            return {"score": float(r.score), "threshold": float(r.threshold), "is_live": bool(r.is_live), "model": getattr(r, "model", "")}
        return score
    return _cached("liveness", build)


def challenge_factory() -> Callable[[float], dict] | None:
    """``issue(ttl_s) -> {nonce, steps, instructions, issued_at, expires_at}`` or None."""
    def build():
        mod = _module("idmatch.liveness")
        cls = getattr(mod, "Challenge", None) if mod else None
        if cls is None or not hasattr(cls, "issue"):
            return None
        return lambda ttl_s: cls.issue(ttl_s=ttl_s).to_dict()
    return _cached("challenge", build)


def challenge_checker() -> Callable | None:
    """``check(engine, challenge_dict, images, use_passive) -> dict`` (ChallengeResult.to_dict + best frame) or None."""
    def build():
        mod = _module("idmatch.liveness")
        cls = getattr(mod, "Challenge", None) if mod else None
        fn = getattr(mod, "check_challenge", None) if mod else None
        if cls is None or not callable(fn):
            return None

        def check(engine, challenge: dict, images: list, use_passive: bool) -> dict:
            res = fn(engine, cls.from_dict(challenge), images, use_passive=use_passive)
            d = res.to_dict(per_frame=False)
            d["best_frame_index"] = res.best_frame_index
            return d
        return check
    return _cached("challenge_check", build)


def fraud_stages(store) -> list | None:
    mod = _module("idmatch.fraud")
    fn = getattr(mod, "service_stages", None) if mod else None
    if not callable(fn):
        return None
    try:
        return list(fn(store))
    except Exception:
        log.warning("idmatch.fraud.service_stages failed; using built-in stages", exc_info=True)
        return None


def reset() -> None:
    with _lock:
        _cache.clear()
