"""The decision and retention policy in force (admin); changes are audited and beat the settings."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ...decision import Policy, PolicyUpdate
from ..auth import KeyBeforeBodyRoute, Principal, require

router = APIRouter(prefix="/v1", route_class=KeyBeforeBodyRoute)


@router.get("/policy", response_model=Policy, tags=["admin"], summary="the decision and retention policy in force")
def get_policy(request: Request, p: Principal = Depends(require("admin"))):
    return request.app.state.sessions.policy()


@router.put("/policy", response_model=Policy, tags=["admin"],
            summary="change policy fields (audited); unknown fields, out-of-range values, unknown stage names, "
                    "advisory match/liveness and an fmr outside the calibration's range are 422")
def put_policy(body: PolicyUpdate, request: Request, p: Principal = Depends(require("admin"))):
    st = request.app.state
    changes = body.model_dump(exclude_unset=True)
    current = st.sessions.policy()
    try:
        # the whole policy validates, not only the changed fields: a combination is refused here as the
        # same validation_error problem as a malformed body ({"fmr": null} already is, by PolicyUpdate)
        new = Policy.model_validate({**current.model_dump(), **changes})
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)])
    new.check_calibration(st.engine.calibration)   # 422 calibration_insufficient_data / fmr_out_of_range
    overrides = {**st.store.load_policy_overrides(), **new.model_dump(include=set(changes))}
    changed = {k: [getattr(current, k), getattr(new, k)] for k in changes if getattr(current, k) != getattr(new, k)}
    st.store.save_policy_overrides(overrides, changed, actor=p.key_id)
    return new
