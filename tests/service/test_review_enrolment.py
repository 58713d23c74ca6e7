"""A reviewer's approval enrols the face in the duplicate-search gallery and activates a line, as a policy approval does."""
from __future__ import annotations

import pytest

from idmatch.store.models import LineActivation
from service.conftest import BACKENDS, make_svc, new_number

PERSON = "verification/lfw_deepfunneled/images/Colin_Powell"


@pytest.fixture(scope="module", params=BACKENDS)
def rsvc(request, tmp_path_factory, engine, shared_data):
    photos = [p.read_bytes() for p in sorted((shared_data / PERSON).glob("*.jpg"))[:6]]
    s = make_svc(request.param, request, tmp_path_factory.mktemp(f"review-{request.param}"), engine,
                 {"powell": photos}, advisory=("quality",))
    yield s
    s.client.close()
    s.store.close()


def _dup(body: dict) -> dict:
    return next(r for r in body["reasons"] if r["stage"] == "duplicate_face")


def test_review_approved_registration_joins_the_gallery(rsvc):
    p = rsvc.images["powell"]
    s1, r1 = rsvc.register(p[0], [p[1]], number=new_number())
    assert r1.json()["decision"] == "approved", r1.json()["reasons"]
    s2, r2 = rsvc.register(p[2], [p[3]], number=new_number())          # same face, another document
    assert r2.json()["decision"] == "review" and _dup(r2.json())["code"] == "duplicate_face"
    stage = next(st for st in rsvc.app.state.sessions.decision_policy.stages if st.name == "duplicate_face")
    assert s2["id"] not in stage.gallery.index                                   # in review: not enrolled
    assert rsvc.count(LineActivation, session_id=s2["id"]) == 0                 # nor a line activated
    rv = rsvc.client.post(f"/v1/review/{s2['id']}", json={"outcome": "approved", "reason": "twin, documents checked"},
                          headers=rsvc.h("reviewer"))
    assert rv.status_code == 200, rv.text
    assert s2["id"] in stage.gallery.index                                       # enrolled by the reviewer's approval
    assert rsvc.count(LineActivation, session_id=s2["id"]) == 1                 # and its line activated
    _, r3 = rsvc.register(p[4], [p[5]], number=new_number())
    seen = rsvc.client.get(f"/v1/sessions/{r3.json()['id']}", headers=rsvc.h("reviewer")).json()   # a clerk sees no ids
    refs = {h["ref"] for h in _dup(seen)["details"]["hits"]}
    assert {s1["id"], s2["id"]} <= refs
