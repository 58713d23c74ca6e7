"""Document checks at the API: a claimed number is validated per type (422 ``document_number_invalid``
naming the rule) and stored as the keyed hash of its canonical form, so variants are one identity."""
from __future__ import annotations

import pytest

from idmatch.store.models import RegSession

from .conftest import BACKENDS, make_svc


@pytest.fixture(scope="module", params=BACKENDS)
def dsvc(request, tmp_path_factory, engine, images):
    s = make_svc(request.param, request, tmp_path_factory.mktemp(f"docs-{request.param}"), engine, images)
    yield s
    s.client.close()
    s.store.close()


@pytest.mark.parametrize("doc_type,number,rule", [
    ("resident_id", "abc", "length"),
    ("resident_id", "110105194912310021", "check_character"),
    ("passport", "E123456789", "length"),
])
def test_invalid_number_is_a_422_problem_naming_the_rule(dsvc, doc_type, number, rule):
    r = dsvc.create(number, doc_type=doc_type)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "document_number_invalid" and body["type"].endswith("document_number_invalid")
    assert body["details"] == {"doc_type": doc_type, "rule": rule}
    assert number not in r.text


def test_variants_of_one_number_are_one_identity(dsvc):
    ids = [dsvc.create(n).json()["id"] for n in ("11010519491231002X", "110105 1949 1231 002x", "１１０１０５１９４９１２３１００２ｘ")]
    with dsvc.store.session() as db:
        hashes = {db.get(RegSession, sid).id_hash for sid in ids}
    assert hashes == {dsvc.store.crypto.id_hash("resident_id", "11010519491231002X")}


# -- reader / chip / MRZ input ---------------------------------------------------------------------------
import io  # noqa: E402
import json  # noqa: E402

from mrz.generator.td3 import TD3CodeGenerator  # noqa: E402

from chip_pki import flip, make_dg1, make_dg2, make_pki, make_sod  # noqa: E402
from idmatch.store.models import AuditEvent  # noqa: E402

from .conftest import new_number  # noqa: E402

CONSENT = {"consent_text_version": "consent-2025-01", "consent_given_at": "2026-01-01T10:00:00Z", "consent_channel": "store"}
PASSPORT_MRZ = str(TD3CodeGenerator("P", "UTO", "Eriksson", "Anna María", "L898902C3", "UTO", "740812", "F", "310415", "ZE184226B"))


def chip_photo(data: bytes) -> bytes:
    """An LFW photo cut to the face and scaled to the resident ID chip's 102 × 126."""
    from PIL import Image

    im = Image.open(io.BytesIO(data)).convert("RGB").crop((68, 48, 182, 188)).resize((102, 126))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def pki(dsvc):
    pki = make_pki()
    folder = dsvc.settings.data_dir / "csca"
    folder.mkdir(exist_ok=True)
    (folder / "utopia.pem").write_bytes(pki.csca_pem())
    return pki


def _passport(pki, images, face="same_a"):
    dgs = {1: make_dg1(PASSPORT_MRZ), 2: make_dg2(chip_photo(images[face]))}
    return dgs, make_sod(pki, dgs)


def _chip_files(dgs, sod):
    return [("dg1", ("dg1.bin", dgs[1], "application/octet-stream")), ("dg2", ("dg2.bin", dgs[2], "application/octet-stream")),
            ("sod", ("sod.bin", sod, "application/octet-stream"))]


def _codes(body) -> list[str]:
    return [r["code"] for r in body["document"]["findings"]]


def _live(svc, out, frame):
    s = out["session"]
    return svc.live(s["id"], [frame], s["challenge"]["nonce"]).json()


