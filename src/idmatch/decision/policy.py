"""The live policy (settings give its defaults once; the admin's stored overrides win) and the
:class:`DecisionPolicy` that runs the stages."""
from __future__ import annotations

import logging
from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from ..errors import CalibrationInsufficientDataError, PolicyValueError
from .core import DecisionContext, Reason, combine

log = logging.getLogger(__name__)

MAX_LINES_PER_IDENTITY = 1000


def _advisable_stage(name: str) -> str:
    """A stage of the registry (:data:`~idmatch.decision.stages.STAGE_NAMES`) that may be advisory."""
    from .stages import NEVER_ADVISORY, STAGE_NAMES     # the registry imports this module

    if name not in STAGE_NAMES:
        raise PydanticCustomError("unknown_stage", "unknown stage '{name}'; the stages are: {known}",
                                  {"name": name, "known": ", ".join(STAGE_NAMES)})
    if name in NEVER_ADVISORY:
        raise PydanticCustomError("stage_not_advisable", "stage '{name}' cannot be advisory (it would disable "
                                  "{name} checking); advisory stages may be: {allowed}",
                                  {"name": name, "allowed": ", ".join(s for s in STAGE_NAMES if s not in NEVER_ADVISORY)})
    return name


def _document_code(code: str) -> str:
    from ..documents.findings import DEFAULT_OUTCOMES

    if code not in DEFAULT_OUTCOMES:
        raise PydanticCustomError("unknown_document_code", "unknown document-check code '{code}'; the codes are: {known}",
                                  {"code": code, "known": ", ".join(DEFAULT_OUTCOMES)})
    return code


def _unique(v: list[str] | None) -> list[str] | None:
    return None if v is None else list(dict.fromkeys(v))


def _advisable_stages() -> list[str]:
    from .stages import NEVER_ADVISORY, STAGE_NAMES

    return [s for s in STAGE_NAMES if s not in NEVER_ADVISORY]


def _document_codes() -> list[str]:
    from ..documents.findings import DEFAULT_OUTCOMES

    return list(DEFAULT_OUTCOMES)


class _DocumentedEnum:
    """The OpenAPI document names the values the validator takes (looked up when the document is built:
    the stage registry imports this module); the validator's own errors still say why a value is refused."""

    def __init__(self, values):
        self.values = values

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema["enum"] = self.values()
        return schema


def _document_outcomes_schema(schema: dict) -> None:
    # the codes as properties: a JSON-schema consumer (and the fuzz job) knows which keys there are
    outcome = schema.get("additionalProperties", {})
    schema["properties"] = {code: dict(outcome) for code in _document_codes()}
    schema["additionalProperties"] = False
    schema.pop("propertyNames", None)


AdvisableStage = Annotated[str, AfterValidator(_advisable_stage), _DocumentedEnum(_advisable_stages)]
DocumentCode = Annotated[str, AfterValidator(_document_code)]


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fmr: float = Field(1e-4, gt=0, lt=1, description="target false-match rate of the match stage")
    review_margin: float = Field(0.05, ge=0, le=1, description="scores this far below the threshold go to manual review")
    liveness_threshold: float | None = Field(None, ge=0, le=1, description="None: the liveness model's own threshold")
    require_liveness: bool = Field(False, description="send to review when no liveness result is available")
    max_lines_per_identity: int = Field(5, ge=1, le=MAX_LINES_PER_IDENTITY, description="active lines one identity may hold")
    line_limit_outcome: Literal["fail", "review"] = Field(
        "fail", description="a registration over the line limit is rejected (fail) or sent to manual review")
    retain_images: bool = Field(False, description="keep raw uploads, encrypted, for dispute handling")
    image_retention_days: int = Field(30, ge=1, le=3650)
    session_ttl_s: int = Field(900, ge=30, le=7 * 86400)
    liveness_mode: Literal["passive", "active", "either"] = Field(
        "active", description="active (default): a head-movement challenge over a 10 frames/s capture "
                              "(idmatch.liveness); passive: one frame, PAD only -- a print held up can pass, so every "
                              "decision then carries the reason `liveness_passive_only`; either: as active, and a "
                              "client may ask for passive only where the policy is passive (no downgrade)")
    max_liveness_attempts: int = Field(3, ge=1, le=10, description="challenges one session may try; a failed one is "
                                                                   "replaced by a fresh challenge in place")
    max_failed_liveness_per_document: int = Field(6, ge=1, le=100, description="failed challenges one document may "
                                                  "collect over liveness_attempt_window_h before registrations are refused")
    liveness_attempt_window_h: int = Field(24, ge=1, le=24 * 30)
    advisory_stages: Annotated[list[AdvisableStage], AfterValidator(_unique)] = Field(
        default_factory=list, max_length=16,
        description="stages whose review/fail results are recorded as info only (e.g. during a pilot): quality, "
                    "document, lines_per_identity, duplicate_face -- never match or liveness")
    document_outcomes: dict[DocumentCode, Literal["pass", "info", "review", "fail"]] = Field(
        default_factory=dict, json_schema_extra=_document_outcomes_schema,
        description="document-check codes mapped to another outcome than their default "
                    "(e.g. {\"mrz_number_mismatch\": \"fail\"}; docs/documents.md lists codes and defaults)")

    @classmethod
    def defaults(cls, settings: Any) -> "Policy":
        """The defaults from :class:`~idmatch.settings.Settings` (its fields of the same name)."""
        return cls(**{k: getattr(settings, k) for k in cls.model_fields if hasattr(settings, k)})

    @classmethod
    def effective(cls, settings: Any, overrides: dict) -> "Policy":
        """Settings' defaults with the admin's stored overrides on top: the environment never beats a stored policy.

        A stored field that no longer validates (saved by an older version: ``advisory_stages: ["match"]``,
        a stage that was renamed) is not applied -- its safe default is -- and the error is logged once."""
        base = cls.defaults(settings).model_dump()
        stored = {k: v for k, v in overrides.items() if k in base}
        try:
            return cls(**{**base, **stored})
        except ValidationError as exc:
            bad = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
            if tuple(bad) not in _LOGGED_BAD:
                _LOGGED_BAD.add(tuple(bad))
                log.error("stored policy field(s) %s no longer valid, their defaults apply until an admin sets them "
                          "again (PUT /v1/policy): %s", ", ".join(bad), "; ".join(e["msg"] for e in exc.errors()))
            return cls(**{**base, **{k: v for k, v in stored.items() if k not in bad}})

    def check_calibration(self, calibration: Any) -> None:
        """The policy's ``fmr`` within the range the engine's calibration resolves: below it there is no
        threshold (``calibration_insufficient_data``, as for ``/v1/verify``; every decision would fail), above
        it the threshold would only be clamped to the loosest point (``fmr_out_of_range``)."""
        lo, hi = calibration.fmr_range
        if self.fmr < lo * (1 - 1e-9):
            raise CalibrationInsufficientDataError(
                f"calibration {calibration.name!r} resolves FMR down to {lo:g}; a policy fmr of {self.fmr:g} has no "
                "threshold", details={"fmr": self.fmr, "lowest_supported_fmr": lo, "highest_supported_fmr": hi})
        if self.fmr > hi * (1 + 1e-9):
            raise PolicyValueError(f"calibration {calibration.name!r} is calibrated up to FMR {hi:g}; {self.fmr:g} is "
                                   "looser than any calibrated point", code="fmr_out_of_range",
                                   details={"fmr": self.fmr, "lowest_supported_fmr": lo, "highest_supported_fmr": hi})


