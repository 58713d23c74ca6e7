"""Stateless checks for integrators: nothing is stored, nothing is audited."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from ...quality import assess
from .. import metrics
from ..auth import Principal, require
from ..problems import ApiError
from ..uploads import read_image, require_multipart

router = APIRouter(prefix="/v1", tags=["stateless"])


@router.post("/verify", summary="1:1 compare an ID portrait with a live capture (`id_image`, `live_image`): "
                                "the score, and the policy's outcome with its reasons (the stages that need no storage)")
def verify(request: Request, id_image: UploadFile | None = File(None), live_image: UploadFile | None = File(None),
           fmr: float | None = Query(None, gt=0, lt=1), p: Principal = Depends(require("clerk"))):
    require_multipart(request)
    st = request.app.state
    a = st.engine.analyze(read_image(id_image, "id_image", st.settings.max_upload_bytes), role="portrait")
    b = st.engine.analyze(read_image(live_image, "live_image", st.settings.max_upload_bytes), role="live")
    policy = st.sessions.policy()
    if fmr:
        policy = policy.model_copy(update={"fmr": fmr})
    _, outcome, reasons = st.sessions.stateless.decide_pair(policy, st.engine, a, b)
    res = st.engine.verify_analyses(a, b, fmr=policy.fmr)
    metrics.observe_timings(res.timings_ms)
    return {**res.to_dict(), "outcome": outcome, "reasons": [r.to_dict() for r in reasons]}


@router.post("/quality", summary="quality assessment of one image (`image`)")
def quality(request: Request, image: UploadFile | None = File(None), role: Literal["live", "portrait"] = "live",
            p: Principal = Depends(require("clerk"))):
    require_multipart(request)
    st = request.app.state
    rep = assess(st.engine.analyze(read_image(image, "image", st.settings.max_upload_bytes), role=role), profile=role)
    return {"passed": rep.passed, "above_floor": rep.above_floor, "codes": rep.codes, "score": round(rep.overall, 1),
            "feedback": [f.to_dict() for f in rep.feedback], "details": rep.to_dict()}


@router.post("/liveness", summary="passive liveness score of one image (`image`)")
def liveness(request: Request, image: UploadFile | None = File(None), p: Principal = Depends(require("clerk"))):
    st = request.app.state
    pad = st.sessions.stateless.stage("liveness").pad
    if pad is None:
        raise ApiError(501, "liveness_unavailable", "the liveness model is not available in this build")
    require_multipart(request)
    data = read_image(image, "image", st.settings.max_upload_bytes)
    return pad.score(st.engine.analyze(data, role="live")).to_dict()
