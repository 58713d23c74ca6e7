"""Read the MRZ of every document specimen in ../shared/data/documents with PassportEye (+ Debian's
tesseract-ocr) and write the raw MRZ lines per image as JSON, for ``mrz_read_rate.py`` to check with
idmatch.documents.mrz. Runs in a separate venv: ``pip install passporteye==2.2.2`` pulls scikit-image,
which idmatch itself does not need.  Usage: python ocr_passporteye.py DATA_DIR OUT.json
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from passporteye import read_mrz


def main(data: Path, out: Path) -> None:
    rows = []
    for p in sorted(data.rglob("*")):
        if p.suffix.lower() not in (".jpg", ".jpeg", ".png", ".tif", ".tiff") or "Face" in p.name:
            continue
        t0 = time.perf_counter()
        try:
            m = read_mrz(str(p), save_roi=False)
        except Exception as exc:  # a specimen the reader chokes on counts as not read
            m, err = None, f"{type(exc).__name__}: {exc}"
        else:
            err = None
        raw = m.aux.get("text", "") if m is not None else ""
        rows.append({"path": str(p.relative_to(data)), "found": m is not None, "mrz_type": getattr(m, "mrz_type", None),
                     "passporteye_valid_score": getattr(m, "valid_score", None), "lines": [l for l in raw.splitlines() if l.strip()],
                     "seconds": round(time.perf_counter() - t0, 2), "error": err})
        print(rows[-1]["path"], rows[-1]["found"], rows[-1]["passporteye_valid_score"], flush=True)
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
