"""The decision and retention policy in force (admin); changes are audited and beat the settings."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ...decision import Policy, PolicyUpdate
from ..auth import Principal, require

router = APIRouter(prefix="/v1")


@router.get("/policy", response_model=Policy, tags=["admin"], summary="the decision and retention policy in force")
def get_policy(request: Request, p: Principal = Depends(require("admin"))):
    return request.app.state.sessions.policy()


@router.put("/policy", response_model=Policy, tags=["admin"], summary="change policy fields (audited)")
def put_policy(body: PolicyUpdate, request: Request, p: Principal = Depends(require("admin"))):
    st = request.app.state
    changes = body.model_dump(exclude_unset=True)
    current = st.sessions.policy()
    new = Policy(**{**current.model_dump(), **changes})
    overrides = {**st.store.load_policy_overrides(), **changes}
    changed = {k: [getattr(current, k), v] for k, v in changes.items() if getattr(current, k) != v}
    st.store.save_policy_overrides(overrides, changed, actor=p.key_id)
    return new
