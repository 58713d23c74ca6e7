"""Bad uploads and calls get the right problem code, and nothing is half-written (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from idmatch.store.models import AuditEvent, RegSession, Template

from .conftest import png_bytes


@pytest.fixture(scope="module")
def big_png() -> bytes:
    return png_bytes(8000, 6250)          # 50 megapixels, ~50 kB compressed: a decompression bomb


def _bad_cases(images, big_png):
    jpeg = images["same_a"]
    return {
        "not_an_image": (b"plain text pretending to be a picture\n" * 4, "image/jpeg", 422, "bad_image"),
        "truncated_jpeg": (jpeg[: len(jpeg) // 2], "image/jpeg", 422, "bad_image"),
        "50_megapixel_png": (big_png, "image/png", 413, "image_too_large"),
        "empty_upload": (b"", "image/jpeg", 422, "empty_image"),
        "wrong_content_type": (jpeg, "text/plain", 415, "unsupported_media_type"),
        "over_byte_limit": (b"\xff\xd8" + b"\0" * (15 * 1024 * 1024), "image/jpeg", 413, "image_too_large"),
        "no_face": (png_bytes(320, 240), "image/png", 422, "no_face"),
    }


CASES = ["not_an_image", "truncated_jpeg", "50_megapixel_png", "empty_upload", "wrong_content_type", "over_byte_limit", "no_face"]


def _problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == code and body["status"] == status and body["type"].endswith(code) and body["detail"]


@pytest.mark.parametrize("case", CASES)
def test_bad_portrait_writes_nothing(svc, images, big_png, case):
    data, ctype, status, code = _bad_cases(images, big_png)[case]
    s = svc.create().json()
    n_audit = svc.count(AuditEvent)
    _problem(svc.portrait(s["id"], data, ctype), status, code)
    assert svc.count(Template, session_id=s["id"]) == 0 and svc.count(AuditEvent) == n_audit
    with svc.store.session() as db:
        assert db.get(RegSession, s["id"]).status == "awaiting_portrait"


@pytest.mark.parametrize("case", CASES)
def test_bad_live_frame_writes_nothing(svc, images, big_png, case):
    data, ctype, status, code = _bad_cases(images, big_png)[case]
    s = svc.create().json()
    assert svc.portrait(s["id"], images["same_a"]).status_code == 200
    n_audit = svc.count(AuditEvent)
    # one good frame and one bad frame: all or nothing
    files = [("frames", ("good.jpg", images["same_b"], "image/jpeg")), ("frames", ("bad", data, ctype))]
    r = svc.client.post(f"/v1/sessions/{s['id']}/live", files=files, data={"nonce": s["challenge"]["nonce"]}, headers=svc.h("clerk"))
    _problem(r, status, code)
    assert svc.count(Template, session_id=s["id"], kind="live") == 0 and svc.count(AuditEvent) == n_audit
    with svc.store.session() as db:
        row = db.get(RegSession, s["id"])
        assert row.status == "awaiting_live" and row.decision is None


def test_request_shape_errors(svc, images):
    s = svc.create().json()
    r = svc.client.put(f"/v1/sessions/{s['id']}/portrait", content=images["same_a"],
                       headers=svc.h("clerk", **{"Content-Type": "image/jpeg"}))
    _problem(r, 415, "unsupported_media_type")
    r = svc.client.put(f"/v1/sessions/{s['id']}/portrait", files={"photo": ("a.jpg", images["same_a"], "image/jpeg")}, headers=svc.h("clerk"))
    _problem(r, 422, "missing_image")
    r = svc.client.post(f"/v1/sessions/{s['id']}/live", files={"other": ("a.jpg", images["same_a"], "image/jpeg")}, headers=svc.h("clerk"))
    _problem(r, 422, "missing_image")
    r = svc.client.post("/v1/sessions", json={"document": {"type": "resident_id"}}, headers=svc.h("clerk"))
    _problem(r, 422, "validation_error")
    r = svc.client.post("/v1/sessions", content=b"{not json", headers=svc.h("clerk", **{"Content-Type": "application/json"}))
    _problem(r, 422, "validation_error")
    r = svc.create(consent={"text_version": "v1", "given_at": "2099-01-01T00:00:00Z", "channel": "store"})
    _problem(r, 422, "consent_in_future")
    files = [("frames", (f"{i}.jpg", images["same_b"], "image/jpeg")) for i in range(svc.settings.max_frames + 1)]
    r = svc.client.post(f"/v1/sessions/{s['id']}/live", files=files, data={"nonce": s["challenge"]["nonce"]}, headers=svc.h("clerk"))
    _problem(r, 413, "too_many_frames")
    with svc.store.session() as db:
        assert db.get(RegSession, s["id"]).status == "awaiting_portrait"


def test_expired_session_rejects_portrait(svc, images):
    import datetime as dt

    s = svc.create().json()
    with svc.store.session() as db, db.begin():
        db.get(RegSession, s["id"]).expires_at = dt.datetime(2000, 1, 1)
    n_audit = svc.count(AuditEvent)
    _problem(svc.portrait(s["id"], images["same_a"]), 410, "session_expired")
    assert svc.count(Template, session_id=s["id"]) == 0 and svc.count(AuditEvent) == n_audit
