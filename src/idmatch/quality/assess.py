"""Run the measures on one image, combine them, and choose the best of several frames."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import IdmatchError, NoFaceError
from ..models import get_detector
from ..pipeline import FaceAnalysis, FaceEngine
from .base import Measure, MeasureResult
from .config import QualityProfile, get_profile
from .context import FaceContext
from .feedback import Feedback, message_for
from .measures import default_measures


@dataclass
class QualityReport:
    """Outcome of :func:`assess`. ``overall`` is 0-100; ``passed`` is False when any measure
    rejected the image or ``overall`` is under the profile's floor; ``feedback`` holds one
    entry per rejection code, each with what to do about it."""

    overall: float
    passed: bool
    profile: str
    measures: list[MeasureResult]
    feedback: list[Feedback] = field(default_factory=list)
    pose: dict | None = None
    face_box: list[float] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    floor: float = 0.0
    blocking_codes: tuple[str, ...] = ()

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.feedback]

    def measure(self, name: str) -> MeasureResult:
        for m in self.measures:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def above_floor(self) -> bool:
        """Fit to be compared at all: overall >= the profile floor and no blocking rejection
        (what the matching gate checks; ``passed`` is the stricter capture-guidance verdict)."""
        return self.overall >= self.floor and not (set(self.codes) & set(self.blocking_codes))

    @property
    def frontal(self) -> float:
        """1 for a frontal face, falling as cos(yaw) x cos(pitch); 0 without a face."""
        if not self.pose:
            return 0.0
        return max(0.0, math.cos(math.radians(self.pose["yaw"]))) * max(0.0, math.cos(math.radians(self.pose["pitch"])))

    def to_dict(self) -> dict:
        return {
            "overall": round(self.overall, 1), "passed": self.passed, "above_floor": self.above_floor,
            "floor": self.floor, "profile": self.profile,
            "feedback": [f.to_dict() for f in self.feedback], "pose": self.pose, "face_box": self.face_box,
            "measures": [m.to_dict() for m in self.measures],
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def overall_score(results: Sequence[MeasureResult], weights: dict[str, float]) -> float:
    """Weighted geometric mean of the assessed components (0-100). Measures that could not be
    assessed are left out, not guessed; one bad component pulls the score down hard."""
    num = den = 0.0
    for r in results:
        w = weights.get(r.name, 0.0)
        if w <= 0 or r.component is None:
            continue
        num += w * math.log((r.component + 1.0) / 101.0)
        den += w
    return 0.0 if den == 0 else 101.0 * math.exp(num / den) - 1.0


def _context_from_analysis(a: FaceAnalysis, detector) -> FaceContext:
    return FaceContext(image=a.image, faces=list(a.selection.faces), face=a.face, aligned=a.aligned,
                       detection_pass=a.selection.detection_pass, detector=detector)


def _context_from_image(engine: FaceEngine, image) -> FaceContext:
    img = image if isinstance(image, np.ndarray) else engine.decode(image)
    try:
        sel = engine.detect(img)
    except NoFaceError:
        return FaceContext(image=img, detector=engine.detector)
    aligned = engine.align(img, sel.face)
    return FaceContext(image=img, faces=list(sel.faces), face=sel.face, aligned=aligned,
                       detection_pass=sel.detection_pass, detector=engine.detector)


def assess(engine_or_analysis: FaceEngine | FaceAnalysis, image=None, profile: str | QualityProfile = "live",
           measures: Sequence[Measure] | None = None) -> QualityReport:
    """Assess one image. See the module docstring of :mod:`idmatch.quality` for the contract."""
    prof = get_profile(profile)
    t0 = time.perf_counter()
    if isinstance(engine_or_analysis, FaceAnalysis):
        ctx = _context_from_analysis(engine_or_analysis, get_detector("yunet"))
    elif isinstance(engine_or_analysis, FaceEngine):
        if isinstance(image, FaceAnalysis):
            ctx = _context_from_analysis(image, engine_or_analysis.detector)
        elif image is None:
            raise IdmatchError("assess(engine, image): an image is needed", code="bad_request")
        else:
            ctx = _context_from_image(engine_or_analysis, image)
    else:
        raise TypeError("assess() takes a FaceEngine (with an image) or a FaceAnalysis")
    ctx.profile = prof
    t1 = time.perf_counter()
    measures = list(measures) if measures is not None else default_measures()
    results = [m.evaluate(ctx, prof) for m in measures]
    weights = {m.name: m.weight for m in measures}
    overall = overall_score(results, weights) if ctx.has_face else 0.0
    feedback: list[Feedback] = []
    seen: set[str] = set()
    for r in results:
        if r.passed is False and r.code and r.code not in seen:
            seen.add(r.code)
            feedback.append(Feedback(r.code, r.name, message_for(r.code, prof.name)))
    if ctx.has_face and not feedback and overall < prof.min_overall:
        feedback.append(Feedback("quality_too_low", "overall", message_for("quality_too_low", prof.name)))
    t2 = time.perf_counter()
    return QualityReport(
        overall=float(overall), passed=not feedback, profile=prof.name, measures=results, feedback=feedback,
        pose=ctx.pose.to_dict() if ctx.has_face and ctx.pose else None,
        face_box=[round(float(v), 1) for v in ctx.face.box] if ctx.face is not None else None,
        timings_ms={"prepare": (t1 - t0) * 1e3, "measures": (t2 - t1) * 1e3},
        floor=prof.min_overall, blocking_codes=tuple(prof.blocking_codes),
    )


def frame_fitness(report: QualityReport) -> float:
    """Quality x frontal pose, the score :func:`best_frame` ranks by (0-100)."""
    return report.overall * report.frontal


def best_frame(frames: Sequence[QualityReport | FaceAnalysis], profile: str | QualityProfile = "live") -> int:
    """Index of the frame most fit for matching: frames that pass first, then the highest
    ``overall x cos(yaw) x cos(pitch)``. Analyses are assessed with ``profile`` first."""
    if not frames:
        raise IdmatchError("best_frame() needs at least one frame", code="no_frames")
    reports = [f if isinstance(f, QualityReport) else assess(f, profile=profile) for f in frames]
    return max(range(len(reports)), key=lambda i: (reports[i].passed, frame_fitness(reports[i])))