_LOGGED_BAD: set[tuple[str, ...]] = set()


def _optional(f: FieldInfo) -> tuple[Any, FieldInfo]:
    """The field, optional (absent: unchanged), with the same constraints. ``null`` only where the policy
    itself takes ``None`` (``liveness_threshold``: the model's own threshold); elsewhere null means nothing
    and is refused, so the document does not offer it either (its "not given" default is not shown)."""
    if not _takes_none(f.annotation):
        extra = f.json_schema_extra

        def no_default(schema: dict) -> None:
            if callable(extra):
                extra(schema)
            schema.pop("default", None)

        return f.annotation, FieldInfo.merge_field_infos(f, default=None, default_factory=None,
                                                         json_schema_extra=no_default)
    return Optional[f.annotation], FieldInfo.merge_field_infos(f, default=None, default_factory=None)


def _takes_none(annotation: Any) -> bool:
    import types
    import typing

    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


#: ``PUT /v1/policy`` body: every :class:`Policy` field, optional (absent: unchanged), with the same constraints
PolicyUpdate = create_model("PolicyUpdate", __config__=ConfigDict(extra="forbid"),
                            **{k: _optional(f) for k, f in Policy.model_fields.items()})  # type: ignore[call-overload]


class DecisionPolicy:
    """Runs its stages in order; ``policy.advisory_stages`` are recorded but cannot change the decision."""

    def __init__(self, stages: list):
        self.stages = stages

    def stage(self, name: str):
        return next(st for st in self.stages if st.name == name)

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        return [r for st in self.stages for r in _advisory(st.on_portrait(ctx), st.name, ctx)]

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        return [r for st in self.stages for r in _advisory(st.on_live(ctx), st.name, ctx)]

    def in_decision(self, tx, ctx: DecisionContext) -> list[Reason]:
        """The reasons of the stages that judge inside the decision's transaction (after it locked what they read)."""
        return [r for st in self.stages if hasattr(st, "in_decision")
                for r in _advisory(st.in_decision(tx, ctx), st.name, ctx)]

    def decide_pair(self, policy: Policy, engine, portrait, live) -> tuple[DecisionContext, str, list[Reason]]:
        """The stateless paths (``idmatch verify``, ``POST /v1/verify``): one portrait and one live
        :class:`~idmatch.pipeline.FaceAnalysis` through the portrait and live stages at once."""
        ctx = DecisionContext(policy=policy, engine=engine, portrait=portrait, portrait_template=portrait.template, live=[live])
        reasons = self.on_portrait(ctx) + self.on_live(ctx)
        return ctx, combine(reasons), reasons

    def on_decided(self, tx, ctx: DecisionContext, decision: str) -> None:
        for st in self.stages:
            hook = getattr(st, "on_decided", None)
            if hook is not None:
                hook(tx, ctx, decision)


def _advisory(reasons: list[Reason], stage: str, ctx: DecisionContext) -> list[Reason]:
    if stage not in ctx.policy.advisory_stages:
        return reasons
    for r in reasons:
        if r.outcome in ("review", "fail"):
            r.details["advisory"] = True
            r.details["would_be"] = r.outcome
            r.outcome = "info"
    return reasons
