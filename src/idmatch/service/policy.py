"""The live decision policy: settings give defaults, the admin overrides through ``PUT /v1/policy``."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..settings import Settings


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fmr: float = Field(1e-4, gt=0, lt=1, description="target false-match rate of the match stage")
    review_margin: float = Field(0.05, ge=0, le=1, description="scores this far below the threshold go to manual review")
    liveness_threshold: float | None = Field(None, ge=0, le=1, description="None: the liveness model's own threshold")
    require_liveness: bool = Field(False, description="send to review when no liveness result is available")
    max_lines_per_identity: int = Field(5, ge=1, description="active lines one identity may hold")
    line_limit_outcome: Literal["fail", "review"] = Field(
        "fail", description="a registration over the line limit is rejected (fail) or sent to manual review")
    retain_images: bool = Field(False, description="keep raw uploads, encrypted, for dispute handling")
    image_retention_days: int = Field(30, ge=1, le=3650)
    session_ttl_s: int = Field(900, ge=30, le=7 * 86400)
    liveness_mode: Literal["passive", "active", "either"] = Field(
        "passive", description="passive: one frame, PAD only; active: head-movement challenge (idmatch.liveness) "
                               "over several frames; either: the client picks, `auto` meaning active when available")
    advisory_stages: list[str] = Field(default_factory=list,
                                       description="stages whose review/fail results are recorded as info only (e.g. during a pilot)")

    @classmethod
    def defaults(cls, s: Settings) -> "Policy":
        return cls(fmr=s.fmr, review_margin=s.review_margin, liveness_threshold=s.liveness_threshold, require_liveness=s.require_liveness,
                   max_lines_per_identity=s.max_lines_per_identity, line_limit_outcome=s.line_limit_outcome,
                   retain_images=s.retain_images,
                   image_retention_days=s.image_retention_days, session_ttl_s=s.session_ttl_s,
                   liveness_mode=s.liveness_mode)


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fmr: float | None = Field(None, gt=0, lt=1)
    review_margin: float | None = Field(None, ge=0, le=1)
    liveness_threshold: float | None = Field(None, ge=0, le=1)
    require_liveness: bool | None = None
    max_lines_per_identity: int | None = Field(None, ge=1)
    line_limit_outcome: Literal["fail", "review"] | None = None
    retain_images: bool | None = None
    image_retention_days: int | None = Field(None, ge=1, le=3650)
    session_ttl_s: int | None = Field(None, ge=30, le=7 * 86400)
    advisory_stages: list[str] | None = None
    liveness_mode: Literal["passive", "active", "either"] | None = None


def effective_policy(settings: Settings, overrides: dict) -> Policy:
    base = Policy.defaults(settings).model_dump()
    base.update({k: v for k, v in overrides.items() if k in base})
    return Policy(**base)
