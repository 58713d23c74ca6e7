"""``POST /v1/frame-check``: the head pose of one camera frame, so the terminal can pace the challenge.

The terminal shows one challenge prompt at a time and moves to the next once the applicant has
made the movement. This endpoint only *paces the prompts*: it stores nothing, audits nothing and
decides nothing — the liveness stage checks the submitted frames on its own. Detection only (no
embedding), so a call costs a few tens of milliseconds. Pose convention as in
:mod:`idmatch.liveness.pose` (unmirrored frame: ``yaw > 0`` = the subject's left, ``pitch > 0`` = up).
"""
from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from ..errors import NoFaceError
from ..service.auth import Principal, require
from ..service.uploads import read_image, require_multipart

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["web"])


@router.post("/frame-check", dependencies=[Depends(require_multipart)],
             summary="head pose of one camera frame (`image`), to pace the challenge prompts; stores nothing")
def frame_check(request: Request, image: UploadFile | None = File(None),
                quality: bool = Query(False, description="also run the live-capture quality measures (codes + advice)"),
                p: Principal = Depends(require("clerk"))) -> dict:
    from ..liveness.pose import estimate_pose

    st = request.app.state
    data = read_image(image, "image", st.settings.max_upload_bytes)
    engine = st.engine
    img = engine.decode(data)
    out: dict = {"faces": 0, "pose": None, "image_size": [int(img.shape[1]), int(img.shape[0])]}
    try:
        sel = engine.detect(img)
        out.update(faces=sel.count, pose=estimate_pose(sel.face.landmarks).to_dict())
    except NoFaceError:
        pass
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
