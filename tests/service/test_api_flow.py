"""Every endpoint on SQLite and PostgreSQL: the registration flow on real LFW images, review, stateless
checks, keys, policy, audit, erasure, ops endpoints, idempotency and expiry."""
from __future__ import annotations

import datetime as dt

import pytest

from idmatch.store.models import AuditEvent, LineActivation, RegSession, Template

from .conftest import ADVISORY, new_number


def test_happy_path_approved_with_reasons(svc):
    s, r = svc.register(svc.images["same_a"], [svc.images["same_b"]])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved" and body["decision"] == "approved"
    match = next(x for x in body["reasons"] if x["stage"] == "match")
    assert match["code"] == "face_match" and match["outcome"] == "pass"
    d = match["details"]
    assert d["score"] >= d["threshold"] and d["fmr"] == pytest.approx(1e-4) and d["calibration"]
    assert {x["stage"] for x in body["reasons"]} >= {"match", "liveness", "quality"}
    lines = next(x for x in body["reasons"] if x["stage"] in ("lines_per_identity", "fraud", "lines"))
    assert lines["details"].get("active_lines", 0) >= 0
    # decision and its events are in the store, templates encrypted under a key id
    assert svc.count(Template, session_id=s["id"]) == 2
    assert svc.count(LineActivation, session_id=s["id"]) == 1
    assert svc.count(AuditEvent, session_id=s["id"], type="decision") == 1
    g = svc.client.get(f"/v1/sessions/{s['id']}", headers=svc.h("clerk"))
    assert g.status_code == 200 and g.json()["decision"] == "approved"
    assert svc.client.get(f"/v1/sessions/{s['id']}", headers=svc.h("reviewer")).status_code == 200


def test_multi_frame_capture(svc):
    s, r = svc.register(svc.images["same_a"], [svc.images["same_b"], svc.images["same_c"]])
    assert r.status_code == 200, r.text
    match = next(x for x in r.json()["reasons"] if x["stage"] == "match")
    assert len(match["details"]["frame_scores"]) == 2
    assert svc.count(Template, session_id=s["id"], kind="live") == 2


def test_impostor_rejected(svc):
    s, r = svc.register(svc.images["imp_a"], [svc.images["imp_b"]])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["decision"] == "rejected" and body["status"] == "rejected"
    match = next(x for x in body["reasons"] if x["stage"] == "match")
    assert match["code"] == "face_mismatch" and match["outcome"] == "fail"
    assert match["details"]["score"] < match["details"]["threshold"]
    assert svc.count(LineActivation, session_id=s["id"]) == 0


def test_replayed_live_call_same_outcome_and_decided_session_immutable(svc):
    s, r = svc.register(svc.images["same_a"], [svc.images["same_b"]])
    n_events = svc.count(AuditEvent)
    again = svc.live(s["id"], [svc.images["same_b"]], s["challenge"]["nonce"])
    assert again.status_code == 200 and again.json() == r.json()
    assert svc.count(AuditEvent) == n_events                      # nothing recomputed or re-logged
    other = svc.live(s["id"], [svc.images["imp_b"]], s["challenge"]["nonce"])
    assert other.status_code == 409 and other.json()["code"] == "session_decided"
    p = svc.portrait(s["id"], svc.images["imp_a"])
    assert p.status_code == 409 and p.json()["code"] == "session_decided"
    assert svc.count(Template, session_id=s["id"]) == 2 and svc.count(AuditEvent) == n_events


def test_idempotency_key_on_create_and_live(svc):
    key = {"Idempotency-Key": "create-" + new_number()}
    num = new_number()
    a = svc.create(num, headers=key)
    b = svc.create(num, headers=key)
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]
    c = svc.create(new_number(), headers=key)
    assert c.status_code == 422 and c.json()["code"] == "idempotency_key_reused"
    s = a.json()
    assert svc.portrait(s["id"], svc.images["same_a"]).status_code == 200
    lk = {"Idempotency-Key": "live-" + s["id"]}
    r1 = svc.live(s["id"], [svc.images["same_b"]], s["challenge"]["nonce"], headers=lk)
    r2 = svc.live(s["id"], [svc.images["same_b"]], s["challenge"]["nonce"], headers=lk)
    assert r1.status_code == r2.status_code == 200 and r1.json() == r2.json()


