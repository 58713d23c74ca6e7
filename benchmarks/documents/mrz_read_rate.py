"""MRZ read rate per specimen set: the OCR output of ``ocr_passporteye.py`` or ``ocr_rapidocr.py``
idmatch.documents.mrz (every check digit and field format of the kept ``mrz`` package).

A specimen counts as *read* when an ICAO 9303 layout was recovered (``repair_ocr``) and every check
digit verifies: the document number, birth date, expiry date and optional data each carry one and
the composite covers them together, so a misread character in a field compared with the clerk's
entry is caught. Names carry no check digit (``all_fields_valid`` also requires the name and country
formats); idmatch compares no names.
Specimens that show no MRZ (a payment card; the front of a Turkish ID card) are reported apart: the
right answer there is "no MRZ".

Usage: PYTHONPATH=src python benchmarks/documents/mrz_read_rate.py OCR.json REPORT.json
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

from idmatch.documents.mrz import MrzUnreadable, best_mrz

NO_MRZ = {"fastmrz/nomrz.jpg",                          # a payment card
          "midv500/43_tur_id/images/CA/CA43_01.tif"}   # the Turkish ID card's front: its MRZ is on the back


OCR_NAMES = {"passporteye_ocr": "passporteye 2.2.2 + tesseract-ocr 5.3.0 (Debian), eng model",
             "rapidocr_ocr": "rapidocr-onnxruntime 1.4.4 (PP-OCRv4 det/rec ONNX models shipped in the wheel)"}


def judge(row: dict) -> dict:
    if not row["lines"]:
        return {"status": "not_found"}
    try:
        m = best_mrz("\n".join(row["lines"]))
    except MrzUnreadable as exc:
        return {"status": "unreadable", "why": exc.message}
    return {"status": "read" if m.check_digits_valid else "check_failed", "all_fields_valid": m.valid,
            "format": m.format, "failed_checks": m.failed_checks}


def main(ocr: Path, out: Path) -> None:
    rows = json.loads(ocr.read_text())
    per_set: dict[str, dict] = defaultdict(lambda: {"with_mrz": 0, "read": 0, "check_failed": 0, "unreadable": 0,
                                                    "not_found": 0, "no_mrz_specimens": 0, "no_mrz_false_reads": 0})
    items = []
    for r in rows:
        j = judge(r)
        s = per_set[r["path"].split("/")[0]]
        if r["path"] in NO_MRZ:
            s["no_mrz_specimens"] += 1
            s["no_mrz_false_reads"] += j["status"] == "read"
        else:
            s["with_mrz"] += 1
            s[j["status"]] += 1
        items.append({"path": r["path"], "seconds": r["seconds"], **j})
    for s in per_set.values():
        s["read_rate"] = round(s["read"] / s["with_mrz"], 3) if s["with_mrz"] else None
    for r, it in zip(rows, items):
        per_set[r["path"].split("/")[0]].setdefault("all_fields_valid", 0)
        per_set[r["path"].split("/")[0]]["all_fields_valid"] += bool(it.get("all_fields_valid"))
        if "passporteye_valid_score" in r:   # PassportEye's own verdict (valid_score == 100), for comparison
            per_set[r["path"].split("/")[0]].setdefault("passporteye_own_valid", 0)
            per_set[r["path"].split("/")[0]]["passporteye_own_valid"] += r["passporteye_valid_score"] == 100
    report = {"ocr": OCR_NAMES.get(ocr.stem, ocr.stem), "checker": "idmatch.documents.mrz.best_mrz (mrz 0.6.2)",
              "per_set": dict(per_set), "items": items}
    out.write_text(json.dumps(report, indent=1) + "\n")
    for name, s in per_set.items():
        print(f"{name:12s} read {s['read']}/{s['with_mrz']} ({s['read_rate']}) check_failed {s['check_failed']} "
              f"unreadable {s['unreadable']} not_found {s['not_found']}; no-MRZ specimens {s['no_mrz_specimens']} "
              f"false reads {s['no_mrz_false_reads']}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
