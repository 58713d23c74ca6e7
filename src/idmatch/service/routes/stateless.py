"""Stateless checks for integrators: no session, no template or image stored. Each answered check is
audited (key id, endpoint, the numbers returned — never images or templates), so that a key probing
the models (e.g. the liveness scorer, hundreds of times a minute) is attributable (issue 14)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile

from ...quality import assess
from .. import metrics
from ..auth import KeyBeforeBodyRoute, Principal, require
from ..problems import ApiError
from ..uploads import read_image, require_multipart

router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute, tags=["stateless"])


@router.post("/verify", summary="1:1 compare an ID portrait with a live capture (`id_image`, `live_image`): "
                                "the score, and the policy's outcome with its reasons (the stages that need no storage)")
def verify(request: Request, id_image: UploadFile | None = File(None), live_image: UploadFile | None = File(None),
           fmr: float | None = Query(None, gt=0, lt=1), p: Principal = Depends(require("clerk"))):
    require_multipart(request)
    st = request.app.state
    policy = st.sessions.policy()
    fmr = check_fmr(st.engine, fmr or policy.fmr, policy.fmr)     # before any image is decoded
    a = st.engine.analyze(read_image(id_image, "id_image", st.settings.max_upload_bytes), role="portrait")
    b = st.engine.analyze(read_image(live_image, "live_image", st.settings.max_upload_bytes), role="live")
    if fmr != policy.fmr:
        policy = policy.model_copy(update={"fmr": fmr})
    _, outcome, reasons = st.sessions.stateless.decide_pair(policy, st.engine, a, b)
    res = st.engine.verify_analyses(a, b, fmr=policy.fmr)
    metrics.observe_timings(res.timings_ms)
    _audit(request, p, "verify", {"match": res.match, "score": res.score, "threshold": res.threshold, "fmr": fmr,
                                  "outcome": outcome})
    return {**res.to_dict(), "outcome": outcome, "reasons": [r.to_dict() for r in reasons]}


def check_fmr(engine, fmr: float, policy_fmr: float) -> float:
    """A requested FMR the calibration cannot resolve is the caller's error (422
    ``calibration_insufficient_data``, as in the library and the CLI), not a calibration_error 500. A caller may ask for a stricter operating point
    than the policy's, never a looser one (``fmr=0.99`` made any two faces "match" — a free oracle)."""
    if fmr > policy_fmr * (1 + 1e-9):
        raise ApiError(422, "fmr_out_of_range", f"fmr {fmr:g} is looser than the policy's {policy_fmr:g}; "
                       "a stateless check may only be stricter", details={"max_fmr": policy_fmr, "requested": fmr})
    lowest, _ = engine.calibration.fmr_range      # a missing/broken calibration stays a 500: it is ours
    if fmr < lowest * (1 - 1e-9):          # the library's own code for an unresolvable point (CLI, calibrate)
        raise ApiError(422, "calibration_insufficient_data",
                       f"calibration {engine.calibration.name!r} supports FMR down to {lowest:g}; {fmr:g} needs more",
                       details={"min_fmr": lowest, "lowest_supported_fmr": lowest, "requested": fmr})
    return fmr


@router.post("/quality", summary="quality assessment of one image (`image`)")
def quality(request: Request, image: UploadFile | None = File(None), role: Literal["live", "portrait"] = "live",
            p: Principal = Depends(require("clerk"))):
    require_multipart(request)
    st = request.app.state
    rep = assess(st.engine.analyze(read_image(image, "image", st.settings.max_upload_bytes), role=role), profile=role)
    out = {"passed": rep.passed, "above_floor": rep.above_floor, "codes": rep.codes, "score": round(rep.overall, 1),
           "feedback": [f.to_dict() for f in rep.feedback], "details": rep.to_dict()}
    _audit(request, p, "quality", {"role": role, **_scalars(out)})
    return out


@router.post("/liveness", summary="passive liveness score of one image (`image`)")
def liveness(request: Request, image: UploadFile | None = File(None), p: Principal = Depends(require("clerk"))):
    st = request.app.state
    pad = st.sessions.stateless.stage("liveness").pad
    if pad is None:
        raise ApiError(501, "liveness_unavailable", "the liveness model is not available in this build")
    require_multipart(request)
    data = read_image(image, "image", st.settings.max_upload_bytes)
    out = pad.score(st.engine.analyze(data, role="live")).to_dict()
    _audit(request, p, "liveness", _scalars(out))
    return out


def _scalars(out) -> dict:
    """The top-level numbers, flags and short codes of an answer (what the audit may hold)."""
    from ...store.audit import FORBIDDEN_KEYS

    if not isinstance(out, dict):
        return {}
    return {k: v for k, v in out.items() if k not in FORBIDDEN_KEYS and
            (isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 64))}


def _audit(request: Request, p: Principal, endpoint: str, payload: dict) -> None:
    store = request.app.state.store
    with store.session() as db, db.begin():
        store.audit(db, "stateless_check", actor=p.key_id, payload={"endpoint": endpoint, **payload})
