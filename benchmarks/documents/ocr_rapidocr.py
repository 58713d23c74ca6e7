"""Read the MRZ of every document specimen with RapidOCR through ``idmatch.documents.ocr`` (the code
the service uses) and write the MRZ-like lines per image as JSON, for ``mrz_read_rate.py``.
Needs the optional OCR install (docs/documents.md). Usage:
  PYTHONPATH=src python benchmarks/documents/ocr_rapidocr.py ../shared/data/documents benchmarks/documents/rapidocr_ocr.json
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2

from idmatch.documents.ocr import read_lines


def main(data: Path, out: Path) -> None:
    rows = []
    for p in sorted(data.rglob("*")):
        if p.suffix.lower() not in (".jpg", ".jpeg", ".png", ".tif", ".tiff") or "Face" in p.name:
            continue
        t0 = time.perf_counter()
        lines = read_lines(cv2.imread(str(p)))
        rows.append({"path": str(p.relative_to(data)), "found": bool(lines), "lines": lines,
                     "seconds": round(time.perf_counter() - t0, 2), "error": None})
        print(rows[-1]["path"], rows[-1]["lines"], flush=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
