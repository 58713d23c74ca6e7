"""Lines per identity: the limit, deactivation, per-operator scope — on memory, SQLite and PostgreSQL."""
from __future__ import annotations

import uuid

import pytest

from idmatch.fraud import (
    LineConflictError, LineLimitError, LineNotFoundError, LinePolicy, MemoryLineStore, activate_line, check_lines,
)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryLineStore()
        return
    import sqlalchemy as sa

    from idmatch.fraud.sql import SqlLineStore

    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'lines.sqlite3'}")
    else:
        engine = sa.create_engine(request.getfixturevalue("postgres_url"))
    s = SqlLineStore(engine)
    s.create_schema()
    yield s
    engine.dispose()


def _key() -> str:
    return uuid.uuid4().hex   # stands in for HMAC(document number); unique per test run (shared PostgreSQL)


def test_sixth_registration_of_one_identity_is_rejected(store):
    ident = _key()
    for i in range(5):
        assert check_lines(store, "op1", ident).allowed
        activate_line(store, "op1", ident, f"{ident}-line{i}", registration_ref=f"reg{i}")
    chk = check_lines(store, "op1", ident)
    assert not chk.allowed and chk.active_lines == 5 and chk.limit == 5 and chk.reason == "line_limit_reached"
    with pytest.raises(LineLimitError) as exc:
        activate_line(store, "op1", ident, f"{ident}-line5")
    assert exc.value.code == "line_limit_reached" and exc.value.http_status == 409
    assert exc.value.details == {"active_lines": 5, "limit": 5}
    assert store.count_active("op1", ident) == 5


def test_deactivation_frees_a_slot_and_limit_is_per_operator_and_configurable(store):
    ident, other = _key(), _key()
    for i in range(5):
        activate_line(store, "op1", ident, f"{ident}-{i}")
    store.deactivate("op1", f"{ident}-2")
    assert store.count_active("op1", ident) == 4
    activate_line(store, "op1", ident, f"{ident}-new")          # the freed slot is usable
    with pytest.raises(LineLimitError):
        activate_line(store, "op1", ident, f"{ident}-newer")
    activate_line(store, "op2", ident, f"{ident}-op2")          # another operator: its own limit
    assert store.held_by_operator(ident) == {"op1": 5, "op2": 1}
    assert store.held_by_operator(other) == {}
    tight = LinePolicy(limit=1)
    activate_line(store, "op1", other, f"{other}-a", policy=tight)
    with pytest.raises(LineLimitError):
        activate_line(store, "op1", other, f"{other}-b", policy=tight)


def test_line_ids_cannot_be_double_activated_or_deactivated_twice(store):
    ident = _key()
    activate_line(store, "op1", ident, f"{ident}-x")
    with pytest.raises(LineConflictError):
        activate_line(store, "op1", _key(), f"{ident}-x")
    store.deactivate("op1", f"{ident}-x")
    with pytest.raises(LineNotFoundError):
        store.deactivate("op1", f"{ident}-x")
    activate_line(store, "op1", ident, f"{ident}-x")            # a recycled number may be reassigned


def test_erasure_removes_an_identitys_lines(store):
    ident = _key()
    for i in range(3):
        activate_line(store, "op1", ident, f"{ident}-{i}")
    assert store.erase_identity(ident) == 3
    assert store.count_active("op1", ident) == 0 and store.held_by_operator(ident) == {}


def test_invalid_limit_is_refused():
    with pytest.raises(Exception) as exc:
        LinePolicy(limit=0)
    assert exc.value.code == "config_error"
