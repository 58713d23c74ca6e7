"""Issue 14, finding 6: values that used to answer 500 (and drop the keep-alive connection) now get a
4xx problem from the boundary — on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from idmatch.store.models import AuditEvent, RegSession


def _problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def _consent(given_at: str) -> dict:
    return {"text_version": "v1", "given_at": given_at, "channel": "store"}


@pytest.mark.parametrize("given_at", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "1970-01-01T00:00:00Z"])
def test_consent_time_out_of_range_is_422(svc, given_at):
    n = svc.count(RegSession)
    _problem(svc.create(consent=_consent(given_at)), 422, "validation_error")
    assert svc.count(RegSession) == n


def test_consent_offset_still_normalised(svc):
    r = svc.create(consent=_consent("2026-01-01T10:00:00+03:00"))
    assert r.status_code == 201, r.text
    with svc.store.session() as db:
        assert db.get(RegSession, r.json()["id"]).consent_at.isoformat() == "2026-01-01T07:00:00"


@pytest.mark.parametrize("nonce", ["é", "\u202e" * 3, "x" * 5000])
def test_non_ascii_nonce_is_challenge_mismatch(svc, images, nonce):
    s = svc.create().json()
    assert svc.portrait(s["id"], images["same_a"]).status_code == 200
    n_audit = svc.count(AuditEvent)
    _problem(svc.live(s["id"], [images["same_b"]], nonce), 422, "challenge_mismatch")
    assert svc.count(AuditEvent) == n_audit


@pytest.mark.parametrize("after", ["9999999999999999999", str(2 ** 31), "-1", "1e3"])
def test_audit_events_after_out_of_range_is_422(svc, after):
    _problem(svc.client.get(f"/v1/audit/events?after={after}", headers=svc.h("auditor")), 422, "validation_error")


def test_audit_events_after_max_int32_is_fine(svc):
    r = svc.client.get(f"/v1/audit/events?after={2 ** 31 - 1}", headers=svc.h("auditor"))
    assert r.status_code == 200 and r.json() == []


def test_verify_fmr_below_the_calibration_is_422(svc, images):
    files = {"id_image": ("a.jpg", images["same_a"], "image/jpeg"), "live_image": ("b.jpg", images["same_b"], "image/jpeg")}
    r = svc.client.post("/v1/verify?fmr=1e-9", files=files, headers=svc.h("clerk"))
    _problem(r, 422, "calibration_insufficient_data")
    assert r.json()["details"]["min_fmr"] > 1e-9


def test_verify_fmr_looser_than_the_policy_is_422(svc, images):
    files = {"id_image": ("a.jpg", images["same_a"], "image/jpeg"), "live_image": ("b.jpg", images["imp_b"], "image/jpeg")}
    r = svc.client.post("/v1/verify?fmr=0.99", files=files, headers=svc.h("clerk"))
    _problem(r, 422, "fmr_out_of_range")
    assert r.json()["details"]["max_fmr"] == svc.app.state.sessions.policy().fmr
    policy_fmr = svc.app.state.sessions.policy().fmr
    stricter = max(min(p.fmr for p in svc.app.state.engine.calibration.points), policy_fmr / 2)
    assert stricter < policy_fmr
    r = svc.client.post(f"/v1/verify?fmr={stricter}", files=files, headers=svc.h("clerk"))   # stricter: fine
    assert r.status_code == 200 and r.json()["fmr"] == stricter


def test_nul_in_text_fields_is_422(svc):
    n = svc.count(RegSession)
    _problem(svc.create(consent={"text_version": "v\x001", "given_at": "2026-01-01T10:00:00Z", "channel": "store"}),
             422, "validation_error")
    _problem(svc.create(number="3301\x00123"), 422, "validation_error")
    assert svc.count(RegSession) == n
    _problem(svc.client.post("/v1/keys", json={"role": "clerk", "label": "a\x00b"}, headers=svc.h("admin")), 422, "validation_error")
    _problem(svc.client.post("/v1/erasures", json={"session_id": "a\x00b"}, headers=svc.h("admin")), 422, "validation_error")
    _problem(svc.client.post("/v1/review/abc", json={"outcome": "approved", "reason": "fine\x00 really"},
                             headers=svc.h("reviewer")), 422, "validation_error")


def test_nul_in_ids_is_422(svc):
    _problem(svc.client.get("/v1/sessions/a%00b", headers=svc.h("clerk")), 422, "validation_error")
    _problem(svc.client.get("/v1/audit/events?session_id=%00", headers=svc.h("auditor")), 422, "validation_error")
    _problem(svc.client.delete("/v1/keys/key_%00", headers=svc.h("admin")), 422, "validation_error")


def test_database_data_error_is_a_problem_not_500(svc):
    """The net behind the validators: a value the database refuses is 422 invalid_value (seen before the
    bound on ``after`` existed: PostgreSQL NumericValueOutOfRange for an int32 column)."""
    from fastapi import APIRouter
    from sqlalchemy.exc import DataError

    router = APIRouter()

    @router.get("/_test/data-error")
    def boom():
        raise DataError("SELECT 1", {}, ValueError("refused"))

    svc.app.include_router(router)
    _problem(svc.client.get("/_test/data-error"), 422, "invalid_value")


def test_openapi_documents_problem_responses(svc):
    spec = svc.client.get("/openapi.json").json()
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail", "code"]
    live = spec["paths"]["/v1/sessions/{sid}/live"]["post"]["responses"]
    for st in ("401", "403", "404", "409", "413", "415", "422"):
        assert live[st]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}, st
    assert {"401", "403", "422"} <= set(spec["paths"]["/v1/keys"]["get"]["responses"])
    assert "415" not in spec["paths"]["/v1/sessions"]["post"]["responses"]       # JSON body, not an upload
    for path, method, fields in [("/v1/sessions/{sid}/live", "post", {"frames", "nonce"}),
                                 ("/v1/sessions/{sid}/portrait", "put", {"image"}),
                                 ("/v1/verify", "post", {"id_image", "live_image"})]:
        ref = spec["paths"][path][method]["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
        assert fields <= set(spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]["required"]), path


def test_erasure_removes_stored_idempotent_responses(svc, images):
    """Issue 14 (low): the session's JSON stayed in idempotency_keys until a purge a day later."""
    from idmatch.store.models import IdempotencyRecord

    r = svc.create(headers={"Idempotency-Key": "erase-me-1"})
    assert r.status_code == 201
    sid = r.json()["id"]
    assert svc.count(IdempotencyRecord, key="erase-me-1") == 1
    r = svc.client.post("/v1/erasures", json={"session_id": sid}, headers=svc.h("admin"))
    assert r.status_code == 200 and r.json()["sessions"] == 1
    assert svc.count(IdempotencyRecord, key="erase-me-1") == 0


