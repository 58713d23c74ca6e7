"""Issue 14, finding 5: an emptied or shortened audit chain is a failure while decided sessions exist —
through `/v1/audit/verify` (what the audit page calls) as well as the CLI (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from .conftest import BACKENDS, make_svc


@pytest.fixture(params=BACKENDS)
def decided(request, tmp_path, engine, images):
    svc = make_svc(request.param, request, tmp_path, engine, images)
    s, r = svc.register(images["same_a"], [images["same_b"]])
    assert r.status_code == 200 and r.json()["decision"] == "approved"
    yield svc
    svc.client.close()
    svc.store.close()


def _exec(store, *sql):
    with store.engine.connect() as c:
        for q in sql:
            c.execute(text(q))
        c.commit()


def _verify(svc) -> dict:
    r = svc.client.get("/v1/audit/verify", headers=svc.h("auditor"))
    assert r.status_code == 200
    return r.json()


def test_intact_chain_is_anchored(decided):
    rep = _verify(decided)
    assert rep["ok"] and rep["anchored_seq"] == rep["events"] > 0, rep


def test_all_rows_deleted_fails(decided):
    _exec(decided.store, "DELETE FROM audit_events", "DELETE FROM audit_head")
    rep = _verify(decided)
    assert not rep["ok"] and rep["events"] == 0
    assert any("anchored event" in p for p in rep["problems"])
    assert any("decided session" in p for p in rep["problems"])


def test_all_rows_and_the_anchor_deleted_still_fails(decided):
    _exec(decided.store, "DELETE FROM audit_events", "DELETE FROM audit_head")
    decided.store.anchor.path.unlink()
    rep = _verify(decided)
    assert not rep["ok"] and any("decided session" in p for p in rep["problems"])


def test_tail_deleted_and_head_rewound_fails(decided):
    n = _verify(decided)["events"]
    _exec(decided.store, f"DELETE FROM audit_events WHERE seq > {n - 2}",
          f"UPDATE audit_head SET seq = {n - 2}, hash = (SELECT hash FROM audit_events WHERE seq = {n - 2})")
    rep = _verify(decided)
    assert not rep["ok"] and any(f"anchored event {n}" in p for p in rep["problems"]), rep
