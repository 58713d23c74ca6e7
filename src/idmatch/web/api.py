"""Two small endpoints the pages need beyond the service's own.

``POST /v1/frame-check`` (clerk): coarse guidance on one camera frame *before* the live capture:
is there one face, is it centred, near enough, not too near, lit. Guidance codes only -- no head
pose numbers, so the endpoint is no read-out an attacker could tune a folded print against (the
server judges the capture itself, and the prompts follow the server's schedule, not this
endpoint). It stores nothing, audits nothing and decides nothing. Detection only (no embedding),
so a call costs a few tens of milliseconds.

``GET /v1/review/{sid}/images`` (reviewer): the images of a session in review, audited -- its own (kept
for the review even when general retention is off; ``service/sessions.py`` ``_keep_images``) and, for a
duplicate-face case, those of the registrations it matched, where their retention kept any.
"""
from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from ..errors import NoFaceError
from ..service.auth import KeyBeforeBodyRoute, Principal, require
from ..service.uploads import read_image, require_multipart

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute, tags=["web"])


@router.post("/frame-check",
             summary="coarse framing guidance on one camera frame (`image`) before the live capture; stores nothing")
def frame_check(request: Request, image: UploadFile | None = File(None),
                quality: bool = Query(False, description="also run the live-capture quality measures (codes + advice)"),
                p: Principal = Depends(require("clerk"))) -> dict:
    require_multipart(request)  # after auth, as the service's own upload endpoints do
    st = request.app.state
    data = read_image(image, "image", st.settings.max_upload_bytes)
    engine = st.engine
    img = engine.decode(data)
    out: dict = {"faces": 0, "guidance": ["no_face"], "image_size": [int(img.shape[1]), int(img.shape[0])]}
    try:
        sel = engine.detect(img)
        out.update(faces=sel.count, guidance=framing(img, sel.face.box, sel.count))
    except NoFaceError:
        pass
    if quality:
        out["quality"] = _quality(engine, img) if out["faces"] else {"passed": False, "codes": ["no_face"]}
    return out


#: The terminal's oval (css/app.css ``.oval``) in the 4:3 stage the camera frame is shown in (``object-fit:
#: cover``): centre and semi-axes as fractions of the stage's width and height. Change both together.
OVAL_CENTRE = (0.5, 0.47)
OVAL_SEMI_AXES = (0.23, 0.37)
STAGE_ASPECT = 4 / 3
FACE_IN_BOX = 0.85    # the face proper, as a share of the detector's box (each side)
OVAL_SLACK = 1.15     # the face may reach this far out (oval radii): the box jitters from frame to frame


def _in_stage(w: int, h: int, x: float, y: float) -> tuple[float, float]:
    """Frame pixel -> fraction of the 4:3 stage the page shows it in (``object-fit: cover`` crops the
    longer side; the page mirrors the image, which the symmetric oval does not notice)."""
    if w / h > STAGE_ASPECT:
        vw = h * STAGE_ASPECT
        return (x - (w - vw) / 2) / vw, y / h
    vh = w / STAGE_ASPECT
    return x / w, (y - (h - vh) / 2) / vh


def face_outside_oval(w: int, h: int, box) -> float:
    """How far the face reaches outside the oval: the largest normalised radius (1 = on the oval's
    line) over eight points of the ellipse inscribed in the face box, in stage coordinates."""
    x, y, bw, bh = box
    cx, cy = x + bw / 2, y + bh / 2
    (ox, oy), (ax, ay) = OVAL_CENTRE, OVAL_SEMI_AXES
    worst = 0.0
    for k in range(8):
        t = k * math.pi / 4
        sx, sy = _in_stage(w, h, cx + bw / 2 * math.cos(t), cy + bh / 2 * math.sin(t))
        worst = max(worst, math.hypot((sx - ox) / ax, (sy - oy) / ay))
    return worst


