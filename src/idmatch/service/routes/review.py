"""The manual review queue (reviewer)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from ..auth import KeyBeforeBodyRoute, Principal, require
from ..schemas import ReviewIn, ReviewItem, SessionOut

router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute)


@router.get("/review", response_model=list[ReviewItem], tags=["review"], summary="sessions awaiting manual review, oldest first")
def review_queue(request: Request, limit: int = Query(50, ge=1, le=500), p: Principal = Depends(require("reviewer"))):
    return request.app.state.sessions.review_queue(limit)


@router.post("/review/{sid}", response_model=SessionOut, tags=["review"], summary="approve or reject a session in review, with a written reason")
def review_session(sid: str, body: ReviewIn, request: Request, p: Principal = Depends(require("reviewer"))):
    return request.app.state.sessions.review(sid, body.outcome, body.reason, p)
