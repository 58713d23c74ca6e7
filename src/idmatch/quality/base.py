"""The measure interface: raw value -> 0-100 component -> pass/fail, or an explicit failure to assess."""
from __future__ import annotations

from dataclasses import dataclass, field

from .config import QualityProfile
from .context import FaceContext


class NotAssessable(Exception):
    """Raised by :meth:`Measure.compute` when the input does not allow the measure (reason given)."""


@dataclass
class MeasureResult:
    """One measure's outcome. ``raw`` and ``component`` are None when it could not be assessed."""

    name: str
    raw: float | None
    component: int | None           # 0 (worst) .. 100 (best)
    unit: str
    threshold: float | None = None  # the profile's rejection threshold, in ``unit``
    passed: bool | None = None      # None: not assessed, or no threshold set
    code: str | None = None         # rejection code when passed is False
    reason: str | None = None       # why it could not be assessed
    detail: dict = field(default_factory=dict)

    @property
    def assessed(self) -> bool:
        return self.raw is not None

    def to_dict(self) -> dict:
        d = {"name": self.name, "assessed": self.assessed,
             "raw": None if self.raw is None else round(float(self.raw), 4),
             "component": self.component, "unit": self.unit, "threshold": self.threshold,
             "passed": self.passed}
        if self.code and self.passed is False:
            d["code"] = self.code
        if self.reason:
            d["reason"] = self.reason
        if self.detail:
            d["detail"] = self.detail
        return d


def ramp(x: float, bad: float, good: float) -> int:
    """Linear map: ``bad`` -> 0, ``good`` -> 100, clipped (works in either direction)."""
    if good == bad:
        return 100 if x >= good else 0
    t = (x - bad) / (good - bad)
    return int(round(100 * min(1.0, max(0.0, t))))


class Measure:
    """Subclasses set ``name``, ``unit``, ``code`` and implement ``compute``, ``component`` and
    ``threshold`` (the profile's value; compared with ``higher_is_better``)."""

    name: str = ""
    unit: str = ""
    code: str = ""
    higher_is_better: bool = True
    needs_face: bool = True
    weight: float = 1.0            # weight in the overall score

    def compute(self, ctx: FaceContext) -> tuple[float, dict]:
        raise NotImplementedError

    def component(self, raw: float) -> int:
        raise NotImplementedError

    def threshold(self, profile: QualityProfile) -> float | None:
        return None

    def passes(self, raw: float, thr: float) -> bool:
        return raw >= thr if self.higher_is_better else raw <= thr

    def evaluate(self, ctx: FaceContext, profile: QualityProfile) -> MeasureResult:
        thr = self.threshold(profile)
        if self.needs_face and not ctx.has_face:
            return MeasureResult(self.name, None, None, self.unit, thr, reason="no face to assess")
        try:
            raw, detail = self.compute(ctx)
        except NotAssessable as why:
            return MeasureResult(self.name, None, None, self.unit, thr, reason=str(why))
        passed = None if thr is None else bool(self.passes(raw, thr))
        return MeasureResult(self.name, float(raw), self.component(raw), self.unit, thr, passed,
                             code=self.code, detail=detail)