def test_flow_order_challenge_and_expiry(svc):
    s = svc.create().json()
    r = svc.live(s["id"], [svc.images["same_b"]], s["challenge"]["nonce"])
    assert r.status_code == 409 and r.json()["code"] == "portrait_missing"
    assert svc.portrait(s["id"], svc.images["same_a"]).status_code == 200
    assert svc.portrait(s["id"], svc.images["same_a"]).status_code == 200    # same upload again: same outcome
    r = svc.live(s["id"], [svc.images["same_b"]], "not-the-nonce")
    assert r.status_code == 422 and r.json()["code"] == "challenge_mismatch"
    with svc.store.session() as db, db.begin():
        db.get(RegSession, s["id"]).expires_at = dt.datetime(2000, 1, 1)
    r = svc.live(s["id"], [svc.images["same_b"]], s["challenge"]["nonce"])
    assert r.status_code == 410 and r.json()["code"] == "session_expired"
    assert svc.client.get(f"/v1/sessions/{s['id']}", headers=svc.h("clerk")).json()["status"] == "expired"
    assert svc.count(Template, session_id=s["id"], kind="live") == 0
    assert svc.client.get("/v1/sessions/nope", headers=svc.h("clerk")).json()["code"] == "session_not_found"


def test_review_queue_and_decision(svc):
    num = new_number()
    admin = svc.h("admin")
    # over the limit a registration is rejected by default; this operator sends it to review instead
    assert svc.client.put("/v1/policy", json={"max_lines_per_identity": 1, "line_limit_outcome": "review"},
                          headers=admin).status_code == 200
    try:
        _, first = svc.register(svc.images["same_a"], [svc.images["same_b"]], number=num)
        assert first.json()["decision"] == "approved"
        s2, second = svc.register(svc.images["same_a"], [svc.images["same_c"]], number=num)
        body = second.json()
        assert body["decision"] == "review"
        assert any(x["code"] == "line_limit_reached" and x["details"]["active_lines"] == 1 for x in body["reasons"])
    finally:
        svc.client.put("/v1/policy", json={"max_lines_per_identity": 5, "line_limit_outcome": "fail"}, headers=admin)
    q = svc.client.get("/v1/review", headers=svc.h("reviewer"))
    assert q.status_code == 200 and s2["id"] in [i["id"] for i in q.json()]
    bad = svc.client.post(f"/v1/review/{s2['id']}", json={"outcome": "approved", "reason": "ok"}, headers=svc.h("reviewer"))
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"   # reason too short
    ok = svc.client.post(f"/v1/review/{s2['id']}", json={"outcome": "rejected", "reason": "second line refused by policy"},
                         headers=svc.h("reviewer"))
    assert ok.status_code == 200 and ok.json()["status"] == "rejected" and ok.json()["decision"] == "review"
    assert ok.json()["review"]["reason"] == "second line refused by policy"
    again = svc.client.post(f"/v1/review/{s2['id']}", json={"outcome": "approved", "reason": "changed my mind"}, headers=svc.h("reviewer"))
    assert again.status_code == 409 and again.json()["code"] == "not_in_review"
    assert s2["id"] not in [i["id"] for i in svc.client.get("/v1/review", headers=svc.h("reviewer")).json()]


