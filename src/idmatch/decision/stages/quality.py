"""Capture quality: below the matching floor → review; capture advice alone → info."""
from __future__ import annotations

from ...quality import QualityReport, assess
from ..core import DecisionContext, Reason

NAME = "quality"


def judge(rep: QualityReport, role: str) -> Reason:
    codes = rep.codes
    details = {"role": role, "codes": codes, "score": round(rep.overall, 1)}
    # ``above_floor`` is the matching gate (below it the comparison is not trustworthy → review);
    # ``passed`` is the stricter capture guidance (a miss is recorded as advice only).
    if not rep.above_floor:
        return Reason(NAME, "quality_too_low", "review", f"{role} image quality: {', '.join(codes) or 'below floor'}", details)
    if rep.passed and not codes:
        return Reason(NAME, "quality_ok", "pass", "", details)
    return Reason(NAME, "quality_advice", "info", f"{role} image: {', '.join(codes)}", details)


class QualityStage:
    name = NAME

    def _report(self, ctx: DecisionContext, key: str, analysis, profile: str) -> QualityReport:
        if key not in ctx.quality:
            ctx.quality[key] = assess(analysis, profile=profile)
        return ctx.quality[key]

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        return [judge(self._report(ctx, "portrait", ctx.portrait, "portrait"), "portrait")]

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        out = []
        for i, a in enumerate(ctx.live):
            r = judge(self._report(ctx, "live" if i == 0 else f"live#{i}", a, "live"), "live")
            r.details["frame"] = i
            out.append(r)
        return out
