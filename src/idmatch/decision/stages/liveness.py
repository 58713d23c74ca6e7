"""Liveness: passive PAD on every live frame, or the outcome of an active head-movement challenge."""
from __future__ import annotations

import logging
import threading
import time

from ...errors import ModelNotFoundError
from ...liveness import ChallengeResult, PassiveLiveness
from ..core import DecisionContext, Outcome, Reason

log = logging.getLogger(__name__)


class LivenessStage:
    name = "liveness"

    def __init__(self, engine):
        self.engine = engine
        self._pad: PassiveLiveness | None = None
        self._missing = ""
        self._lock = threading.Lock()

    @property
    def pad(self) -> PassiveLiveness | None:
        """The passive detector, built once; None (with a warning) when its model file is missing."""
        with self._lock:
            if self._pad is None and not self._missing:
                try:
                    self._pad = PassiveLiveness(engine=self.engine)
                except ModelNotFoundError as exc:
                    self._missing = str(exc)
                    log.warning("passive liveness unavailable: %s", exc)
            return self._pad

    def _not_evaluated(self, ctx: DecisionContext, why: str) -> list[Reason]:
        outcome: Outcome = "review" if ctx.policy.require_liveness else "info"
        return [Reason(self.name, "liveness_not_evaluated", outcome, why)]

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        return []

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        if ctx.liveness_mode == "active":
            return self._active(ctx.challenge_result) if ctx.challenge_result is not None else \
                self._not_evaluated(ctx, "active challenge not checked")
        passive_only = Reason(self.name, "liveness_passive_only", "info",
                              "passive liveness only (one frame): a print or a screen held up to the camera can pass; "
                              "registrations should use the active challenge")
        pad = self.pad
        if pad is None:
            return [passive_only] + self._not_evaluated(ctx, "liveness model not available")
        t0 = time.perf_counter()
        results = [pad.score(a) for a in ctx.live]
        ctx.timings_ms["liveness"] = (time.perf_counter() - t0) * 1e3
        thr = ctx.policy.liveness_threshold if ctx.policy.liveness_threshold is not None else results[0].threshold
        score = min(r.score for r in results)
        details = {"score": round(score, 5), "threshold": round(thr, 5), "frames": len(results), "model": results[0].model}
        if score >= thr:
            return [passive_only, Reason(self.name, "live", "pass", "", details)]
        if score >= thr - ctx.policy.review_margin:
            return [passive_only, Reason(self.name, "liveness_uncertain", "review", "liveness score just below the threshold", details)]
        return [passive_only, Reason(self.name, "spoof_suspected", "fail", "presentation attack suspected", details)]

    def _active(self, cr: ChallengeResult) -> list[Reason]:
        d = cr.to_dict(per_frame=False)
        keep = ("steps", "pad_score", "pad_threshold", "min_similarity", "identity_threshold", "best_frame_index",
                "parallax", "step_frames")
        details = {k: d.get(k) for k in keep}
        details["codes"] = list(cr.reasons)
        if cr.passed:
            return [Reason(self.name, "challenge_passed", "pass", "", details)]
        code = "spoof_suspected" if details["codes"] == ["spoof_suspected"] else "challenge_failed"
        return [Reason(self.name, code, "fail", "active liveness challenge not passed: " + ", ".join(details["codes"]), details)]