def test_stateless_endpoints(svc):
    files = {"id_image": ("a.jpg", svc.images["same_a"], "image/jpeg"), "live_image": ("b.jpg", svc.images["same_b"], "image/jpeg")}
    r = svc.client.post("/v1/verify", files=files, headers=svc.h("clerk"))
    assert r.status_code == 200 and r.json()["match"] is True
    files["live_image"] = ("c.jpg", svc.images["imp_b"], "image/jpeg")
    r = svc.client.post("/v1/verify", files=files, headers=svc.h("clerk"))
    assert r.status_code == 200 and r.json()["match"] is False
    for path, available in (("/v1/quality", True),
                            ("/v1/liveness", svc.app.state.sessions.stateless.stage("liveness").pad is not None)):
        r = svc.client.post(path, files={"image": ("a.jpg", svc.images["same_b"], "image/jpeg")}, headers=svc.h("clerk"))
        if available:
            assert r.status_code == 200, r.text
        else:
            assert r.status_code == 501 and r.json()["code"].endswith("_unavailable")
            assert r.headers["content-type"].startswith("application/problem+json")


def test_keys_lifecycle(svc):
    admin = svc.h("admin")
    r = svc.client.post("/v1/keys", json={"role": "clerk", "label": "store 42"}, headers=admin)
    assert r.status_code == 201
    new = r.json()
    assert new["key"].startswith("idm_") and new["label"] == "store 42"
    listed = svc.client.get("/v1/keys", headers=admin).json()
    assert new["id"] in [k["id"] for k in listed] and all("key" not in k for k in listed)
    hdr = {"Authorization": f"Bearer {new['key']}"}
    assert svc.create(headers=hdr).status_code == 201
    assert svc.client.delete(f"/v1/keys/{new['id']}", headers=admin).json()["revoked_at"]
    r = svc.client.post("/v1/sessions", json={}, headers=hdr)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert svc.client.post("/v1/keys", json={"role": "root"}, headers=admin).status_code == 422
    assert svc.client.get("/v1/keys").status_code == 401
    assert svc.client.get("/v1/keys", headers={"Authorization": "Bearer idm_bogus"}).status_code == 401


