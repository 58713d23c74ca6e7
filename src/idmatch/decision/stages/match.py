"""1:1 portrait vs every live frame at the policy's FMR; the weakest frame decides.

With an active challenge the face that moved is matched too: the ID portrait must also match
each turned frame the challenge hands over (``ChallengeResult.match_frames``) at the looser
``TURNED_FMR`` point (a turned face scores lower against a frontal portrait), so a morph or the
victim's photo shown only at the frontal frames, with the fraudster's own head doing the moves,
does not carry the match."""
from __future__ import annotations

from types import SimpleNamespace

from ..core import DecisionContext, Reason


TURNED_FMR = 1e-2


class MatchStage:
    name = "match"

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        """Records the portrait's capture class (docs: calibration per capture class), so the live
        match later uses the threshold of the right class pair rather than the strictest."""
        cls = getattr(ctx.portrait, "capture_class", None) if ctx.portrait is not None else None
        return [Reason("capture_class", "portrait_capture_class", "info", "", {"capture_class": cls})] if cls else []

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        eng = ctx.engine
        portrait = ctx.portrait if ctx.portrait is not None else (
            SimpleNamespace(template=ctx.portrait_template, capture_class=ctx.portrait_class)
            if ctx.portrait_class else ctx.portrait_template)
        scores, thr = [], 0.0
        for a in ctx.live:
            s, thr, _ = eng.compare(portrait, a, ctx.policy.fmr)  # the live analysis: its capture class
            scores.append(s)
        score = min(scores)
        details = {"score": round(score, 5), "threshold": round(thr, 5), "fmr": ctx.policy.fmr,
                   "calibration": eng.calibration.name, "model": eng.model_id, "frame_scores": [round(s, 5) for s in scores]}
        cr = ctx.challenge_result
        live_class = getattr(ctx.live[0], "capture_class", None) if ctx.live else None   # same camera, same class
        turned = [SimpleNamespace(template=cr.templates[i], capture_class=live_class)
                  for i in cr.match_frames if i in cr.templates] if cr is not None else []
        if turned:
            t_scores = [eng.compare(portrait, t, TURNED_FMR)[0] for t in turned]
            t_thr = eng.compare(portrait, turned[0], TURNED_FMR)[1]
            details.update(turned_scores=[round(s, 5) for s in t_scores], turned_threshold=round(t_thr, 5),
                           turned_fmr=TURNED_FMR)
            if min(t_scores) < t_thr:
                return [Reason(self.name, "turned_face_mismatch", "fail",
                               "the face that made the movements does not match the ID portrait", details)]
        if score >= thr:
            return [Reason(self.name, "face_match", "pass", "", details)]
        if score >= thr - ctx.policy.review_margin:
            return [Reason(self.name, "face_match_uncertain", "review", "match score just below the threshold", details)]
        return [Reason(self.name, "face_mismatch", "fail", "the live face does not match the ID portrait", details)]
