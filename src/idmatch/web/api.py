"""Two small endpoints the pages need beyond the service's own.

``POST /v1/frame-check`` (clerk): coarse guidance on one camera frame *before* the live capture:
is there one face, is it centred in the terminal's oval, is it at a usable distance, is the light
good enough. Codes only (``no_face``, ``multiple_faces``, ``off_centre``, ``too_far``, ``too_close``,
``too_dark``, ``too_bright``; with ``?quality=true`` also the live-capture quality codes) -- no head
pose numbers: the capture itself is judged by the liveness stage alone, and a pose read-out would
let an attacker tune a print or a screen against the estimator. It stores, audits and decides
nothing. Detection only (no embedding): a call costs a few tens of milliseconds.

``GET /v1/review/{sid}/images`` (reviewer): the retained images of a session in review, audited.
"""
from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from ..errors import NoFaceError
from ..service.auth import Principal, require
from ..service.uploads import read_image, require_multipart

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["web"])


# the terminal's oval: centred horizontally, its centre at 47 % of the height; offsets in units of the
# frame height (the preview crops a wide camera image to 4:3, so the height is what the applicant sees)
OVAL_CENTRE_Y = 0.47
MAX_OFFSET = 0.14                 # the face centre this far from the oval's: "move to the middle"
FACE_MIN, FACE_MAX = 0.22, 0.72   # face box height / frame height: further / closer than this
LUMA_MIN, LUMA_MAX = 60.0, 215.0  # mean brightness of the face box (0-255)


def coarse_guidance(img, box) -> list[str]:
    """Advice codes for one detected face box ``(x, y, w, h)`` in a BGR frame."""
    import numpy as np

    h_img, w_img = img.shape[:2]
    x, y, w, h = (float(v) for v in box[:4])
    codes = []
    dx = (x + w / 2 - w_img / 2) / h_img
    dy = (y + h / 2 - OVAL_CENTRE_Y * h_img) / h_img
    if h / h_img < FACE_MIN:
        codes.append("too_far")
    elif h / h_img > FACE_MAX:
        codes.append("too_close")
    if max(abs(dx), abs(dy)) > MAX_OFFSET:
        codes.append("off_centre")
    x0, y0 = max(0, int(x)), max(0, int(y))
    patch = img[y0:max(y0 + 1, int(y + h)), x0:max(x0 + 1, int(x + w))]
    luma = float(np.mean(patch[..., 1])) if patch.size else 0.0     # green ~ luminance, enough for "dark"
    if luma < LUMA_MIN:
        codes.append("too_dark")
    elif luma > LUMA_MAX:
        codes.append("too_bright")
    return codes


@router.post("/frame-check",
             summary="coarse guidance on one camera frame (`image`) before the live capture: face found, centred, "
                     "distance, light -- codes only, no head pose; stores nothing")
def frame_check(request: Request, image: UploadFile | None = File(None),
                quality: bool = Query(False, description="also run the live-capture quality measures (codes + advice)"),
                p: Principal = Depends(require("clerk"))) -> dict:
    require_multipart(request)  # after auth, as the service's own upload endpoints do
    st = request.app.state
    data = read_image(image, "image", st.settings.max_upload_bytes)
    engine = st.engine
    img = engine.decode(data)
    out: dict = {"faces": 0, "guidance": {"ok": False, "codes": ["no_face"]},
                 "image_size": [int(img.shape[1]), int(img.shape[0])]}
    try:
        sel = engine.detect(img)
    except NoFaceError:
        sel = None
    if sel is not None:
        codes = ["multiple_faces"] if sel.count > 1 else coarse_guidance(img, sel.face.box)
        out.update(faces=sel.count, guidance={"ok": not codes, "codes": codes})
    if quality:
        out["quality"] = _quality(engine, img) if out["faces"] else {"passed": False, "codes": ["no_face"]}
    return out


def _quality(engine, img) -> dict | None:
    try:
        from ..quality import assess
    except ImportError:
        return None
    r = assess(engine, img, profile="live")
    return {"passed": bool(r.passed), "codes": list(r.codes), "overall": round(float(r.overall), 1)}


@router.get("/review/{sid}/images", summary="the images kept for a session in review (only while the retention policy keeps them); audited")
def review_images(sid: str, request: Request, p: Principal = Depends(require("reviewer"))) -> dict:
    """Decrypt the retained portrait and live frames of one session *in review* for the reviewer.

    Nothing is returned for decided sessions or when no image was retained (the default policy keeps
    none). Images are re-encoded as JPEG (no metadata) and sent as data URLs with ``no-store``; each
    viewing is an ``review_images_viewed`` audit event (counts only).
    """
    import base64

    import cv2
    from sqlalchemy import select

    from ..service.problems import ApiError
    from ..store.models import RegSession, StoredImage, utcnow
    from ..store.store import blob_aad

    st = request.app.state
    store = st.store
    with store.session() as db, db.begin():
        s = db.get(RegSession, sid)
        if s is None:
            raise ApiError(404, "session_not_found", f"no session {sid}")
        if s.status != "review":
            raise ApiError(409, "not_in_review", f"session is {s.status}, not awaiting review")
        rows = db.execute(select(StoredImage).where(StoredImage.session_id == sid, StoredImage.expires_at > utcnow())
                          .order_by(StoredImage.kind.desc(), StoredImage.frame)).scalars().all()
        images = []
        for r in rows:
            plain = store.crypto.decrypt(r.key_id, r.blob, blob_aad(sid, "image", r.kind, r.frame))
            ok, jpg = cv2.imencode(".jpg", st.engine.decode(plain), [cv2.IMWRITE_JPEG_QUALITY, 90])
            if ok:
                images.append({"kind": r.kind, "frame": r.frame,
                               "data_url": "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode()})
        if images:
            store.audit(db, "review_images_viewed", actor=p.key_id, session_id=sid,
                        payload={"count": len(images), "kinds": sorted({i["kind"] for i in images})})
    from fastapi.responses import JSONResponse

    return JSONResponse({"session_id": sid, "retained": bool(images), "images": images},
                        headers={"Cache-Control": "no-store"})
