"""Registration sessions (clerk): create, portrait, live capture and decision."""
from __future__ import annotations


from fastapi import APIRouter, Depends, File, Form, Header, Request, UploadFile
from fastapi.responses import JSONResponse

from ..auth import KeyBeforeBodyRoute, Principal, require
from ..schemas import SessionCreate, SessionOut
from ..sessions import parse_frame_times
from ..uploads import read_image, require_multipart

router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute)

IdemKey = Header(None, alias="Idempotency-Key", max_length=200, description="retry-safe: same key + same request → same response")


def _svc(request: Request):
    return request.app.state.sessions


@router.post("/sessions", status_code=201, response_model=SessionOut, tags=["sessions"],
             summary="start a registration session: claimed identity, consent record, challenge issued")
def create_session(req: SessionCreate, request: Request, p: Principal = Depends(require("clerk")),
                   idempotency_key: str | None = IdemKey):
    status, body = _svc(request).create(req, p, idempotency_key)
    return JSONResponse(body, status_code=status)


@router.get("/sessions/{sid}", response_model=SessionOut, tags=["sessions"], summary="session state and decision")
def get_session(sid: str, request: Request, p: Principal = Depends(require("clerk", "reviewer"))):
    return _svc(request).get(sid, p)


@router.post("/sessions/{sid}/challenge", response_model=SessionOut, tags=["sessions"],
             summary="a fresh active challenge when the current one has under 30 s left (not an attempt; audited)")
def reissue_challenge(sid: str, request: Request, p: Principal = Depends(require("clerk"))):
    return _svc(request).reissue_challenge(sid, p)


@router.put("/sessions/{sid}/portrait", response_model=SessionOut, tags=["sessions"],
            summary="attach the ID portrait (chip photo or document photo), multipart field `image`")
def attach_portrait(sid: str, request: Request, image: UploadFile | None = File(None),
                    p: Principal = Depends(require("clerk"))):
    require_multipart(request)  # after auth: callers without a key learn nothing about the endpoint
    data = read_image(image, "image", request.app.state.settings.max_upload_bytes)
    return _svc(request).attach_portrait(sid, data, p)


@router.post("/sessions/{sid}/live", response_model=SessionOut, tags=["sessions"],
             summary="attach the live capture (one or more `frames`, plus the challenge `nonce`) and decide")
def attach_live(sid: str, request: Request, frames: list[UploadFile] | None = File(None), nonce: str | None = Form(None, min_length=1),
                frame_times: str | None = Form(None, description="JSON array: each frame's capture time, seconds from the "
                                                                 "capture start (required for an active challenge)"),
                p: Principal = Depends(require("clerk")), idempotency_key: str | None = IdemKey):
    from ..problems import ApiError

    require_multipart(request)
    settings = request.app.state.settings
    if nonce is not None and not (nonce.isascii() and len(nonce) <= 256):
        # nonces are URL-safe ASCII; anything else cannot match (and compare_digest refuses non-ASCII str)
        raise ApiError(422, "challenge_mismatch", "the live capture must carry this session's challenge nonce")
    if not frames:
        raise ApiError(422, "missing_image", "form field 'frames' with at least one image is required")
    if len(frames) > settings.max_frames:
        raise ApiError(413, "too_many_frames", f"at most {settings.max_frames} frames per capture")
    data = [read_image(f, f"frames[{i}]", settings.max_upload_bytes) for i, f in enumerate(frames)]
    return _svc(request).attach_live(sid, data, nonce, p, idempotency_key, parse_frame_times(frame_times, len(data)))
