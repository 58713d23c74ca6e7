"""The decision layer: typed stage results → reasons → approved / review / rejected.

``import idmatch.decision`` pulls in neither FastAPI nor SQLAlchemy: stages are pure functions of
typed results (:class:`~idmatch.pipeline.FaceAnalysis`, :class:`~idmatch.quality.QualityReport`,
:class:`~idmatch.liveness.ChallengeResult`) and reach storage only through :mod:`.ports`, which the
service implements. Every entry point (``idmatch verify``, ``POST /v1/verify``, sessions) runs a
:class:`DecisionPolicy` built by :func:`stateless_policy` or :func:`service_policy`.
"""
from .core import Decision, DecisionContext, Outcome, Reason, audit_details, combine
from .policy import DecisionPolicy, Policy, PolicyUpdate
from .stages import service_policy, stateless_policy

__all__ = ["Decision", "DecisionContext", "DecisionPolicy", "Outcome", "Policy", "PolicyUpdate", "Reason",
           "audit_details", "combine", "service_policy", "stateless_policy"]
