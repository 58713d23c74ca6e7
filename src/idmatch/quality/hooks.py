"""The hook :mod:`idmatch.service.plugins` looks for: ``service_assess(analysis, role) -> dict``."""
from __future__ import annotations

from ..pipeline import FaceAnalysis


def service_assess(analysis: FaceAnalysis, role: str) -> dict:
    """Quality of one analysed image for the service. ``role`` "portrait"/"id" uses the portrait
    profile, anything else the live one. ``passed`` is the capture-guidance verdict,
    ``above_floor`` the matching-gate one; ``feedback`` carries the advice for each code."""
    from .assess import assess

    rep = assess(analysis, profile="portrait" if role in ("portrait", "id") else "live")
    return {"passed": rep.passed, "above_floor": rep.above_floor, "codes": rep.codes,
            "score": round(rep.overall, 1), "feedback": [f.to_dict() for f in rep.feedback],
            "details": rep.to_dict()}
