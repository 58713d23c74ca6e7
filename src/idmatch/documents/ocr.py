"""The MRZ of a document photo, read offline with RapidOCR (``rapidocr-onnxruntime``: PP-OCRv4
detection and recognition ONNX models shipped in the wheel, run by onnxruntime; nothing downloaded).

Optional: install with ``pip install --no-deps rapidocr-onnxruntime==1.4.4 pyclipper shapely pyyaml six``
(``--no-deps`` because the wheel asks for the GUI ``opencv-python``, which would clash with the
``opencv-python-headless`` idmatch uses). Without it :func:`read_mrz` raises ``OcrUnavailable``.

The whole page is read; lines that look like MRZ lines are kept in reading order and
:func:`idmatch.documents.mrz.best_mrz` picks, repairs and checks the MRZ among them: a misread digit
fails its check digit, so OCR can make a document unreadable but not make a wrong number verify.
Measured on the shared specimens: reports/documents_mrz_rapidocr.json.
"""
from __future__ import annotations

import functools
import logging
import re

from ..errors import IdmatchError
from .mrz import MrzResult, best_mrz

log = logging.getLogger(__name__)


class OcrUnavailable(IdmatchError):
    code = "ocr_unavailable"
    http_status = 501


def available() -> bool:
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _engine():
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise OcrUnavailable("MRZ OCR needs rapidocr-onnxruntime (optional; see docs/documents.md)") from exc
    return RapidOCR()


def mrz_like_lines(result) -> list[str]:
    """From RapidOCR's ``[(box, text, score), ...]``: the lines of 25+ characters that are mostly
    A-Z / 0-9 / '<' and hold a filler or a date, top to bottom."""
    lines = []
    for box, text, _score in result or []:
        t = re.sub(r"\s+", "", text).upper().replace("«", "<").replace("＜", "<")
        if len(t) >= 25 and len(re.findall(r"[A-Z0-9<]", t)) >= 0.9 * len(t) and ("<" in t or re.search(r"\d{6}", t)):
            lines.append((min(p[1] for p in box), t))
    return [t for _, t in sorted(lines)]


def read_lines(image) -> list[str]:
    """MRZ-like text lines of a BGR image (numpy array)."""
    result, _ = _engine()(image)
    return mrz_like_lines(result)


def read_mrz(image) -> MrzResult:
    """The checked MRZ of a document photo (BGR array). Raises ``MrzUnreadable`` when none is found."""
    lines = read_lines(image)
    log.info("OCR: %d MRZ-like lines", len(lines))
    return best_mrz("\n".join(lines))