def test_session_filled_from_resident_id_reader_end_to_end(dsvc, images):
    number = new_number()
    r = dsvc.client.post("/v1/sessions/from-document", headers=dsvc.h("clerk"),
                         data={"source": "resident_id_reader", "number": number, **CONSENT},
                         files={"chip_photo": ("photo.jpg", chip_photo(images["same_a"]), "image/jpeg")})
    assert r.status_code == 201, r.text
    out = r.json()
    assert _codes(out) == ["reader_data_accepted"] and out["document"]["portrait_from"] == "resident_id_chip"
    assert out["session"]["status"] == "awaiting_live"              # the chip photo is the ID portrait
    decided = _live(dsvc, out, images["same_b"])
    assert decided["decision"] == "approved", decided
    assert any(x["stage"] == "document" and x["code"] == "reader_data_accepted" for x in decided["reasons"])
    with dsvc.store.session() as db:
        assert db.get(RegSession, out["session"]["id"]).id_hash == dsvc.store.crypto.id_hash("resident_id", number)
        ev = [e for e in db.query(AuditEvent).filter(AuditEvent.session_id == out["session"]["id"]) if e.type == "document_checked"]
    payload = json.loads(ev[0].payload) if isinstance(ev[0].payload, str) else ev[0].payload
    assert len(ev) == 1 and payload["source"] == "resident_id_reader" and payload["codes"] == ["reader_data_accepted"]
    assert number not in json.dumps(payload) and number not in str(ev[0].payload)


def test_reader_birth_date_disagreeing_with_the_number_goes_to_review(dsvc, images):
    s = dsvc.create("11010519491231002X").json()
    r = dsvc.client.post(f"/v1/sessions/{s['id']}/document", headers=dsvc.h("clerk"),
                         data={"source": "resident_id_reader", "number": "11010519491231002X", "birth_date": "1949-12-30"})
    assert r.status_code == 200, r.text
    assert _codes(r.json()) == ["reader_birth_date_mismatch"]


def test_session_filled_from_epassport_chip_end_to_end(dsvc, images, pki):
    dgs, sod = _passport(pki, images)
    r = dsvc.client.post("/v1/sessions/from-document", headers=dsvc.h("clerk"),
                         data={"source": "epassport_chip", "doc_type": "passport", **CONSENT}, files=_chip_files(dgs, sod))
    assert r.status_code == 201, r.text
    out = r.json()
    assert _codes(out) == ["chip_authenticated"] and out["document"]["portrait_from"] == "epassport_dg2"
    assert out["session"]["document_type"] == "passport" and out["session"]["status"] == "awaiting_live"
    assert _live(dsvc, out, images["same_b"])["decision"] == "approved"
    with dsvc.store.session() as db:
        assert db.get(RegSession, out["session"]["id"]).id_hash == dsvc.store.crypto.id_hash("passport", "L898902C3")
    if dsvc.backend == "sqlite":
        raw = b"".join(p.read_bytes() for p in dsvc.settings.data_dir.glob("idmatch.db*"))
    else:
        from sqlalchemy import text
        with dsvc.store.engine.connect() as c:
            raw = "\n".join(r[0] for t in ("sessions", "audit_events", "templates", "images")
                            for r in c.execute(text(f"SELECT t::text FROM {t} t"))).encode()
    for needle in (b"ERIKSSON", b"L898902C3", sod[40:80], dgs[2][-64:]):     # raw chip data is not stored
        assert needle not in raw and needle.hex().encode() not in raw


