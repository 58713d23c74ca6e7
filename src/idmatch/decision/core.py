"""Reasons, the combine rule and the context the stages read."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from ..liveness import ChallengeResult
    from ..pipeline import FaceAnalysis, FaceEngine
    from ..quality import QualityReport
    from .policy import Policy

Outcome = Literal["pass", "info", "review", "fail"]
Decision = Literal["approved", "rejected", "review"]


@dataclass
class Reason:
    """One machine-readable finding of a stage. Never carries biometric data (templates, images)."""
    stage: str
    code: str
    outcome: Outcome
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return _plain(asdict(self))


def combine(reasons: list[Reason]) -> Decision:
    """Any ``fail`` → rejected; else any ``review`` → review; else approved."""
    outcomes = {r.outcome for r in reasons}
    if "fail" in outcomes:
        return "rejected"
    if "review" in outcomes:
        return "review"
    return "approved"


def _plain(v):
    """JSON-safe copy: numpy scalars/arrays become Python numbers/lists."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


MAX_AUDIT_STR = 64


def audit_details(v):
    """What of a reason's details goes to the audit chain: numbers, booleans and short codes, in lists
    and dicts — every stage's details without an allow-list, while a template, an image or a long
    text can never slip in (arrays, bytes and strings over 64 characters are dropped)."""
    if isinstance(v, dict):
        out = {str(k): audit_details(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x is not _DROP}
    if isinstance(v, (list, tuple)):
        out = [audit_details(x) for x in v]
        return [x for x in out if x is not _DROP]
    if isinstance(v, np.generic) and v.ndim == 0:
        return v.item()
    if v is None or isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, str) and len(v) <= MAX_AUDIT_STR:
        return v
    return _DROP


_DROP = object()


@dataclass
class DecisionContext:
    """What the stages judge. Only the keyed hash of the document travels here, never its number."""
    policy: Policy
    engine: FaceEngine
    session_id: str | None = None
    id_hash: str | None = None                      # keyed hash of the claimed document
    doc_type: str | None = None
    portrait: FaceAnalysis | None = None            # only while the portrait is being judged
    portrait_template: np.ndarray | None = None
    portrait_class: str | None = None               # the portrait's capture class (calibration), kept with the session
    live: list = field(default_factory=list)        # FaceAnalysis per live frame (stored ones: objects with .template)
    liveness_mode: Literal["passive", "active"] = "passive"
    challenge_result: ChallengeResult | None = None  # active mode: the challenge's outcome
    quality: dict[str, QualityReport] = field(default_factory=dict)  # "portrait", "live", "live#1", ... (filled by the quality stage)
    timings_ms: dict[str, float] = field(default_factory=dict)


class Stage(Protocol):
    """A decision stage: ``name``, ``on_portrait(ctx)`` and ``on_live(ctx)`` return reasons; an
    optional ``in_decision(tx, ctx)`` returns reasons judged inside the decision's transaction (a rule
    over storage the decision itself writes: lines, the duplicate-face gallery), and an optional
    ``on_decided(tx, ctx, decision)`` writes in it (``tx`` is the service's opaque transaction handle,
    passed on to a port)."""
    name: str

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]: ...
    def on_live(self, ctx: DecisionContext) -> list[Reason]: ...
