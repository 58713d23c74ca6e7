"""Document — what the document checks found (``idmatch.documents``: number rules, MRZ check digits
and cross-checks, reader output, e-passport passive authentication, photo substitution) as reasons.

The checks run when the document is presented (``POST /v1/sessions/{id}/document``), not at the
portrait or the live capture: :meth:`DocumentStage.judge` turns their typed findings into reasons
then, the service keeps them on the session, and they join the decision with the other stages'.
Each finding's outcome is its default (``documents.findings.DEFAULT_OUTCOMES``) unless the policy's
``document_outcomes`` maps its code to another — a number disagreeing with the MRZ may be sent to
review by one operator and rejected by another; ``advisory_stages`` containing ``document`` records
them all as info, as for any stage.
"""
from __future__ import annotations

from ...documents.findings import Finding
from ..core import DecisionContext, Reason
from ..policy import _advisory


class DocumentStage:
    name = "document"

    def judge(self, findings: list[Finding], ctx: DecisionContext) -> list[Reason]:
        overrides = ctx.policy.document_outcomes
        reasons = [Reason(self.name, f.code, overrides.get(f.code, f.outcome), f.message, dict(f.details)) for f in findings]
        return _advisory(reasons, self.name, ctx)

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        return []          # judged when the document is presented (judge), kept on the session

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        return []
