"""API-key authentication, role checks and a per-key token-bucket rate limit."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

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


def _required_roles(dependant) -> tuple[str, ...] | None:
    """The roles of the :func:`require` guarding the route (or a dependency of it); None: no key needed."""
    for d in dependant.dependencies:
        roles = getattr(d.call, "roles", None)
        if roles is None:
            roles = _required_roles(d)
        if roles is not None:
            return tuple(roles)
    return None


def _requires_key(dependant) -> bool:
    """Whether the route (or a dependency of it) is guarded by :func:`require`."""
    return _required_roles(dependant) is not None


class KeyBeforeBodyRoute(APIRoute):
    """The route class of every /v1 router: a route that takes a body and needs a key checks the key
    *before* FastAPI parses the body. FastAPI reads and parses it (``request.form()`` / ``request.body()``)
    before it resolves the route's dependencies, ``require`` among them. The body guard (limits.py)
    authenticates every request that announces a body; one that announces none (no Content-Length, no
    Transfer-Encoding) still reached the parser unauthenticated -- ``Content-Type: multipart/form-data``
    without a boundary was answered 400 ``Missing boundary`` rather than 401 (issue 14). Role and rate
    limit stay with ``require``, which looks the key up again. A key of the wrong role is refused here
    too (403), so a clerk key sending an unparseable body to an admin route learns it may not call it,
    not what is wrong with the body."""

    def get_route_handler(self):
        handler = super().get_route_handler()
        roles = _required_roles(self.dependant)
        if self.body_field is None or roles is None:
            return handler                      # nothing is parsed before the dependencies run

        async def key_first(request: Request):
            from .limits import SCOPE_KEY
            from .problems import problem

            key = request.scope.get("state", {}).get(SCOPE_KEY)           # the body guard's look-up, if any
            if key is None:
                secret = _secret(request)
                detail = None
                if not secret:
                    detail = "an API key is required (Authorization: Bearer <key>)"
                else:
                    key = await run_in_threadpool(request.app.state.store.lookup_key, secret)
                    if key is None:
                        detail = "unknown or revoked API key"
                if detail is not None:
                    return problem(401, "unauthorized", detail, instance=request.url.path,
                                   headers={"WWW-Authenticate": "Bearer"})
            if key.role not in roles:
                return problem(403, "forbidden", f"role {key.role!r} may not call this endpoint "
                               f"(needs {' or '.join(roles)})", instance=request.url.path)
            return await handler(request)

        return key_first
