"""Admin (keys, policy, erasure) and auditor (audit log, chain verification) endpoints."""
from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from ..store.models import AuditEvent
from .auth import Principal, require
from .policy import Policy, PolicyUpdate
from .problems import ApiError
from .schemas import AuditEventOut, AuditVerifyOut, EraseIn, EraseOut, KeyCreate, KeyCreated, KeyOut, iso

router = APIRouter(prefix="/v1")


def _key_out(k) -> dict:
    return {"id": k.id, "role": k.role, "label": k.label, "created_at": iso(k.created_at), "revoked_at": iso(k.revoked_at)}


@router.post("/keys", status_code=201, response_model=KeyCreated, tags=["admin"], summary="create an API key (the secret is shown once)")
def create_key(body: KeyCreate, request: Request, p: Principal = Depends(require("admin"))):
    store = request.app.state.store
    nk = store.create_key(body.role, body.label, actor=p.key_id)
    k = next(k for k in store.list_keys() if k.id == nk.id)
    return {**_key_out(k), "key": nk.secret}


@router.get("/keys", response_model=list[KeyOut], tags=["admin"], summary="list API keys (no secrets)")
def list_keys(request: Request, p: Principal = Depends(require("admin"))):
    return [_key_out(k) for k in request.app.state.store.list_keys()]


@router.delete("/keys/{kid}", response_model=KeyOut, tags=["admin"], summary="revoke an API key")
def revoke_key(kid: str, request: Request, p: Principal = Depends(require("admin"))):
    if kid == p.key_id:
        raise ApiError(409, "cannot_revoke_self", "an admin key cannot revoke itself")
    return _key_out(request.app.state.store.revoke_key(kid, actor=p.key_id))


@router.get("/policy", response_model=Policy, tags=["admin"], summary="the decision and retention policy in force")
def get_policy(request: Request, p: Principal = Depends(require("admin"))):
    return request.app.state.sessions.policy()


@router.put("/policy", response_model=Policy, tags=["admin"], summary="change policy fields (audited)")
def put_policy(body: PolicyUpdate, request: Request, p: Principal = Depends(require("admin"))):
    st = request.app.state
    changes = body.model_dump(exclude_unset=True)
    current = st.sessions.policy()
    new = Policy(**{**current.model_dump(), **changes})
    overrides = {**st.store.load_policy_overrides(), **changes}
    changed = {k: [getattr(current, k), v] for k, v in changes.items() if getattr(current, k) != v}
    st.store.save_policy_overrides(overrides, changed, actor=p.key_id)
    return new


@router.post("/erasures", response_model=EraseOut, tags=["admin"],
             summary="erase a data subject (by document, or by one of their sessions): templates, images, sessions, lines")
def erase(body: EraseIn, request: Request, p: Principal = Depends(require("admin"))):
    store = request.app.state.store
    if (body.document is None) == (body.session_id is None):
        raise ApiError(422, "erase_target", "give exactly one of document or session_id")
    if body.document is not None:
        return store.erase_subject(body.document.type, body.document.number, actor=p.key_id)
    return store.erase_session(body.session_id, actor=p.key_id)


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
