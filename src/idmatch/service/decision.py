"""The decision as a list of pluggable stages, each contributing machine-readable reasons.

A :class:`Stage` looks at a :class:`DecisionContext` and returns :class:`Reason` objects with an
``outcome``: ``pass``, ``info``, ``review`` or ``fail``. The :class:`DecisionPolicy` combines them:
any ``fail`` → ``rejected``; else any ``review`` → ``review``; else ``approved``. Stages never see
clear document numbers (only the keyed hash) and reasons never carry biometric data.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from sqlalchemy import func, select

from . import plugins
from .policy import Policy

Outcome = Literal["pass", "info", "review", "fail"]
Decision = Literal["approved", "rejected", "review"]


@dataclass
class Reason:
    stage: str
    code: str
    outcome: Outcome
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return _plain(asdict(self))


def _plain(v):
    """JSON-safe copy: numpy scalars/arrays from plug-in stages become Python numbers/lists."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


@dataclass
class DecisionContext:
    policy: Policy
    engine: Any                                   # idmatch.pipeline.FaceEngine
    store: Any = None                             # idmatch.store.store.Store (None for stateless use)
    session_id: str | None = None
    id_hash: str | None = None                    # keyed hash of the claimed document
    doc_type: str | None = None
    portrait: Any = None                          # FaceAnalysis, only while the portrait is being attached
    portrait_template: np.ndarray | None = None
    live: list = field(default_factory=list)      # FaceAnalysis per live frame
    challenge: dict = field(default_factory=dict)
    challenge_result: dict | None = None          # active mode: idmatch.liveness.check_challenge outcome
    timings_ms: dict[str, float] = field(default_factory=dict)


class Stage(Protocol):
    """A decision stage. Optional extra hooks, called when present:

    * ``on_decided(db, ctx, decision)`` — inside the decision's transaction (e.g. record a line
      activation or enrol the face in a duplicate-search gallery atomically with the decision);
    * ``on_erased(db, session_ids, id_hash)`` — inside the erasure transaction (drop the subject's
      rows the stage keeps elsewhere).
    """
    name: str

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]: ...
    def on_live(self, ctx: DecisionContext) -> list[Reason]: ...


class BaseStage:
    name = "stage"

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        return []

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        return []


class QualityStage(BaseStage):
    """Quality codes from :mod:`idmatch.quality` when it is installed; a failed check sends to review."""
    name = "quality"

    def _assess(self, analysis, role: str) -> list[Reason]:
        fn = plugins.quality_assessor()
        if fn is None:
            return [Reason(self.name, "quality_not_evaluated", "info", "quality module not installed", {"role": role})]
        r = fn(analysis, role)
        codes = list(r.get("codes", []))
        details = {"role": role, "codes": codes, **({"score": r["score"]} if r.get("score") is not None else {})}
        # ``above_floor`` is the matching gate (below it the comparison is not trustworthy → review);
        # ``passed`` is the stricter capture guidance (a miss is recorded as advice only).
        gate = r.get("above_floor", r.get("passed", not codes))
        if not gate:
            return [Reason(self.name, "quality_too_low", "review", f"{role} image quality: {', '.join(codes) or 'below floor'}", details)]
        if r.get("passed", True) and not codes:
            return [Reason(self.name, "quality_ok", "pass", "", details)]
        return [Reason(self.name, "quality_advice", "info", f"{role} image: {', '.join(codes)}", details)]

    def on_portrait(self, ctx):
        return self._assess(ctx.portrait, "portrait")

    def on_live(self, ctx):
        out: list[Reason] = []
        for i, a in enumerate(ctx.live):
            for r in self._assess(a, "live"):
                r.details["frame"] = i
                out.append(r)
        return out


