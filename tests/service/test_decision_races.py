"""Issue 14, findings 3 and 4: lines per identity and the duplicate-face search were judged before the
decision's transaction, so parallel registrations all counted the same lines (8 sessions for one document
with a limit of 1 → 2 approved on two workers) and one face under two documents was approved twice. They
are now judged inside the locked decision transaction (SQLite: its write lock; PostgreSQL: advisory locks
on the document's keyed hash and on the gallery).

Each test lets 8 decisions run in parallel and holds every thread at a barrier once its reasons outside
the transaction are computed — the worst interleaving the old order allowed — on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from idmatch.service.auth import Principal
from idmatch.store.models import LineActivation

from .conftest import BACKENDS, make_svc, new_number

N = 8


@pytest.fixture(params=BACKENDS)
def race_svc(request, tmp_path, engine, images):
    s = make_svc(request.param, request, tmp_path, engine, images, advisory=("quality",))
    yield s
    s.client.close()
    s.store.close()


def _principal(svc) -> Principal:
    key = svc.store.lookup_key(svc.keys["clerk"])
    return Principal(key.id, key.role, key.label)


def _decide_in_parallel(svc, numbers: list[str], monkeypatch) -> list[dict]:
    """N sessions (one per number) up to the live capture, then N live captures at once."""
    sessions = []
    for num in numbers:
        r = svc.create(num)
        assert r.status_code == 201, r.text
        s = r.json()
        assert svc.portrait(s["id"], svc.images["same_a"]).status_code == 200
        sessions.append(s)
    service = svc.app.state.sessions
    barrier = threading.Barrier(len(sessions), timeout=120)
    on_live = service.decision_policy.on_live

    def on_live_then_wait(ctx):
        out = on_live(ctx)
        barrier.wait()          # every registration judged outside the transaction before any decides
        return out

    monkeypatch.setattr(service.decision_policy, "on_live", on_live_then_wait)
    p = _principal(svc)
    with ThreadPoolExecutor(len(sessions)) as pool:
        futs = [pool.submit(service.attach_live, s["id"], [svc.images["same_b"]], s["challenge"]["nonce"], p, None)
                for s in sessions]
        return [f.result() for f in futs]


def test_parallel_sessions_for_one_document_get_one_line(race_svc, monkeypatch):
    svc = race_svc
    r = svc.client.put("/v1/policy", json={"max_lines_per_identity": 1, "advisory_stages": ["quality", "duplicate_face"]},
                       headers=svc.h("admin"))
    assert r.status_code == 200, r.text
    num = new_number()
    out = _decide_in_parallel(svc, [num] * N, monkeypatch)
    decisions = sorted(o["decision"] for o in out)
    assert decisions == ["approved"] + ["rejected"] * (N - 1), decisions
    for o in out:
        lines = next(x for x in o["reasons"] if x["stage"] == "lines_per_identity")
        assert lines["code"] == ("lines_ok" if o["decision"] == "approved" else "line_limit_reached")
    h = svc.store.crypto.id_hash("resident_id", num)
    assert svc.count(LineActivation, id_hash=h) == 1


def test_one_face_under_parallel_documents_is_approved_once(race_svc, monkeypatch):
    svc = race_svc
    r = svc.client.put("/v1/policy", json={"advisory_stages": ["quality"]}, headers=svc.h("admin"))
    assert r.status_code == 200, r.text
    out = _decide_in_parallel(svc, [new_number() for _ in range(N)], monkeypatch)
    decisions = sorted(o["decision"] for o in out)
    assert decisions == ["approved"] + ["review"] * (N - 1), decisions
    first = next(o for o in out if o["decision"] == "approved")
    out = [svc.client.get(f"/v1/sessions/{o['id']}", headers=svc.h("reviewer")).json() for o in out]   # with the ids
    for o in out:
        dup = next(x for x in o["reasons"] if x["stage"] == "duplicate_face")
        if o["id"] == first["id"]:
            assert dup["code"] == "no_duplicate"
        else:
            assert dup["code"] == "duplicate_face" and first["id"] in {h["ref"] for h in dup["details"]["hits"]}
