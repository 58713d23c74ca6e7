"""Erasure of a data subject (admin)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ..auth import KeyBeforeBodyRoute, Principal, require
from ..problems import ApiError
from ..schemas import EraseIn, EraseOut

router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute)


@router.post("/erasures", response_model=EraseOut, tags=["admin"],
             summary="erase a data subject (by document, or by one of their sessions): templates, images, sessions, lines")
def erase(body: EraseIn, request: Request, p: Principal = Depends(require("admin"))):
    store = request.app.state.store
    if (body.document is None) == (body.session_id is None):
        raise ApiError(422, "erase_target", "give exactly one of document or session_id")
    if body.document is not None:
        return store.erase_subject(body.document.type, body.document.number, actor=p.key_id)
    return store.erase_session(body.session_id, actor=p.key_id)