def test_tampered_chip_portrait_is_rejected_and_not_used(dsvc, images, pki):
    dgs, sod = _passport(pki, images)
    dgs[2] = flip(dgs[2], len(dgs[2]) // 2)
    r = dsvc.client.post("/v1/sessions/from-document", headers=dsvc.h("clerk"),
                         data={"source": "epassport_chip", **CONSENT}, files=_chip_files(dgs, sod))
    assert r.status_code == 201, r.text
    out = r.json()
    assert "chip_hash_mismatch" in _codes(out) and out["document"]["portrait_from"] is None
    assert out["session"]["status"] == "awaiting_portrait"
    assert {f["outcome"] for f in out["document"]["findings"] if f["code"] == "chip_hash_mismatch"} == {"fail"}


def test_chip_from_an_untrusted_csca(dsvc, images):
    dgs, sod = _passport(make_pki(country="XX", csca_cn="CSCA Elsewhere"), images)
    r = dsvc.client.post("/v1/sessions/from-document", headers=dsvc.h("clerk"),
                         data={"source": "epassport_chip", **CONSENT}, files=_chip_files(dgs, sod))
    assert _codes(r.json()) == ["csca_unknown"]


def test_typed_number_disagreeing_with_the_mrz_goes_to_review(dsvc, images):
    s = dsvc.create("L898902C4", doc_type="passport").json()           # one character off the MRZ's
    r = dsvc.client.post(f"/v1/sessions/{s['id']}/document", headers=dsvc.h("clerk"),
                         data={"source": "mrz", "doc_type": "passport", "mrz": PASSPORT_MRZ})
    assert r.status_code == 200, r.text
    assert _codes(r.json()) == ["mrz_number_mismatch"]
    assert dsvc.portrait(s["id"], images["same_a"]).status_code == 200
    decided = dsvc.live(s["id"], [images["same_b"]], s["challenge"]["nonce"]).json()
    assert decided["decision"] == "review"
    assert [x["code"] for x in decided["reasons"] if x["outcome"] == "review"] == ["mrz_number_mismatch"]


def test_agreeing_mrz_from_ocr_passes(dsvc):
    s = dsvc.create("L898902C3", doc_type="passport").json()
    line1, line2 = PASSPORT_MRZ.splitlines()
    ocr = line1.replace("ANNA<MARIA<<<", "ANNA<KMARIAK<K<") + "<X<X\n" + line2.replace("UTO", "UT0") + "  "   # OCR slips
    r = dsvc.client.post(f"/v1/sessions/{s['id']}/document", headers=dsvc.h("clerk"),
                         data={"source": "mrz", "doc_type": "passport", "mrz": ocr, "ocr": "true"})
    assert r.status_code == 200, r.text
    assert _codes(r.json()) == ["mrz_consistent"]


def test_printed_portrait_of_another_face_is_photo_substitution(dsvc, images, pki):
    dgs, sod = _passport(pki, images)
    r = dsvc.client.post("/v1/sessions/from-document", headers=dsvc.h("clerk"), data={"source": "epassport_chip", **CONSENT},
                         files=_chip_files(dgs, sod) + [("document_photo", ("page.jpg", images["imp_b"], "image/jpeg"))])
    out = r.json()
    assert _codes(out) == ["chip_authenticated", "portrait_substitution_suspected"], out
    sub = out["document"]["findings"][1]
    assert sub["outcome"] == "fail" and sub["details"]["score"] < sub["details"]["threshold"]
    r = dsvc.client.post("/v1/sessions/from-document", headers=dsvc.h("clerk"), data={"source": "epassport_chip", **CONSENT},
                         files=_chip_files(dgs, sod) + [("document_photo", ("page.jpg", images["same_c"], "image/jpeg"))])
    assert _codes(r.json()) == ["chip_authenticated", "portraits_agree"]


@pytest.mark.parametrize("data,files,code", [
    ({"source": "mrz", "mrz": "P<UTO"}, None, "mrz_unreadable"),
    ({"source": "resident_id_reader", "number": "abc"}, None, "document_number_invalid"),
    ({"source": "epassport_chip"}, [("dg1", ("dg1", b"\x61\x00", "application/octet-stream")),
                                    ("sod", ("sod", b"garbage", "application/octet-stream"))], "chip_data_malformed"),
    ({"source": "epassport_chip"}, None, "missing_field"),
])
def test_bad_document_input_is_a_problem(dsvc, data, files, code):
    s = dsvc.create().json()
    r = dsvc.client.post(f"/v1/sessions/{s['id']}/document", headers=dsvc.h("clerk"), data=data, files=files or
                         [("none", ("x", b"x", "application/octet-stream"))])
    assert r.status_code == 422 and r.json()["code"] == code, r.text


def test_mrz_read_by_ocr_from_a_document_photo(dsvc, shared_data):
    pytest.importorskip("rapidocr_onnxruntime", reason="MRZ OCR is an optional install (docs/documents.md)")
    page = (shared_data / "documents" / "idenfy" / "TheresaMay.jpg").read_bytes()
    s = dsvc.create("107185703", doc_type="passport").json()
    r = dsvc.client.post(f"/v1/sessions/{s['id']}/document", headers=dsvc.h("clerk"),
                         data={"source": "document_photo", "doc_type": "passport", "birth_date": "1985-01-17"},
                         files={"document_photo": ("page.jpg", page, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert r.json()["document"]["source"] == "document_photo_ocr" and _codes(r.json()) == ["mrz_consistent"]
    other = dsvc.create("107185704", doc_type="passport").json()       # typed one digit off → review
    r = dsvc.client.post(f"/v1/sessions/{other['id']}/document", headers=dsvc.h("clerk"),
                         data={"source": "document_photo", "doc_type": "passport"},
                         files={"document_photo": ("page.jpg", page, "image/jpeg")})
    assert _codes(r.json()) == ["mrz_number_mismatch"]


def test_page_photo_attached_first_is_compared_with_the_chip_portrait(dsvc, images, pki):
    """The clerk photographed the passport page (attached as the ID portrait), then read the chip:
    the printed portrait of another face is photo substitution; the chip portrait becomes the ID portrait."""
    dgs, sod = _passport(pki, images)
    for page, code in ((images["imp_b"], "portrait_substitution_suspected"), (images["same_c"], "portraits_agree")):
        s = dsvc.create("L898902C3", doc_type="passport").json()
        assert dsvc.portrait(s["id"], page).status_code == 200
        r = dsvc.client.post(f"/v1/sessions/{s['id']}/document", headers=dsvc.h("clerk"),
                             data={"source": "epassport_chip"}, files=_chip_files(dgs, sod))
        assert r.status_code == 200, r.text
        assert _codes(r.json()) == ["chip_authenticated", code]
    decided = dsvc.live(s["id"], [images["same_b"]], s["challenge"]["nonce"]).json()
    assert decided["decision"] == "approved"


def test_repeated_chip_read_is_not_compared_with_itself(dsvc, images, pki):
    dgs, sod = _passport(pki, images)
    s = dsvc.create("L898902C3", doc_type="passport").json()
    for _ in range(2):
        r = dsvc.client.post(f"/v1/sessions/{s['id']}/document", headers=dsvc.h("clerk"),
                             data={"source": "epassport_chip"}, files=_chip_files(dgs, sod))
        assert _codes(r.json()) == ["chip_authenticated"]


def test_policy_can_reject_a_number_disagreeing_with_the_mrz(dsvc):
    admin = dsvc.h("admin")
    assert dsvc.client.put("/v1/policy", json={"document_outcomes": {"mrz_number_mismatch": "fail"}}, headers=admin).status_code == 200
    try:
        s = dsvc.create("L898902C4", doc_type="passport").json()
        r = dsvc.client.post(f"/v1/sessions/{s['id']}/document", headers=dsvc.h("clerk"),
                             data={"source": "mrz", "doc_type": "passport", "mrz": PASSPORT_MRZ})
        assert [(f["code"], f["outcome"]) for f in r.json()["document"]["findings"]] == [("mrz_number_mismatch", "fail")]
    finally:
        dsvc.client.put("/v1/policy", json={"document_outcomes": {}}, headers=admin)


def test_from_document_retry_with_the_same_key_is_the_same_session(dsvc):
    data = {"source": "resident_id_reader", "number": new_number(), **CONSENT}
    key = {"Idempotency-Key": "reader-" + data["number"]}
    a = dsvc.client.post("/v1/sessions/from-document", headers=dsvc.h("clerk", **key), data=data)
    b = dsvc.client.post("/v1/sessions/from-document", headers=dsvc.h("clerk", **key), data=data)
    assert a.status_code == b.status_code == 201 and a.json()["session"]["id"] == b.json()["session"]["id"]
