"""Lines per identity: how many active SIM lines one identity holds with one operator.

The service keys identities with an HMAC of the document number (it owns the key); this module
only ever sees that opaque ``identity_key``. Storage is a small protocol with two implementations:
an in-memory one (tests, library use) and a SQLAlchemy one (SQLite or PostgreSQL, its own table
``fraud_line``) in :mod:`idmatch.fraud.sql`.

Rule: a new registration for an identity that already holds ``limit`` active lines with the operator
is rejected (:class:`LineLimitError`, code ``line_limit_reached``); deactivating a line frees a slot.
"""
from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import IdmatchError

DEFAULT_LINE_LIMIT = 5


class LineLimitError(IdmatchError):
    """The identity already holds the operator's maximum number of active lines."""

    code = "line_limit_reached"
    http_status = 409


class LineNotFoundError(IdmatchError):
    code = "line_not_found"
    http_status = 404


class LineConflictError(IdmatchError):
    """A line id that is already active (under this or another identity)."""

    code = "line_already_active"
    http_status = 409


@dataclass(frozen=True)
class LinePolicy:
    limit: int = DEFAULT_LINE_LIMIT

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise IdmatchError(f"line limit must be >= 1, got {self.limit}", code="config_error")


@dataclass(frozen=True)
class Line:
    operator: str
    line_id: str                 # the operator's line reference (e.g. MSISDN hash or contract id)
    identity_key: str
    registration_ref: str | None
    activated_at: _dt.datetime
    deactivated_at: _dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


@dataclass(frozen=True)
class LineCheck:
    """Outcome of the rule for one prospective registration. ``reason`` is None when allowed."""

    allowed: bool
    active_lines: int
    limit: int
    reason: str | None = None

    def to_dict(self) -> dict:
        return {"allowed": self.allowed, "active_lines": self.active_lines, "limit": self.limit, "reason": self.reason}

    def raise_if_denied(self) -> None:
        if not self.allowed:
            raise LineLimitError(
                f"this identity already holds {self.active_lines} active line(s) with the operator (limit {self.limit})",
                details={"active_lines": self.active_lines, "limit": self.limit},
            )


@runtime_checkable
class LineStore(Protocol):
    """Storage the rule needs. ``operator`` scopes everything: limits are per operator."""

    def count_active(self, operator: str, identity_key: str) -> int: ...

    def activate(self, operator: str, identity_key: str, line_id: str, registration_ref: str | None = None) -> Line: ...

    def deactivate(self, operator: str, line_id: str) -> Line: ...

    def held_by_operator(self, identity_key: str) -> dict[str, int]: ...

    def erase_identity(self, identity_key: str) -> int: ...


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def check_lines(store: LineStore, operator: str, identity_key: str, policy: LinePolicy = LinePolicy()) -> LineCheck:
    """May ``identity_key`` register one more line with ``operator``?"""
    n = store.count_active(operator, identity_key)
    if n >= policy.limit:
        return LineCheck(False, n, policy.limit, reason=LineLimitError.code)
    return LineCheck(True, n, policy.limit)


def activate_line(store: LineStore, operator: str, identity_key: str, line_id: str,
                  registration_ref: str | None = None, policy: LinePolicy = LinePolicy()) -> Line:
    """Check the limit then record the activation; raises :class:`LineLimitError` when full.

    The SQL store re-checks inside its transaction, so two concurrent activations cannot both take
    the last slot.
    """
    check_lines(store, operator, identity_key, policy).raise_if_denied()
    if hasattr(store, "activate_within_limit"):
        return store.activate_within_limit(operator, identity_key, line_id, registration_ref, policy.limit)
    return store.activate(operator, identity_key, line_id, registration_ref)


class MemoryLineStore:
    """Thread-safe in-memory :class:`LineStore` (library use, tests)."""

    def __init__(self) -> None:
        self._lines: dict[tuple[str, str], Line] = {}   # (operator, line_id) -> latest record
        self._lock = threading.Lock()

    def count_active(self, operator: str, identity_key: str) -> int:
        with self._lock:
            return sum(1 for (op, _), ln in self._lines.items() if op == operator and ln.identity_key == identity_key and ln.active)

    def activate(self, operator: str, identity_key: str, line_id: str, registration_ref: str | None = None) -> Line:
        with self._lock:
            return self._activate(operator, identity_key, line_id, registration_ref)

    def activate_within_limit(self, operator: str, identity_key: str, line_id: str,
                              registration_ref: str | None, limit: int) -> Line:
        with self._lock:
            n = sum(1 for (op, _), ln in self._lines.items() if op == operator and ln.identity_key == identity_key and ln.active)
            if n >= limit:
                LineCheck(False, n, limit, LineLimitError.code).raise_if_denied()
            return self._activate(operator, identity_key, line_id, registration_ref)

    def _activate(self, operator: str, identity_key: str, line_id: str, registration_ref: str | None) -> Line:
        cur = self._lines.get((operator, line_id))
        if cur is not None and cur.active:
            raise LineConflictError(f"line {line_id!r} is already active with operator {operator!r}")
        ln = Line(operator, line_id, identity_key, registration_ref, _now())
        self._lines[(operator, line_id)] = ln
        return ln

    def deactivate(self, operator: str, line_id: str) -> Line:
        with self._lock:
            cur = self._lines.get((operator, line_id))
            if cur is None or not cur.active:
                raise LineNotFoundError(f"no active line {line_id!r} with operator {operator!r}")
            ln = Line(cur.operator, cur.line_id, cur.identity_key, cur.registration_ref, cur.activated_at, _now())
            self._lines[(operator, line_id)] = ln
            return ln

    def held_by_operator(self, identity_key: str) -> dict[str, int]:
        """{operator: active lines} for one identity: what a data-subject request may see, nothing more."""
        out: dict[str, int] = {}
        with self._lock:
            for (op, _), ln in self._lines.items():
                if ln.identity_key == identity_key and ln.active:
                    out[op] = out.get(op, 0) + 1
        return out

    def erase_identity(self, identity_key: str) -> int:
        with self._lock:
            keys = [k for k, ln in self._lines.items() if ln.identity_key == identity_key]
            for k in keys:
                del self._lines[k]
            return len(keys)
