"""The duplicate-face rule: does this face already hold a registration under another identity?

Each approved registration enrols **one** gallery template: the normalised mean of its captures
(ID portrait + live image, :func:`enrolment_template`). A new registration searches the gallery with
its own mean template for the top ``k`` candidates under *other* identities (the applicant's own
identity may legitimately hold several lines) and sends the session to ``review`` when one scores at
or above the dedup threshold — with the matched registration's *reference* only, never its images or
its document number.

Why the mean of two captures: at FPIR ≤ 1 % against 1 M enrolled templates the per-comparison FMR must
be 1e-8; a single-image SFace comparison needs a threshold there that misses ~44 % of LFW genuine pairs,
the mean-template comparison ~8 % (benchmarks/fraud_threshold.py, docs/fraud.md). Averaging two
captures cancels capture noise (pose, light, age of the document photo) that drives genuine scores down,
while impostor similarity is mostly identity-level and does not shrink the same way.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from ..match import Calibration, shipped_calibration
from .gallery import GalleryIndex
from .threshold import DEFAULT_FPIR, DEFAULT_GALLERY_SIZE, DedupThreshold, dedup_threshold, fused_dedup_threshold

log = logging.getLogger(__name__)

Decision = Literal["clear", "review"]


@dataclass(frozen=True)
class DedupPolicy:
    threshold: float     # on the score the gallery holds (mean-template cosine when captures == 2)
    k: int = 10
    basis: DedupThreshold | None = None

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "k": self.k, **({"basis": self.basis.to_dict()} if self.basis else {})}


def dedup_policy(gallery_size: int = DEFAULT_GALLERY_SIZE, fpir: float = DEFAULT_FPIR, captures: int = 2,
                 calibration: Calibration | None = None, k: int = 10) -> DedupPolicy:
    """Default policy: FPIR ≤ ``fpir`` at ``gallery_size``; ``captures`` = templates averaged per registration
    (2: ID portrait + live, the service's case; 1: single-image galleries, shipped calibration extrapolated)."""
    if captures >= 2:
        basis = fused_dedup_threshold(gallery_size, fpir)
    else:
        basis = dedup_threshold(calibration or shipped_calibration(), gallery_size, fpir)
    return DedupPolicy(threshold=basis.threshold, k=k, basis=basis)


@dataclass
class DedupMatch:
    ref_id: str
    score: float

    def to_dict(self) -> dict:
        return {"ref_id": self.ref_id, "score": round(self.score, 5)}


@dataclass
class DedupResult:
    decision: Decision
    threshold: float
    matches: list[DedupMatch] = field(default_factory=list)   # best first, only those at/over threshold

    @property
    def best_ref(self) -> str | None:
        return self.matches[0].ref_id if self.matches else None

    def to_dict(self) -> dict:
        """What the clerk and the audit trail may see: references and scores, nothing else."""
        return {"decision": self.decision, "threshold": round(self.threshold, 5),
                "matches": [m.to_dict() for m in self.matches]}


def enrolment_template(templates: Sequence[np.ndarray]) -> np.ndarray:
    """The one gallery (and probe) template of a registration: normalised mean of its captures."""
    if len(templates) == 0:
        raise ValueError("a registration needs at least one template")
    m = np.stack([np.asarray(t, np.float32) / max(float(np.linalg.norm(t)), 1e-12) for t in templates]).mean(axis=0)
    return (m / max(float(np.linalg.norm(m)), 1e-12)).astype(np.float32)


def check_duplicate(index: GalleryIndex, templates: Sequence[np.ndarray], identity_key: str,
                    policy: DedupPolicy) -> DedupResult:
    """Search ``index`` for the face in ``templates`` under identities other than ``identity_key``."""
    probe = enrolment_template(templates)
    hits = index.search(probe, policy.k, exclude_identity=identity_key)
    matches = [DedupMatch(h.ref_id, h.score) for h in hits if h.score >= policy.threshold]
    if matches:
        log.info("duplicate-face hit: %d registration(s) over threshold %.4f", len(matches), policy.threshold)
    return DedupResult("review" if matches else "clear", policy.threshold, matches)