def test_stateless_checks_are_audited_without_biometrics(svc, images):
    """Issue 14 (low): /v1/verify, /v1/quality and /v1/liveness were unaudited, so a key probing the
    models left no trace."""
    import json

    from sqlalchemy import select

    files = {"id_image": ("a.jpg", images["same_a"], "image/jpeg"), "live_image": ("b.jpg", images["same_b"], "image/jpeg")}
    n = svc.count(AuditEvent, type="stateless_check")
    assert svc.client.post("/v1/verify", files=files, headers=svc.h("clerk")).status_code == 200
    assert svc.count(AuditEvent, type="stateless_check") == n + 1
    with svc.store.session() as db:
        ev = db.execute(select(AuditEvent).where(AuditEvent.type == "stateless_check").order_by(AuditEvent.seq.desc())).scalars().first()
        payload = json.loads(ev.payload)
    assert ev.actor != "system" and payload["endpoint"] == "verify" and payload["match"] is True
    assert set(payload) == {"endpoint", "match", "score", "threshold", "fmr", "outcome"}
    r = svc.client.post("/v1/liveness", files={"image": ("a.jpg", images["same_b"], "image/jpeg")}, headers=svc.h("clerk"))
    if r.status_code == 200:
        assert svc.count(AuditEvent, type="stateless_check") == n + 2
    assert svc.client.get("/v1/audit/verify", headers=svc.h("auditor")).json()["ok"] is True


@pytest.mark.parametrize("frame_times", ["[" * 5000, "[[1]]", '{"a": 1}', "[1e309]", "[0," * 3 + "x]"])
def test_hostile_frame_times_are_422(svc, images, frame_times):
    s = svc.create().json()
    assert svc.portrait(s["id"], images["same_a"]).status_code == 200
    files = [("frames", ("f.jpg", images["same_b"], "image/jpeg"))]
    r = svc.client.post(f"/v1/sessions/{s['id']}/live", files=files,
                        data={"nonce": s["challenge"]["nonce"], "frame_times": frame_times}, headers=svc.h("clerk"))
    _problem(r, 422, "bad_frame_times")


def test_required_form_strings_say_min_length_1(svc):
    """Found by the OpenAPI fuzz job: FastAPI reads an empty form field (``consent_given_at=""``) as absent,
    so a document that allowed "" for a required text field promised what the service then refused as
    `missing`. Every required text field of a form body now says minLength 1."""
    spec = svc.app.openapi()
    comps = spec["components"]["schemas"]
    seen = set()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for ctype, media in op.get("requestBody", {}).get("content", {}).items():
                if "form" not in ctype:
                    continue
                schema = comps[media["schema"]["$ref"].rsplit("/", 1)[-1]]
                for name in schema.get("required", []):
                    prop = schema["properties"][name]
                    for s in prop.get("anyOf", [prop]):
                        if s.get("type") == "string" and "enum" not in s and "contentMediaType" not in s:
                            assert s.get("minLength", 0) >= 1, (method, path, name, prop)
                            seen.add(name)
    assert {"consent_given_at", "consent_text_version", "consent_channel", "nonce"} <= seen


def test_empty_consent_time_is_a_validation_error(svc):
    r = svc.client.post("/v1/sessions/from-document", headers=svc.h("clerk"),
                        files={"x": ("x", b"", "text/plain")},
                        data={"source": "mrz", "mrz": "P<X", "consent_text_version": "v1", "consent_given_at": "",
                              "consent_channel": "store"})
    _problem(r, 422, "validation_error")
    assert ["body", "consent_given_at"] in [e["loc"] for e in r.json()["errors"]]
