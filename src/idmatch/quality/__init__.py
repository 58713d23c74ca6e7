"""Capture quality (ISO/IEC 29794-5 style, modelled on OFIQ): can this image be compared at all,
and if not, what should the person do?

API (what the service, liveness and web code call)::

    from idmatch.quality import assess, best_frame

    report = assess(engine, image, profile="live")        # image: path | bytes | BGR ndarray
    report = assess(analysis, profile="portrait")         # reuse a FaceAnalysis (no re-detection)
    report = assess(engine, analysis)                     # same, with the engine's detector
    report.overall      # 0-100, weighted geometric mean of the components
    report.passed       # capture guidance: False if any measure rejected the image or overall < floor
    report.above_floor  # matching gate: overall >= floor and no blocking rejection (multiple faces,
                        # rotated image); what require_quality() and `idmatch verify` enforce
    report.feedback     # [Feedback(code, measure, message)]: one per rejection code
    report.measures     # [MeasureResult(name, raw, component 0-100, unit, threshold, passed, ...)]
    report.codes        # ["face_too_small", ...]
    report.to_dict()    # JSON-ready
    i = best_frame([report_or_analysis, ...])              # passed first, then overall x frontal pose

Profiles: ``"live"`` (a camera frame) and ``"portrait"`` (an ID portrait; small chip photos of
~102x126 pass), see :mod:`idmatch.quality.config`; pass a :class:`QualityProfile` (e.g.
``LIVE.with_overrides(max_yaw_deg=20)``) for custom thresholds.

Each measure computes a raw value, maps it to a 0-100 component, and compares the raw value
with the profile threshold. A measure that cannot be assessed (no face, backend missing,
degenerate input) says so: ``raw`` and ``component`` are None and ``reason`` says why -- it is
never given a made-up value, and it is left out of ``overall``.

Rejection codes (stable) and the advice attached: ``no_face``, ``multiple_faces`` ("only one
person in view"), ``face_too_small`` ("move closer"), ``face_cut_off``, ``image_rotated``,
``head_pose`` ("face the camera"), ``head_tilted``, ``blurry`` ("hold still"), ``too_dark``
("more light"), ``too_bright``, ``uneven_light``, ``low_resolution``, ``compression``,
``eyes_not_visible``, ``face_covered`` ("remove what covers the face"), ``quality_too_low``.
:func:`require_quality` raises :class:`idmatch.errors.QualityTooLowError` carrying them; the
decision's quality stage (:mod:`idmatch.decision.stages.quality`) judges a report the same way. Measures, thresholds and the evidence
for them: ``docs/quality.md``.
"""
from __future__ import annotations

from .assess import QualityReport, assess, best_frame, frame_fitness, overall_score
from .base import Measure, MeasureResult, NotAssessable
from .config import LIVE, PORTRAIT, PROFILES, QualityProfile, get_profile
from .feedback import MESSAGES, Feedback, message_for
from .gate import require_quality

__all__ = [
    "LIVE", "MESSAGES", "PORTRAIT", "PROFILES", "Feedback", "Measure", "MeasureResult", "NotAssessable",
    "QualityProfile", "QualityReport", "assess", "best_frame", "frame_fitness", "get_profile", "message_for",
    "overall_score", "require_quality",
]
