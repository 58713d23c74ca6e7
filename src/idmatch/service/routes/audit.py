"""The audit log and its hash-chain verification (auditor)."""
from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from ...store.models import AuditEvent
from ..auth import KeyBeforeBodyRoute, Principal, require
from ..schemas import AuditEventOut, AuditVerifyOut

router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute)


@router.get("/audit/events", response_model=list[AuditEventOut], tags=["audit"], summary="audit events after a sequence number")
def audit_events(request: Request, after: int = Query(0, ge=0, le=2 ** 31 - 1), limit: int = Query(100, ge=1, le=1000),
                 session_id: str | None = Query(None, max_length=64), p: Principal = Depends(require("auditor"))):
    q = select(AuditEvent).where(AuditEvent.seq > after)
    if session_id:
        q = q.where(AuditEvent.session_id == session_id)
    with request.app.state.store.session() as db:
        rows = db.execute(q.order_by(AuditEvent.seq).limit(limit)).scalars().all()
        return [{"seq": e.seq, "ts": e.ts, "type": e.type, "session_id": e.session_id, "actor": e.actor,
                 "payload": json.loads(e.payload), "prev_hash": e.prev_hash, "hash": e.hash} for e in rows]


@router.get("/audit/verify", response_model=AuditVerifyOut, tags=["audit"], summary="verify the whole audit hash chain")
def audit_verify(request: Request, p: Principal = Depends(require("auditor"))):
    return request.app.state.store.verify_audit().to_dict()
