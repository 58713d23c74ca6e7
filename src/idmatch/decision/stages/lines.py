"""Lines per identity — the one rule: an identity holding ``max_lines_per_identity`` active lines gets
the policy's ``line_limit_outcome`` (rejected, or manual review). An approval — by policy or by a
reviewer — activates one line, in the decision's transaction.

The count is taken *inside* that transaction (``in_decision``), after the identity is locked, so parallel
registrations for one document cannot all count the same lines and all be approved (issue 14)."""
from __future__ import annotations

from ..core import DecisionContext, Reason
from ..ports import LineRegister


class LinesStage:
    name = "lines_per_identity"

    def __init__(self, lines: LineRegister):
        self.lines = lines

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        return []

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        return []          # judged in the decision's transaction (in_decision)

    def in_decision(self, tx, ctx: DecisionContext) -> list[Reason]:
        if ctx.id_hash is None:
            return []
        self.lines.lock_identity(tx, ctx.id_hash)
        n = self.lines.count_active_lines(ctx.id_hash, tx)
        details = {"active_lines": n, "limit": ctx.policy.max_lines_per_identity}
        if n >= ctx.policy.max_lines_per_identity:
            return [Reason(self.name, "line_limit_reached", ctx.policy.line_limit_outcome,
                           "identity already holds the maximum number of lines", details)]
        return [Reason(self.name, "lines_ok", "pass", "", details)]

    def on_decided(self, tx, ctx: DecisionContext, decision: str) -> None:
        if decision == "approved" and ctx.id_hash is not None and ctx.session_id is not None:
            self.lines.lock_identity(tx, ctx.id_hash)     # held already when in_decision ran; a reviewer's approval takes it here
            self.lines.activate_line(tx, ctx.id_hash, ctx.session_id)
