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


#: every stage a policy may name (``advisory_stages``), in decision order
STAGE_NAMES: tuple[str, ...] = tuple(st.name for st in (QualityStage, LivenessStage, MatchStage, DocumentStage, LinesStage,
                                                        DuplicateFaceStage))
#: stages that are the verification itself and can never be made advisory: an advisory match approves any
#: face for any document, an advisory liveness approves a print. Quality, the document findings and the
#: fraud rules (lines, duplicate face) may be piloted as advisory.
NEVER_ADVISORY: tuple[str, ...] = (MatchStage.name, LivenessStage.name)


def stateless_policy(engine) -> DecisionPolicy:
    """``idmatch verify`` and ``POST /v1/verify``: every stage that needs no storage."""
    return DecisionPolicy([QualityStage(), LivenessStage(engine), MatchStage()])


def service_policy(engine, lines: LineRegister, gallery: FaceGallery) -> DecisionPolicy:
    """Registration sessions: the stateless stages, the document checks, then the fraud rules over the
    service's storage."""
    return DecisionPolicy([*stateless_policy(engine).stages, DocumentStage(), LinesStage(lines), DuplicateFaceStage(gallery)])


__all__ = ["NEVER_ADVISORY", "STAGE_NAMES", "DocumentStage", "DuplicateFaceStage", "LinesStage", "LivenessStage", "MatchStage", "QualityStage", "service_policy",
           "stateless_policy"]
