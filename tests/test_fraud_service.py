"""The fraud rules inside the service, end to end over HTTP, on SQLite and PostgreSQL (exact-int8 gallery,
on PostgreSQL with its change feed): lines per identity, duplicate face under another identity, erasure."""
from __future__ import annotations

import pytest

from service.conftest import BACKENDS, make_svc, new_number  # the service tests' own app factory

LFW = "verification/lfw_deepfunneled/images"


def _photos(shared_data, name: str, n: int) -> list[bytes]:
    return [p.read_bytes() for p in sorted((shared_data / LFW / name).glob("*.jpg"))[:n]]


@pytest.fixture(scope="module", params=BACKENDS)
def fsvc(request, tmp_path_factory, engine, shared_data):
    """A service with the fraud stages (limit 5, line limit → rejected: the default policy)."""
    images = {"adams": _photos(shared_data, "Gerry_Adams", 4), "sampras": _photos(shared_data, "Pete_Sampras", 2),
              "zakayev": _photos(shared_data, "Akhmed_Zakayev", 3)}
    # quality advisory and the PAD lenient as in the service tests; duplicate_face and lines decide
    s = make_svc(request.param, request, tmp_path_factory.mktemp(f"fraud-{request.param}"), engine, images,
                 advisory=("quality",))
    yield s
    s.client.close()
    s.store.close()


def _reason(body: dict, stage: str) -> dict:
    return next(r for r in body["reasons"] if r["stage"] == stage)


def test_stages_are_the_fraud_ones(fsvc):
    from idmatch.decision.stages import DuplicateFaceStage, LinesStage

    stages = {st.name: st for st in fsvc.app.state.sessions.decision_policy.stages}
    assert isinstance(stages["duplicate_face"], DuplicateFaceStage)
    assert isinstance(stages["lines_per_identity"], LinesStage)
    assert list(stages) == ["quality", "liveness", "match", "document", "lines_per_identity", "duplicate_face"]
    # configured gallery size 1 M (the default) → int8-scan exact search (onnxruntime only, so the plain
    # `pip install idmatch[service]` has it) on both databases; on PostgreSQL kept current by the change feed
    assert stages["duplicate_face"].gallery.index.kind == "exact-int8"


def test_sixth_registration_of_one_identity_is_rejected(fsvc):
    num = new_number()
    z = fsvc.images["zakayev"]
    for i in range(5):
        _, r = fsvc.register(z[0], [z[1 + i % 2]], number=num)
        assert r.json()["decision"] == "approved", r.json()["reasons"]
        assert _reason(r.json(), "lines_per_identity")["details"]["active_lines"] == i
    _, r = fsvc.register(z[0], [z[1]], number=num)
    body = r.json()
    assert body["decision"] == "rejected"
    lines = _reason(body, "lines_per_identity")
    assert lines["code"] == "line_limit_reached" and lines["details"] == {"active_lines": 5, "limit": 5}
    # the same face under its own identity is never a duplicate of itself
    assert _reason(body, "duplicate_face")["code"] == "no_duplicate"
    # the data subject may learn the count — and only the count; clerks may not ask
    doc = {"document": {"type": "resident_id", "number": num}}
    r = fsvc.client.post("/v1/subject-requests/lines", json=doc, headers=fsvc.h("admin"))
    assert r.status_code == 200 and r.json() == {"active_lines": 5, "limit": 5}
    assert fsvc.client.post("/v1/subject-requests/lines", json=doc, headers=fsvc.h("clerk")).status_code == 403
    other = {"document": {"type": "resident_id", "number": new_number()}}
    assert fsvc.client.post("/v1/subject-requests/lines", json=other, headers=fsvc.h("admin")).json()["active_lines"] == 0


def test_same_face_under_another_identity_goes_to_review_with_the_reference_then_erasure_clears_it(fsvc, engine):
    a = fsvc.images["adams"]
    first_num = new_number()
    s1, r1 = fsvc.register(a[0], [a[1]], number=first_num)
    assert r1.json()["decision"] == "approved", r1.json()["reasons"]
    # a different photo pair of the same man, claiming a different document
    _, r2 = fsvc.register(a[2], [a[3]], number=new_number())
    body = r2.json()
    assert body["decision"] == "review", body["reasons"]
    dup = _reason(body, "duplicate_face")
    assert dup["code"] == "duplicate_face" and [set(h) for h in dup["details"]["hits"]] == [{"score"}]   # the clerk: no id
    seen = fsvc.client.get(f"/v1/sessions/{body['id']}", headers=fsvc.h("reviewer")).json()   # the reviewer's view
    dup = _reason(seen, "duplicate_face")
    assert dup["code"] == "duplicate_face" and [h["ref"] for h in dup["details"]["hits"]] == [s1["id"]]
    assert set(dup["details"]["hits"][0]) == {"ref", "score"}           # a reference and a score, nothing else
    # a restarted service finds the enrolment again (rebuilt from the encrypted templates)
    from idmatch.decision.stages import DuplicateFaceStage
    from idmatch.service.ports import StoreGallery

    restarted = DuplicateFaceStage(StoreGallery.open(fsvc.store, fsvc.settings))   # also: a second worker
    assert s1["id"] in restarted.gallery.index
    # a different person is approved
    sp = fsvc.images["sampras"]
    _, r3 = fsvc.register(sp[0], [sp[1]], number=new_number())
    assert r3.json()["decision"] == "approved", r3.json()["reasons"]
    assert _reason(r3.json(), "duplicate_face")["code"] == "no_duplicate"
    # erase the first subject: the face is no longer found
    e = fsvc.client.post("/v1/erasures", json={"document": {"type": "resident_id", "number": first_num}},
                         headers=fsvc.h("admin"))
    assert e.status_code == 200
    _, r4 = fsvc.register(a[2], [a[3]], number=new_number())
    assert _reason(r4.json(), "duplicate_face")["code"] == "no_duplicate"
    assert r4.json()["decision"] == "approved", r4.json()["reasons"]
    # the second gallery has not applied the feed's removal yet (it does under the lock before its next
    # decision's search; on PostgreSQL also by its poll): a search outside a decision checks the hit
    # against the database, drops it, and does not report it
    from idmatch.fraud.dedup import enrolment_template

    probe = enrolment_template([engine.analyze(a[2], "portrait").template, engine.analyze(a[3]).template])
    if fsvc.backend != "postgres":
        assert s1["id"] in restarted.gallery.index                       # stale in the second worker
    res = restarted.find(probe, "another-identity")
    assert s1["id"] not in [m.ref_id for m in res.matches] and s1["id"] not in restarted.gallery.index
