"""API-key authentication, role checks and a per-key token-bucket rate limit."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from fastapi import Request

from .problems import ApiError


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str
    label: str
    scope: str | None = None        # a clerk key's store/operator: it sees only the sessions created under it

    @property
    def sees_all_sessions(self) -> bool:
        """Reviewers (and the other back-office roles) see every session; a clerk only its scope's."""
        return self.role != "clerk"

    def may_see(self, session_scope: str | None) -> bool:
        return self.sees_all_sessions or session_scope == self.scope


class RateLimiter:
    """Token bucket per API key (per worker process): ``per_minute`` sustained, the same as burst."""

    def __init__(self, per_minute: int):
        self.rate = per_minute / 60.0
        self.capacity = float(max(1, per_minute))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> float:
        """Take a token; return 0 if allowed, else the seconds until one is available."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate > 0 else 60.0


def _secret(request: Request) -> str | None:
    from .limits import secret_from_headers

    return secret_from_headers(request.headers)


def require(*roles: str):
    """FastAPI dependency: a valid, unrevoked key whose role is one of ``roles``."""

    def dep(request: Request) -> Principal:
        secret = _secret(request)
        if not secret:
            raise ApiError(401, "unauthorized", "an API key is required (Authorization: Bearer <key>)",
                           headers={"WWW-Authenticate": "Bearer"})
        state = request.app.state
        # looked up again even when the body guard (limits.py) checked it before the upload: a key revoked
        # while its upload streamed is refused
        key = state.store.lookup_key(secret)
        if key is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        p = Principal(key.id, key.role, key.label, key.scope)
        request.state.principal = p
        if key.role not in roles:
            raise ApiError(403, "forbidden", f"role {key.role!r} may not call this endpoint (needs {' or '.join(roles)})")
        wait = state.rate_limiter.check(key.id)
        if wait > 0:
            raise ApiError(429, "rate_limited", "rate limit for this API key exceeded",
                           headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        return p

    dep.roles = roles  # type: ignore[attr-defined]  (read by the role-matrix test and docs)
    return dep
