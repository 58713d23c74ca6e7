"""API keys (admin): create (the secret is shown once), list, revoke."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ..auth import KeyBeforeBodyRoute, Principal, require
from ..problems import ApiError
from ..schemas import KeyCreate, KeyCreated, KeyOut, iso

router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute)


def _key_out(k) -> dict:
    return {"id": k.id, "role": k.role, "label": k.label, "scope": k.scope, "created_at": iso(k.created_at), "revoked_at": iso(k.revoked_at)}


@router.post("/keys", status_code=201, response_model=KeyCreated, tags=["admin"], summary="create an API key (the secret is shown once)")
def create_key(body: KeyCreate, request: Request, p: Principal = Depends(require("admin"))):
    store = request.app.state.store
    nk = store.create_key(body.role, body.label, scope=body.scope, actor=p.key_id)
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