def framing(img, box, faces: int) -> list[str]:
    """Guidance codes for the oval: ``multiple_faces``, ``off_centre`` (part of the face outside the
    oval), ``too_far``, ``too_close``, ``too_dark``, ``too_bright``; ``["ok"]`` when none applies."""
    import numpy as np

    h, w = img.shape[:2]
    x, y, bw, bh = box
    codes = []
    if faces > 1:
        codes.append("multiple_faces")
    # the face is the detector's box less its margin (forehead, chin: a face filling the oval has a box as
    # tall as the oval); larger than the oval (or cut by the frame's edge) it is too close, else it must
    # lie inside the oval, with some slack for the box's jitter
    inner = (x + bw * (1 - FACE_IN_BOX) / 2, y + bh * (1 - FACE_IN_BOX) / 2, bw * FACE_IN_BOX, bh * FACE_IN_BOX)
    (sx0, sy0), (sx1, sy1) = _in_stage(w, h, inner[0], inner[1]), _in_stage(w, h, inner[0] + inner[2], inner[1] + inner[3])
    too_close = (bw / w > 0.6 or x < 0 or y < 0 or x + bw > w or y + bh > h
                 or sx1 - sx0 > 2 * OVAL_SLACK * OVAL_SEMI_AXES[0] or sy1 - sy0 > 2 * OVAL_SLACK * OVAL_SEMI_AXES[1])
    if not too_close and face_outside_oval(w, h, inner) > OVAL_SLACK:
        codes.append("off_centre")
    if bw / w < 0.2:
        codes.append("too_far")
    elif too_close:
        codes.append("too_close")
    x0, y0 = max(0, int(x)), max(0, int(y))
    face = img[y0:y0 + max(1, int(bh)), x0:x0 + max(1, int(bw))]
    mean = float(np.mean(face)) if face.size else 0.0
    if mean < 60:
        codes.append("too_dark")
    elif mean > 215:
        codes.append("too_bright")
    return codes or ["ok"]


def _quality(engine, img) -> dict | None:
    try:
        from ..quality import assess
    except ImportError:
        return None
    r = assess(engine, img, profile="live")
    return {"passed": bool(r.passed), "codes": list(r.codes), "overall": round(float(r.overall), 1)}


@router.get("/review/{sid}/images", summary="the images of a session in review, and of the registrations a duplicate-face "
            "case matched (where kept); audited")
def review_images(sid: str, request: Request, p: Principal = Depends(require("reviewer"))) -> dict:
    """Decrypt the portrait and live frames of one session *in review* for the reviewer.

    A session sent to review keeps them (encrypted) until the review is decided, even with general
    retention off. For a ``duplicate_face`` reason, ``matched`` lists each registration the face matched
    with its score and whatever images of it are still kept (none once its own retention is over: the
    desk says so). Nothing is returned for decided sessions. Images are re-encoded as JPEG (no metadata)
    and sent as data URLs with ``no-store``; each viewing is an ``review_images_viewed`` audit event
    (counts and the matched session ids only).
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
        def images_of(session_id: str) -> list[dict]:
            rows = db.execute(select(StoredImage).where(StoredImage.session_id == session_id, StoredImage.expires_at > utcnow())
                              .order_by(StoredImage.kind.desc(), StoredImage.frame)).scalars().all()
            out = []
            for r in rows:
                plain = store.crypto.decrypt(r.key_id, r.blob, blob_aad(session_id, "image", r.kind, r.frame))
                ok, jpg = cv2.imencode(".jpg", st.engine.decode(plain), [cv2.IMWRITE_JPEG_QUALITY, 90])
                if ok:
                    out.append({"kind": r.kind, "frame": r.frame,
                                "data_url": "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode()})
            return out

        images = images_of(sid)
        matched = []
        for reason in s.reasons or []:
            if reason.get("code") != "duplicate_face":
                continue
            for hit in (reason.get("details") or {}).get("hits", []):
                ref = str(hit.get("ref", ""))
                other = db.get(RegSession, ref) if ref and ref != sid else None
                matched.append({"session_id": ref, "score": hit.get("score"),
                                "threshold": (reason.get("details") or {}).get("threshold"),
                                "document_type": other.doc_type if other else None,
                                "status": other.status if other else "erased",
                                "images": images_of(ref) if other else []})
        shown = len(images) + sum(len(m["images"]) for m in matched)
        if shown:
            store.audit(db, "review_images_viewed", actor=p.key_id, session_id=sid,
                        payload={"count": len(images), "kinds": sorted({i["kind"] for i in images}),
                                 **({"matched_sessions": [m["session_id"] for m in matched if m["images"]],
                                     "matched_count": shown - len(images)} if shown > len(images) else {})})
    from fastapi.responses import JSONResponse

    return JSONResponse({"session_id": sid, "retained": bool(images), "images": images, "matched": matched},
                        headers={"Cache-Control": "no-store"})