def test_policy_get_put(svc):
    admin = svc.h("admin")
    p = svc.client.get("/v1/policy", headers=admin).json()
    assert p["fmr"] == pytest.approx(1e-4) and p["retain_images"] is False
    r = svc.client.put("/v1/policy", json={"fmr": 2.0}, headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = svc.client.put("/v1/policy", json={"review_margin": 0.07}, headers=admin)
    assert r.status_code == 200 and r.json()["review_margin"] == pytest.approx(0.07)
    svc.client.put("/v1/policy", json={"review_margin": 0.05}, headers=admin)
    ev = svc.client.get("/v1/audit/events", params={"limit": 1000}, headers=svc.h("auditor")).json()
    assert any(e["type"] == "policy_changed" and "review_margin" in e["payload"]["changed"] for e in ev)


def test_audit_endpoints(svc):
    s, _ = svc.register(svc.images["same_a"], [svc.images["same_b"]])
    ev = svc.client.get("/v1/audit/events", params={"session_id": s["id"]}, headers=svc.h("auditor")).json()
    types = [e["type"] for e in ev]
    assert types[:3] == ["session_created", "consent_recorded", "portrait_attached"] and types[-1] == "decision"
    assert "stage_result" in types
    v = svc.client.get("/v1/audit/verify", headers=svc.h("auditor")).json()
    assert v["ok"] is True and v["events"] > len(ev)


def test_erasure_endpoint(svc):
    num = new_number()
    s, _ = svc.register(svc.images["same_a"], [svc.images["same_b"]], number=num)
    admin = svc.h("admin")
    r = svc.client.post("/v1/erasures", json={"document": {"type": "resident_id", "number": num}}, headers=admin)
    assert r.status_code == 200 and r.json() == {"sessions": 1, "templates": 2, "images": 0, "lines": 1}
    assert svc.count(Template, session_id=s["id"]) == 0 and svc.count(RegSession, id=s["id"]) == 0
    assert svc.client.get(f"/v1/sessions/{s['id']}", headers=svc.h("clerk")).status_code == 404
    r = svc.client.post("/v1/erasures", json={}, headers=admin)
    assert r.status_code == 422 and r.json()["code"] == "erase_target"
    assert svc.client.get("/v1/audit/verify", headers=svc.h("auditor")).json()["ok"] is True


def test_ops_endpoints(svc):
    assert svc.client.get("/healthz").json() == {"status": "ok"}
    r = svc.client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"
    assert svc.client.get("/metrics").status_code == 401                       # not public (issue 14)
    assert svc.client.get("/metrics", headers=svc.h("clerk")).status_code == 403
    m = svc.client.get("/metrics", headers=svc.h("auditor"))
    assert m.status_code == 200
    assert "idmatch_http_requests_total" in m.text and "idmatch_decisions_total" in m.text and "idmatch_model_seconds" in m.text
    assert svc.client.get("/docs").status_code == 200
    spec = svc.client.get("/openapi.json").json()
    assert "/v1/sessions/{sid}/live" in spec["paths"]
    r = svc.client.get("/v1/nowhere")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_rate_limit(request, tmp_path, engine, images):
    from .conftest import make_svc

    s = make_svc("sqlite", request, tmp_path, engine, images, rate_limit_per_minute=3)
    codes = [s.client.get("/v1/review", headers=s.h("reviewer")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = s.client.get("/v1/review", headers=s.h("reviewer"))
    assert r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
    assert s.client.get("/v1/audit/verify", headers=s.h("auditor")).status_code == 200   # per key
    s.store.close()


def test_active_challenge_mode(svc):
    admin = svc.h("admin")
    r = svc.create(liveness_mode="active")                              # this module's policy: passive only
    assert r.status_code == 422 and r.json()["code"] == "liveness_mode_not_allowed"
    assert svc.client.put("/v1/policy", json={"liveness_mode": "either", "advisory_stages": ["quality", "duplicate_face"]}, headers=admin).status_code == 200
    try:
        assert svc.create().json()["challenge"]["mode"] == "active"     # auto → active
        r = svc.create(liveness_mode="passive")                         # no client downgrade, "either" included
        assert r.status_code == 422 and r.json()["code"] == "liveness_mode_not_allowed"
        s = svc.create(liveness_mode="active").json()
        ch = s["challenge"]
        assert ch["mode"] == "active" and len(ch["actions"]) >= 1 and len(ch["instructions"]) == len(ch["actions"])
        assert len(ch["prompt_at"]) == len(ch["actions"]) and ch["capture_s"] > ch["prompt_at"][-1]
        assert s["attempts"] == {"used": 0, "max": 3}
        assert svc.portrait(s["id"], svc.images["same_a"]).status_code == 200
        r = svc.live(s["id"], [svc.images["same_b"]], ch["nonce"])       # an active capture must say when each frame was taken
        assert r.status_code == 422 and r.json()["code"] == "frame_times_required"
        nonces = {ch["nonce"]}
        for attempt in (1, 2):   # one still photo cannot follow head movements: a fresh challenge, in place
            r = svc.live(s["id"], [svc.images["same_b"]], ch["nonce"], data={"frame_times": "[0.0]"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["status"] == "awaiting_live" and body["decision"] is None
            assert body["attempts"] == {"used": attempt, "max": 3}
            assert "too_few_frames" in body["last_attempt"]["codes"] and body["last_attempt"]["messages"][0]
            ch = body["challenge"]
            assert ch["nonce"] not in nonces
            nonces.add(ch["nonce"])
        r = svc.live(s["id"], [svc.images["same_b"]], ch["nonce"], data={"frame_times": "[0.0]"})
        body = r.json()
        live = next(x for x in body["reasons"] if x["stage"] == "liveness")
        assert body["decision"] == "rejected" and live["outcome"] == "fail" and "too_few_frames" in live["details"]["codes"]
        assert body["attempts"] == {"used": 3, "max": 3}
        assert next(x for x in body["reasons"] if x["stage"] == "match")["code"] == "face_match"
        events = [e["type"] for e in svc.client.get("/v1/audit/events", params={"session_id": s["id"]},
                                                       headers=svc.h("auditor")).json()]
        assert events.count("liveness_attempt_failed") == 2 and "decision" in events
    finally:
        svc.client.put("/v1/policy", json={"liveness_mode": "passive", "advisory_stages": list(ADVISORY)}, headers=admin)
