"""MRZ parse and check (ICAO 9303, through the kept ``mrz`` package) and the cross-check against what
the clerk entered; the OCR read rate on the real specimens in ../shared/data/documents."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from mrz.generator.td1 import TD1CodeGenerator
from mrz.generator.td3 import TD3CodeGenerator

from idmatch.documents.mrz import MrzUnreadable, best_mrz, cross_check, parse_mrz, repair_ocr

REPO = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 12, 3)

# ICAO 9303 part 4 specimen (Anna Maria Eriksson), valid until 2031 here
TD3 = str(TD3CodeGenerator("P", "UTO", "Eriksson", "Anna María", "L898902C3", "UTO", "740812", "F", "310415", "ZE184226B"))
TD1 = str(TD1CodeGenerator("I", "UTO", "D23145890", "740812", "F", "310415", "UTO", "Eriksson", "Anna María"))


def _codes(findings) -> list[str]:
    return [f.code for f in findings]


def test_td3_parsed_and_every_check_verified():
    m = parse_mrz(TD3, today=TODAY)
    assert (m.format, m.document_code, m.issuing_state, m.document_number) == ("TD3", "P", "UTO", "L898902C3")
    assert (m.birth_date, m.expiry_date, m.sex) == (dt.date(1974, 8, 12), dt.date(2031, 4, 15), "F")
    assert m.valid and {"document_number_hash", "birth_date_hash", "expiry_date_hash", "optional_data_hash",
                        "final_hash"} <= set(m.checks)


def test_td1_parsed_from_ocr_like_text():
    noisy = "\n\n" + "\n".join(" ".join(ln.lower()) for ln in TD1.splitlines()) + "\n"
    m = parse_mrz(noisy, today=TODAY)
    assert m.format == "TD1" and m.document_number == "D23145890" and m.valid


@pytest.mark.parametrize("pos,check", [
    (44 + 3, "document_number_hash"),      # a digit of the document number misread
    (44 + 14, "birth_date_hash"),           # a digit of the birth date
    (44 + 22, "expiry_date_hash"),
    (44 + 30, "optional_data_hash"),
])
def test_each_misread_character_is_caught_by_its_check_digit(pos, check):
    s = TD3.replace("\n", "")
    flipped = s[:pos] + ("1" if s[pos] != "1" else "2") + s[pos + 1:]
    m = parse_mrz(flipped[:44] + "\n" + flipped[44:], today=TODAY)
    assert not m.valid and check in m.failed_checks and "final_hash" in m.failed_checks
    assert _codes(cross_check(m, today=TODAY))[0] == "mrz_check_failed"


@pytest.mark.parametrize("text", ["", "P<UTO", "A" * 44 + "\n" + "B" * 43, TD3.replace("<", "«")])
def test_not_an_mrz(text):
    with pytest.raises(MrzUnreadable) as ei:
        parse_mrz(text)
    assert ei.value.code == "mrz_unreadable"


def test_cross_check_agreeing_entry_is_consistent():
    m = parse_mrz(TD3, today=TODAY)
    f = cross_check(m, number="l898902c3", birth_date=dt.date(1974, 8, 12), expiry_date=dt.date(2031, 4, 15), today=TODAY)
    assert _codes(f) == ["mrz_consistent"] and f[0].outcome == "pass"


def test_cross_check_disagreements_are_reasons():
    m = parse_mrz(TD3, today=TODAY)
    f = cross_check(m, number="L898902C4", birth_date=dt.date(1974, 8, 13), expiry_date=dt.date(2031, 4, 15), today=TODAY)
    assert _codes(f) == ["mrz_number_mismatch", "mrz_birth_date_mismatch"]
    assert {x.outcome for x in f} == {"review"}
    assert all("L898902C" not in json.dumps(x.to_dict()) for x in f)     # no number in a reason


def test_expired_document_is_a_reason():
    m = parse_mrz(TD3, today=dt.date(2031, 4, 16))
    assert _codes(cross_check(m, today=dt.date(2031, 4, 16))) == ["document_expired"]
    assert parse_mrz(TD3, today=TODAY).expiry_date == dt.date(2031, 4, 15)    # not 1931


NO_MRZ = ("fastmrz/nomrz.jpg", "midv500/43_tur_id/images/CA/CA43_01.tif")


@pytest.mark.parametrize("ocr,minimum", [("passporteye", {"fastmrz": 6, "passporteye": 18}),
                                         ("rapidocr", {"fastmrz": 6, "idenfy": 3, "passporteye": 25})])
def test_ocr_lines_of_real_specimens_verify(shared_data, ocr, minimum):
    """The MRZ lines each OCR read from the real specimens (committed OCR output, benchmarks/documents)
    verify with every check digit as often as the committed report says, and no specimen without an
    MRZ is ever read as one."""
    rows = {r["path"]: r for r in json.loads((REPO / "benchmarks" / "documents" / f"{ocr}_ocr.json").read_text())}
    report = json.loads((REPO / "reports" / f"documents_mrz_{ocr}.json").read_text())
    assert set(rows) == {str(p.relative_to(shared_data / "documents")) for p in (shared_data / "documents").rglob("*")
                         if p.suffix.lower() in (".jpg", ".png", ".tif") and "Face" not in p.name}
    read = {}
    for path, r in rows.items():
        try:
            read[path] = best_mrz("\n".join(r["lines"])).check_digits_valid
        except MrzUnreadable:
            read[path] = False
    for name, s in report["per_set"].items():
        assert sum(ok for p, ok in read.items() if p.startswith(name + "/") and p not in NO_MRZ) == s["read"], name
        assert s["read"] >= minimum.get(name, 0), name
    assert not any(read[p] for p in NO_MRZ)
    for p in ("passporteye/tests_data/passport-td3.jpg", "fastmrz/td1.jpg", "fastmrz/td3.jpg"):
        assert read[p], p


def test_ocr_rerun_on_a_specimen(shared_data):
    """The optional OCR itself, when installed: the ICAO specimen page of fastmrz is read and verifies."""
    pytest.importorskip("rapidocr_onnxruntime", reason="MRZ OCR is an optional install (docs/documents.md)")
    import cv2

    from idmatch.documents.ocr import read_mrz

    m = read_mrz(cv2.imread(str(shared_data / "documents" / "fastmrz" / "td3.jpg")))
    assert m.check_digits_valid and m.document_number == "L898902C3"


def test_repair_undoes_layout_slips_but_not_misreads():
    ocr = "P<UTOERIKSSON<<ANNA<KMARIAK<<<K<K<X<X<<<<<<<<<<<<<\nL898902C36UT07408122F1204159ZE184226B<<<<<10"
    m = parse_mrz(repair_ocr(ocr), today=TODAY)
    assert m.check_digits_valid and m.issuing_state == "UTO" and m.nationality == "UTO"
    misread = ocr.replace("7408122", "7408123")          # a digit misread in the birth date stays caught
    assert not parse_mrz(repair_ocr(misread), today=TODAY).check_digits_valid


def test_td1_long_document_number_overflows_into_optional_data():
    """ICAO 9303 part 5: a 12-character number — 9 in place, '<', the rest and its check digit in the
    optional data; the mrz package reads only 9, idmatch checks the whole."""
    from mrz.base.functions import hash_string

    g = TD1.splitlines()
    number = "D23145890123"
    line1 = (g[0][:5] + number[:9] + "<" + number[9:] + hash_string(number)).ljust(30, "<")
    composite = line1[5:30] + g[1][0:7] + g[1][8:15] + g[1][18:29]
    line2 = g[1][:29] + hash_string(composite)
    m = parse_mrz("\n".join([line1, line2, g[2]]), today=TODAY)
    assert m.document_number == number and m.check_digits_valid, m.failed_checks
    misread = line1.replace("<1233", "<1243")
    m = parse_mrz("\n".join([misread, line2, g[2]]), today=TODAY)
    assert not m.check_digits_valid and "document_number_hash" in m.failed_checks
