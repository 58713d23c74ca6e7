"""Data-subject request: how many lines are held under my identity? (the count, nothing else)

``POST /v1/subject-requests/lines`` with ``{"document": {"type", "number"}}`` answers
``{"active_lines": n, "limit": m}``. Staff who have authenticated the person in front of them (their
document checked in store) make the request with an ``admin`` key; the document number is only
hashed, never stored, and the request is written to the audit chain without it.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from ..auth import KeyBeforeBodyRoute, Principal, require
from ..ports import StoreLines
from ..schemas import DocumentIn

router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute)


class LinesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    document: DocumentIn


class LinesOut(BaseModel):
    active_lines: int
    limit: int


@router.post("/subject-requests/lines", response_model=LinesOut, tags=["subject requests"],
             summary="count of active lines held under a data subject's identity (nothing else)")
def subject_lines(body: LinesRequest, request: Request, p: Principal = Depends(require("admin"))) -> dict:
    store = request.app.state.store
    h = store.crypto.id_hash(body.document.type, body.document.number)
    n = StoreLines(store).count_active_lines(h)
    limit = request.app.state.sessions.policy().max_lines_per_identity
    with store.session() as db, db.begin():
        store.audit(db, "subject_request", actor=p.key_id, payload={"kind": "lines_count", "active_lines": n})
    return {"active_lines": n, "limit": limit}
