"""Document input (clerk): what an ID-card reader, an NFC app or an MRZ reader delivers, checked and
recorded on a session — or a session opened from it, nothing typed.

multipart/form-data (url-encoded when no file is sent), ``source`` one of:

* ``resident_id_reader`` — ``number``, ``birth_date`` / ``expiry_date`` (YYYY-MM-DD, optional) and
  the chip photo as ``chip_photo``: the reader's decoded output, trusted as read;
* ``epassport_chip`` — raw ``dg1``, ``dg2`` (optional) and ``sod`` files, ``doc_type`` (default
  passport), optional ``birth_date``: passive authentication against the CSCAs in ``<data dir>/csca``;
* ``mrz`` — ``mrz`` text (2 or 3 lines), ``doc_type``, optional ``birth_date`` / ``expiry_date``;
  ``ocr=true`` when it comes from OCR (layout repaired first, check digits still decide);
* ``document_photo`` — the MRZ is read by OCR from the ``document_photo`` image (optional
  rapidocr-onnxruntime install; 501 ``ocr_unavailable`` without it), then as ``mrz``.

``document_photo`` (optional, with a chip portrait): the printed portrait page, compared with the chip
portrait (photo substitution).
"""
from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Request, UploadFile
from pydantic import BaseModel

from ...documents.mrz import repair_ocr
from ...documents.reader import DocumentCheck, check_epassport, check_mrz, check_mrz_text, check_resident_id_reader
from ..auth import KeyBeforeBodyRoute, Principal, require
from ..documents import DocumentService, load_trust, parse_date
from ..problems import ApiError
from ..schemas import ReasonOut, SessionOut
from ..uploads import read_image, require_multipart

router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute, tags=["documents"])

Source = Literal["resident_id_reader", "epassport_chip", "mrz", "document_photo"]


class DocumentResult(BaseModel):
    source: str
    doc_type: str
    portrait_from: str | None
    findings: list[ReasonOut]
    notes: list[str] = []


class DocumentOut(BaseModel):
    session: SessionOut
    document: DocumentResult


def _read_blob(upload: UploadFile | None, field: str, max_bytes: int) -> bytes | None:
    if upload is None:
        return None
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "request_too_large", f"{field}: over the {max_bytes}-byte limit", details={"limit": max_bytes})
    if not data:
        raise ApiError(422, "empty_upload", f"{field}: the upload is empty (0 bytes)")
    return data


def _check(request: Request, source: str, f: dict[str, Any]) -> DocumentCheck:
    settings = request.app.state.settings
    limit = settings.max_upload_bytes
    birth = parse_date(f["birth_date"], "birth_date")
    if source == "resident_id_reader":
        if not f["number"]:
            raise ApiError(422, "missing_field", "resident_id_reader needs the reader's `number`")
        photo = read_image(f["chip_photo"], "chip_photo", limit) if f["chip_photo"] is not None else None
        return check_resident_id_reader(f["number"], birth_date=birth, expiry_date=parse_date(f["expiry_date"], "expiry_date"),
                                        photo=photo)
    if source == "epassport_chip":
        dg1, sod = _read_blob(f["dg1"], "dg1", limit), _read_blob(f["sod"], "sod", limit)
        if dg1 is None or sod is None:
            raise ApiError(422, "missing_field", "epassport_chip needs the `dg1` and `sod` files (and `dg2` for the portrait)")
        dgs = {1: dg1}
        dg2 = _read_blob(f["dg2"], "dg2", limit)
        if dg2 is not None:
            dgs[2] = dg2
        return check_epassport(sod, dgs, load_trust(settings), doc_type=f["doc_type"], birth_date=birth)
    if source == "document_photo":
        from ...documents.ocr import read_mrz

        if f["document_photo"] is None:
            raise ApiError(422, "missing_image", "source document_photo needs the `document_photo` image")
        image = request.app.state.engine.decode(read_image(f["document_photo"], "document_photo", limit))
        f["document_photo"].file.seek(0)
        return check_mrz(read_mrz(image), doc_type=f["doc_type"], source="document_photo_ocr", birth_date=birth,
                         expiry_date=parse_date(f["expiry_date"], "expiry_date"))
    if not f["mrz"]:
        raise ApiError(422, "missing_field", "source mrz needs the `mrz` text")
    text = repair_ocr(f["mrz"]) if f["ocr"] else f["mrz"]
    return check_mrz_text(text, doc_type=f["doc_type"], birth_date=birth, expiry_date=parse_date(f["expiry_date"], "expiry_date"))


def _fields(source: Source = Form(...), number: str | None = Form(None, max_length=64), birth_date: str | None = Form(None),
            expiry_date: str | None = Form(None), doc_type: str = Form("passport", max_length=32, pattern=r"^[A-Za-z0-9_.-]+$"),
            mrz: str | None = Form(None, max_length=200), ocr: bool = Form(False),
            chip_photo: UploadFile | None = File(None), dg1: UploadFile | None = File(None),
            dg2: UploadFile | None = File(None), sod: UploadFile | None = File(None),
            document_photo: UploadFile | None = File(None)) -> dict[str, Any]:
    return dict(source=source, number=number, birth_date=birth_date, expiry_date=expiry_date, doc_type=doc_type, mrz=mrz,
                ocr=ocr, chip_photo=chip_photo, dg1=dg1, dg2=dg2, sod=sod, document_photo=document_photo)


def _require_form(request: Request) -> None:
    """multipart/form-data (files), or url-encoded when only text is sent (MRZ, reader fields)."""
    ct = request.headers.get("content-type", "").lower()
    if not ct.startswith("application/x-www-form-urlencoded"):
        require_multipart(request)


def _photo(request: Request, f: dict) -> bytes | None:
    up = f["document_photo"]
    return read_image(up, "document_photo", request.app.state.settings.max_upload_bytes) if up is not None else None


@router.post("/sessions/{sid}/document", response_model=DocumentOut,
             summary="check reader / chip / MRZ input on a session; a chip or reader photo becomes the ID portrait")
def check_document(sid: str, request: Request, p: Principal = Depends(require("clerk")), f: dict = Depends(_fields)):
    _require_form(request)
    check = _check(request, f["source"], f)
    return DocumentService(request.app.state.sessions).apply(sid, check, p, document_photo=_photo(request, f))


@router.post("/sessions/from-document", response_model=DocumentOut, status_code=201,
             summary="open a session from reader / chip / MRZ input: number from the document, consent, challenge issued")
def session_from_document(request: Request, p: Principal = Depends(require("clerk")), f: dict = Depends(_fields),
                          consent_text_version: str = Form(..., min_length=1, max_length=64),
                          consent_given_at: str = Form(..., min_length=1), consent_channel: str = Form(..., min_length=1, max_length=32),
                          liveness_mode: Literal["auto", "passive", "active"] = Form("auto"),
                          idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200,
                                                               description="a retry with the same key and document "
                                                                           "gets the same session")):
    _require_form(request)
    check = _check(request, f["source"], f)
    consent = {"text_version": consent_text_version, "given_at": consent_given_at, "channel": consent_channel}
    return DocumentService(request.app.state.sessions).create_from(check, consent, liveness_mode, p,
                                                                  document_photo=_photo(request, f), idem_key=idempotency_key)
