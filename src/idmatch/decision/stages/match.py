"""1:1 portrait vs every live frame at the policy's FMR; the weakest frame decides."""
from __future__ import annotations

from ..core import DecisionContext, Reason


class MatchStage:
    name = "match"

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        return []

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        eng = ctx.engine
        scores, thr = [], 0.0
        for a in ctx.live:
            s, thr, _ = eng.compare(ctx.portrait_template, a.template, ctx.policy.fmr)
            scores.append(s)
        score = min(scores)
        details = {"score": round(score, 5), "threshold": round(thr, 5), "fmr": ctx.policy.fmr,
                   "calibration": eng.calibration.name, "model": eng.model_id, "frame_scores": [round(s, 5) for s in scores]}
        if score >= thr:
            return [Reason(self.name, "face_match", "pass", "", details)]
        if score >= thr - ctx.policy.review_margin:
            return [Reason(self.name, "face_match_uncertain", "review", "match score just below the threshold", details)]
        return [Reason(self.name, "face_mismatch", "fail", "the live face does not match the ID portrait", details)]