class LivenessStage(BaseStage):
    name = "liveness"

    def on_live(self, ctx):
        if ctx.challenge.get("mode") == "active":
            return self._active(ctx)
        fn = plugins.liveness_scorer(ctx.engine)
        if fn is None:
            outcome: Outcome = "review" if ctx.policy.require_liveness else "info"
            return [Reason(self.name, "liveness_not_evaluated", outcome, "liveness module not available")]
        t0 = time.perf_counter()
        results = [fn(a) for a in ctx.live]
        ctx.timings_ms["liveness"] = (time.perf_counter() - t0) * 1e3
        thr = ctx.policy.liveness_threshold if ctx.policy.liveness_threshold is not None else results[0]["threshold"]
        score = min(r["score"] for r in results)
        details = {"score": round(score, 5), "threshold": round(thr, 5), "frames": len(results), "model": results[0].get("model", "")}
        if score >= thr:
            return [Reason(self.name, "live", "pass", "", details)]
        if score >= thr - ctx.policy.review_margin:
            return [Reason(self.name, "liveness_uncertain", "review", "liveness score just below the threshold", details)]
        return [Reason(self.name, "spoof_suspected", "fail", "presentation attack suspected", details)]


    def _active(self, ctx) -> list[Reason]:
        cr = ctx.challenge_result
        if cr is None:
            outcome: Outcome = "review" if ctx.policy.require_liveness else "info"
            return [Reason(self.name, "liveness_not_evaluated", outcome, "active challenge checker not available")]
        keep = ("steps", "pad_score", "pad_threshold", "min_similarity", "identity_threshold", "best_frame_index")
        details = {k: cr.get(k) for k in keep}
        details["codes"] = list(cr.get("reasons", []))
        if cr.get("passed"):
            return [Reason(self.name, "challenge_passed", "pass", "", details)]
        code = "spoof_suspected" if details["codes"] == ["spoof_suspected"] else "challenge_failed"
        return [Reason(self.name, code, "fail", "active liveness challenge not passed: " + ", ".join(details["codes"]), details)]


class MatchStage(BaseStage):
    """1:1 portrait vs every live frame at the policy's FMR; the weakest frame decides."""
    name = "match"

    def on_live(self, ctx):
        eng = ctx.engine
        scores, thr = [], 0.0
        for a in ctx.live:
            s, thr, _ = eng.compare(ctx.portrait_template, a, ctx.policy.fmr)  # the live analysis: its capture class
            scores.append(s)
        score = min(scores)
        details = {"score": round(score, 5), "threshold": round(thr, 5), "fmr": ctx.policy.fmr,
                   "calibration": eng.calibration.name, "model": eng.model_id, "frame_scores": [round(s, 5) for s in scores]}
        if score >= thr:
            return [Reason(self.name, "face_match", "pass", "", details)]
        if score >= thr - ctx.policy.review_margin:
            return [Reason(self.name, "face_match_uncertain", "review", "match score just below the threshold", details)]
        return [Reason(self.name, "face_mismatch", "fail", "the live face does not match the ID portrait", details)]


class LinesPerIdentityStage(BaseStage):
    """Built-in count of active lines for the claimed identity (replaced by ``idmatch.fraud`` stages when present)."""
    name = "lines_per_identity"

    def on_live(self, ctx):
        if ctx.store is None or ctx.id_hash is None:
            return []
        from ..store.models import LineActivation

        with ctx.store.session() as db:
            n = db.execute(select(func.count()).select_from(LineActivation).where(
                LineActivation.id_hash == ctx.id_hash, LineActivation.deactivated_at.is_(None))).scalar_one()
        details = {"active_lines": int(n), "limit": ctx.policy.max_lines_per_identity}
        if n >= ctx.policy.max_lines_per_identity:
            return [Reason(self.name, "line_limit_reached", ctx.policy.line_limit_outcome,
                           "identity already holds the maximum number of lines", details)]
        return [Reason(self.name, "lines_ok", "pass", "", details)]


def combine(reasons: list[Reason]) -> Decision:
    outcomes = {r.outcome for r in reasons}
    if "fail" in outcomes:
        return "rejected"
    if "review" in outcomes:
        return "review"
    return "approved"


class DecisionPolicy:
    def __init__(self, stages: list):
        self.stages = stages

    @classmethod
    def default(cls, store=None) -> "DecisionPolicy":
        fraud = plugins.fraud_stages(store) if store is not None else None
        return cls([QualityStage(), LivenessStage(), MatchStage(), *(fraud if fraud is not None else [LinesPerIdentityStage()])])

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        out: list[Reason] = []
        for st in self.stages:
            out.extend(_advisory(st.on_portrait(ctx), st.name, ctx.policy))
        return out

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        out: list[Reason] = []
        for st in self.stages:
            out.extend(_advisory(st.on_live(ctx), st.name, ctx.policy))
        return out


    def on_decided(self, db, ctx: DecisionContext, decision: str) -> None:
        for st in self.stages:
            hook = getattr(st, "on_decided", None)
            if hook is not None:
                hook(db, ctx, decision)

    def erase_hooks(self) -> list:
        return [h for h in (getattr(st, "on_erased", None) for st in self.stages) if h is not None]


def _advisory(reasons: list[Reason], stage: str, policy: Policy) -> list[Reason]:
    """Stages listed in ``policy.advisory_stages`` are recorded but cannot change the decision."""
    if stage not in policy.advisory_stages:
        return reasons
    for r in reasons:
        if r.outcome in ("review", "fail"):
            r.details["advisory"] = True
            r.details["would_be"] = r.outcome
            r.outcome = "info"
    return reasons
