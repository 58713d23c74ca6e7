"""`idmatch document check`: numbers from standard input (never argv), MRZ files, e-passport chip files
against a trust folder; exit 0 all pass, 1 review/fail, 2 bad input."""
from __future__ import annotations

import io
import json

import pytest
from mrz.generator.td3 import TD3CodeGenerator

from chip_pki import flip, jpeg_face, make_dg1, make_dg2, make_pki, make_sod
from idmatch.cli import main

MRZ = str(TD3CodeGenerator("P", "UTO", "Eriksson", "Anna María", "L898902C3", "UTO", "740812", "F", "310415", "ZE184226B"))


def _run(argv, capsys, monkeypatch, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["document", "check", "--json", *argv])
    out = capsys.readouterr().out.strip()
    return code, json.loads(out) if out else None


def test_number_from_stdin(capsys, monkeypatch):
    code, out = _run(["--type", "resident_id"], capsys, monkeypatch, "11010519491231002x\n")
    assert code == 0 and out["valid"] and out["rule"] == "gb11643"
    code, out = _run(["--type", "resident_id"], capsys, monkeypatch, "110105194912310021\n")
    assert code == 2 and out["error"]["code"] == "document_number_invalid" and out["error"]["details"]["rule"] == "check_character"


def test_mrz_file(tmp_path, capsys, monkeypatch):
    f = tmp_path / "mrz.txt"
    f.write_text(MRZ)
    code, out = _run(["--mrz", str(f), "--birth-date", "1974-08-12"], capsys, monkeypatch)
    assert code == 0 and [x["code"] for x in out["findings"]] == ["mrz_consistent"] and out["mrz"]["format"] == "TD3"
    code, out = _run(["--mrz", str(f), "--birth-date", "1974-08-13"], capsys, monkeypatch)
    assert code == 1 and [x["code"] for x in out["findings"]] == ["mrz_birth_date_mismatch"]
    f.write_text("not an mrz")
    assert _run(["--mrz", str(f)], capsys, monkeypatch)[0] == 2


def test_chip_files_with_trust_folder(tmp_path, capsys, monkeypatch):
    pki = make_pki()
    dgs = {1: make_dg1(MRZ), 2: make_dg2(jpeg_face(size=(102, 126)))}
    for name, data in (("sod", make_sod(pki, dgs)), ("dg1", dgs[1]), ("dg2", dgs[2])):
        (tmp_path / name).write_bytes(data)
    trust = tmp_path / "csca"
    trust.mkdir()
    (trust / "utopia.pem").write_bytes(pki.csca_pem())
    args = ["--sod", str(tmp_path / "sod"), "--dg1", str(tmp_path / "dg1"), "--dg2", str(tmp_path / "dg2")]
    code, out = _run(args + ["--trust", str(trust), "--portrait-out", str(tmp_path / "face.jpg")], capsys, monkeypatch)
    assert code == 0 and [x["code"] for x in out["findings"]] == ["chip_authenticated"]
    assert (tmp_path / "face.jpg").read_bytes().startswith(b"\xff\xd8\xff")
    code, out = _run(args, capsys, monkeypatch)                       # no trust list: the chain is unknown
    assert code == 1 and [x["code"] for x in out["findings"]] == ["csca_unknown"]
    (tmp_path / "dg2").write_bytes(flip(dgs[2], 100))
    code, out = _run(args + ["--trust", str(trust)], capsys, monkeypatch)
    assert code == 1 and out["findings"][0]["code"] == "chip_hash_mismatch"


@pytest.mark.parametrize("birth,code,codes", [(None, 0, ["reader_data_accepted"]), ("1949-12-30", 1, ["reader_birth_date_mismatch"])])
def test_resident_id_reader_output(capsys, monkeypatch, birth, code, codes):
    argv = ["--reader-number-stdin"] + (["--birth-date", birth] if birth else [])
    got, out = _run(argv, capsys, monkeypatch, "11010519491231002X\n")
    assert got == code and [x["code"] for x in out["findings"]] == codes


def test_document_photo_by_ocr(shared_data, capsys, monkeypatch):
    pytest.importorskip("rapidocr_onnxruntime", reason="MRZ OCR is an optional install (docs/documents.md)")
    page = shared_data / "documents" / "fastmrz" / "td3.jpg"
    code, out = _run(["--image", str(page), "--birth-date", "1974-08-12"], capsys, monkeypatch)
    assert out["source"] == "document_photo_ocr" and out["mrz"]["format"] == "TD3"
    assert [x["code"] for x in out["findings"]] == ["document_expired"] and code == 1     # the ICAO specimen expired in 2012
