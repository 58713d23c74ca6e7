"""The stages, registered here and only here: a new rule is one module plus one line below."""
from __future__ import annotations

from ..policy import DecisionPolicy
from ..ports import FaceGallery, LineRegister
from .document import DocumentStage
from .duplicate_face import DuplicateFaceStage
from .lines import LinesStage
from .liveness import LivenessStage
from .match import MatchStage
from .quality import QualityStage


def stateless_policy(engine) -> DecisionPolicy:
    """``idmatch verify`` and ``POST /v1/verify``: every stage that needs no storage."""
    return DecisionPolicy([QualityStage(), LivenessStage(engine), MatchStage()])


def service_policy(engine, lines: LineRegister, gallery: FaceGallery) -> DecisionPolicy:
    """Registration sessions: the stateless stages, the document checks, then the fraud rules over the
    service's storage."""
    return DecisionPolicy([*stateless_policy(engine).stages, DocumentStage(), LinesStage(lines), DuplicateFaceStage(gallery)])


__all__ = ["DocumentStage", "DuplicateFaceStage", "LinesStage", "LivenessStage", "MatchStage", "QualityStage", "service_policy",
           "stateless_policy"]
