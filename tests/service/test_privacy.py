"""Privacy by design: no clear ID number and no unencrypted template or image anywhere in the database
(raw SQLite file bytes; every PostgreSQL row as text), none in the logs; erasure removes the subject
for real; retention purge; key rotation re-encrypts everything."""
from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pytest
from sqlalchemy import select, text

from idmatch.cli import main
from idmatch.store.models import AuditEvent, LineActivation, RegSession, StoredImage, Template

from .conftest import BACKENDS, make_svc

NUMBER = "33010619900101123X"
DOC = {"type": "resident_id", "number": "3301-0619-9001-0112-3x"}   # as typed: normalised before hashing


def _needles(engine, images) -> dict[str, bytes]:
    tpl = engine.analyze(images["same_a"], role="portrait").template.astype(np.float32).tobytes()
    live = engine.analyze(images["same_b"], role="live").template.astype(np.float32).tobytes()
    jpeg = images["same_a"]
    return {
        "number": NUMBER.encode(), "number_as_typed": DOC["number"].encode(), "number_utf16": NUMBER.encode("utf-16-le"),
        "portrait_template_head": tpl[:32], "portrait_template_mid": tpl[256:288], "live_template_head": live[:32],
        "portrait_jpeg_chunk": jpeg[len(jpeg) // 2: len(jpeg) // 2 + 64],
    }


def _sqlite_bytes(svc) -> bytes:
    db = svc.settings.data_dir / "idmatch.db"
    return b"".join(p.read_bytes() for p in (db, db.with_name("idmatch.db-wal"), db.with_name("idmatch.db-shm")) if p.exists())


def _pg_text(svc) -> bytes:
    out = []
    with svc.store.engine.connect() as c:
        for t in ("sessions", "templates", "images", "audit_events", "line_activations", "idempotency_keys", "api_keys", "policy"):
            out += [r[0] for r in c.execute(text(f"SELECT t::text FROM {t} t"))]
    joined = "\n".join(out)
    return joined.encode() + b"\n" + joined.encode("latin-1", "replace")


def _hexes(needles: dict[str, bytes]) -> dict[str, bytes]:
    # PostgreSQL renders bytea as \x<hex>: look for the hex of the binary needles too
    return {**needles, **{k + "_hex": v.hex().encode() for k, v in needles.items() if "template" in k or "jpeg" in k}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_clear_id_or_template_stored_and_erasure_is_real(backend, request, tmp_path, engine, images, caplog):
    svc = make_svc(backend, request, tmp_path, engine, images)
    svc.store.save_policy_overrides({"advisory_stages": ["quality", "duplicate_face"], "liveness_threshold": 0.0, "retain_images": True}, {}, actor="test")
    caplog.set_level(logging.DEBUG)
    r = svc.client.post("/v1/sessions", json={"document": DOC, "consent": {
        "text_version": "v1", "given_at": "2026-01-01T00:00:00Z", "channel": "app"}}, headers=svc.h("clerk"))
    s = r.json()
    assert svc.portrait(s["id"], images["same_a"]).status_code == 200
    assert svc.live(s["id"], [images["same_b"]], s["challenge"]["nonce"]).json()["decision"] == "approved"
    assert svc.count(StoredImage, session_id=s["id"]) == 2          # retained: encrypted
    needles = _needles(engine, images)
    with svc.store.session() as db:
        blobs = [t.blob for t in db.execute(select(Template).where(Template.session_id == s["id"])).scalars()]
        blobs += [i.blob for i in db.execute(select(StoredImage).where(StoredImage.session_id == s["id"])).scalars()]
        assert db.get(RegSession, s["id"]).id_hash == svc.store.crypto.id_hash("resident_id", NUMBER)
    raw = _sqlite_bytes(svc) if backend == "sqlite" else _pg_text(svc)
    checks = needles if backend == "sqlite" else _hexes(needles)
    for name, needle in checks.items():
        assert needle not in raw, f"{name} found in the database"
    # positive control: the search does see what is stored (the encrypted blobs)
    assert all((b[12:60] if backend == "sqlite" else b[12:60].hex().encode()) in raw for b in blobs)
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert NUMBER not in logged and DOC["number"] not in logged

    # erasure by document number: everything of the subject gone, a tombstone left, chain intact
    r = svc.client.post("/v1/erasures", json={"document": DOC}, headers=svc.h("admin"))
    assert r.json() == {"sessions": 1, "templates": 2, "images": 2, "lines": 1}
    for model, col in ((RegSession, "id"), (Template, "session_id"), (StoredImage, "session_id"), (LineActivation, "session_id")):
        assert svc.count(model, **{col: s["id"]}) == 0
    assert svc.count(LineActivation, id_hash=svc.store.crypto.id_hash("resident_id", NUMBER)) == 0
    with svc.store.session() as db:
        tomb = db.execute(select(AuditEvent).where(AuditEvent.type == "subject_erased")).scalars().all()
        assert len(tomb) == 1 and s["id"] in tomb[0].payload and NUMBER not in tomb[0].payload
    assert svc.store.verify_audit().ok
    if backend == "sqlite":
        raw = _sqlite_bytes(svc)     # secure_delete + WAL checkpoint: the ciphertexts are physically gone
        for b in blobs:
            assert b[12:60] not in raw
    svc.store.close()


def test_erase_cli_and_purge(request, tmp_path, engine, images):
    svc = make_svc("sqlite", request, tmp_path, engine, images)
    svc.store.save_policy_overrides({"advisory_stages": ["quality", "duplicate_face"], "liveness_threshold": 0.0, "retain_images": True,
                                     "image_retention_days": 7}, {}, actor="test")
    s1, r1 = svc.register(images["same_a"], [images["same_b"]])
    s2 = svc.create().json()                                       # abandoned after the portrait
    assert svc.portrait(s2["id"], images["same_a"]).status_code == 200
    with svc.store.session() as db, db.begin():
        for img in db.execute(select(StoredImage).where(StoredImage.session_id == s1["id"])).scalars():
            img.expires_at = dt.datetime(2000, 1, 1)
        db.get(RegSession, s2["id"]).expires_at = dt.datetime(2000, 1, 1)
    assert main(["purge", "--data-dir", str(svc.settings.data_dir)]) == 0
    assert svc.count(StoredImage, session_id=s1["id"]) == 0 and svc.count(Template, session_id=s1["id"]) == 2
    assert svc.count(Template, session_id=s2["id"]) == 0 and svc.count(StoredImage, session_id=s2["id"]) == 0
    with svc.store.session() as db:
        assert db.get(RegSession, s2["id"]).status == "expired"
    assert main(["erase", "--session", s1["id"], "--data-dir", str(svc.settings.data_dir)]) == 0
    assert svc.count(RegSession, id=s1["id"]) == 0 and svc.count(Template, session_id=s1["id"]) == 0
    assert main(["audit", "verify", "--data-dir", str(svc.settings.data_dir)]) == 0
    svc.store.close()


def test_rekey_reencrypts_and_drops_old_key(request, tmp_path, engine, images):
    svc = make_svc("sqlite", request, tmp_path, engine, images)
    s, _ = svc.register(images["same_a"], [images["same_b"]])
    old = svc.store.keys.active
    assert main(["rekey", "--drop-old", "--data-dir", str(svc.settings.data_dir)]) == 0
    from idmatch.store.store import Store

    fresh = Store(svc.settings)                                     # reads the rotated keys file
    assert old not in fresh.keys.enc_keys and fresh.keys.active != old
    with fresh.session() as db:
        rows = db.execute(select(Template).where(Template.session_id == s["id"])).scalars().all()
    assert rows and all(t.key_id == fresh.keys.active for t in rows)
    from idmatch.store.store import blob_aad

    tpl = np.frombuffer(fresh.crypto.decrypt(rows[0].key_id, rows[0].blob, blob_aad(s["id"], "template", rows[0].kind, rows[0].frame)), np.float32)
    assert tpl.shape == (128,) and abs(float(np.linalg.norm(tpl)) - 1) < 1e-3
    assert fresh.verify_audit().ok
    fresh.close()
    svc.store.close()
