"""The duplicate-face rule: does this face already hold a registration under another identity?

Two stages:

1. **Search** the gallery with the probe template (normalised mean of the new registration's
   captures) for the top ``k`` candidates under any *other*
   identity (the probe's own identity may legitimately hold several lines) and keep those scoring at
   least ``shortlist_threshold`` — a deliberately loose threshold so genuine duplicates are not lost.
2. **Re-score** each shortlisted candidate with all the evidence the service holds: every template
   of the new registration (ID portrait and live capture) against every template stored for the
   candidate (``candidate_templates``), averaged. Averaging independent captures shrinks impostor
   scores more than genuine ones, so the fused score reaches the same FPIR at a lower FNMR
   (measured in docs/fraud.md). Without ``candidate_templates`` the single search score is used
   against the single-image threshold.

A hit sends the registration to ``review`` with the matched registration's *reference* only —
never its images or its document number.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import numpy as np

from .gallery import GalleryIndex, Hit

log = logging.getLogger(__name__)

Decision = Literal["clear", "review"]


@dataclass(frozen=True)
class DedupPolicy:
    threshold: float                       # single template vs single template (FPIR target at N)
    fused_threshold: float | None = None   # mean of all cross scores (same FPIR target), when calibrated
    shortlist_threshold: float | None = None  # stage-1 cut when re-scoring; defaults to ``threshold`` otherwise
    k: int = 10


@dataclass
class DedupMatch:
    ref_id: str
    search_score: float
    score: float          # the score the decision used (fused when re-scored)
    fused: bool

    def to_dict(self) -> dict:
        return {"ref_id": self.ref_id, "score": round(self.score, 5), "search_score": round(self.search_score, 5),
                "fused": self.fused}


@dataclass
class DedupResult:
    decision: Decision
    matches: list[DedupMatch] = field(default_factory=list)   # best first, only those over threshold
    candidates: int = 0

    @property
    def best_ref(self) -> str | None:
        return self.matches[0].ref_id if self.matches else None

    def to_dict(self) -> dict:
        """What the clerk and the audit trail may see: references and scores, nothing else."""
        return {"decision": self.decision, "matches": [m.to_dict() for m in self.matches]}


def fused_score(probe: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """Mean cosine over every (probe template, reference template) pair."""
    a = np.stack([np.asarray(t, np.float32) / np.linalg.norm(t) for t in probe])
    b = np.stack([np.asarray(t, np.float32) / np.linalg.norm(t) for t in reference])
    return float((a @ b.T).mean())


def probe_template(templates: Sequence[np.ndarray]) -> np.ndarray:
    """One search template from several captures of the same person (normalised mean)."""
    m = np.stack([np.asarray(t, np.float32) / np.linalg.norm(t) for t in templates]).mean(axis=0)
    return m / max(float(np.linalg.norm(m)), 1e-12)


def check_duplicate(index: GalleryIndex, templates: Sequence[np.ndarray], identity_key: str, policy: DedupPolicy,
                    candidate_templates: Callable[[str], Sequence[np.ndarray]] | None = None) -> DedupResult:
    """Search ``index`` for the face in ``templates`` under identities other than ``identity_key``."""
    templates = [np.asarray(t, np.float32) for t in templates]
    if not templates:
        raise ValueError("check_duplicate needs at least one template")
    rescore = candidate_templates is not None and policy.fused_threshold is not None
    # one search with the mean of the captures (portrait + live): the same kind of template the
    # gallery enrols per registration, so the calibrated threshold applies and FPIR counts N comparisons
    seen = {h.ref_id: h for h in index.search(probe_template(templates), policy.k, exclude_identity=identity_key)}
    cut = policy.shortlist_threshold if (rescore and policy.shortlist_threshold is not None) else policy.threshold
    shortlist = sorted((h for h in seen.values() if h.score >= cut), key=lambda h: -h.score)
    matches: list[DedupMatch] = []
    for h in shortlist:
        if rescore:
            refs = candidate_templates(h.ref_id)
            if refs:
                s = fused_score(templates, refs)
                if s >= policy.fused_threshold:
                    matches.append(DedupMatch(h.ref_id, h.score, s, True))
                continue
        if h.score >= policy.threshold:
            matches.append(DedupMatch(h.ref_id, h.score, h.score, False))
    matches.sort(key=lambda m: -m.score)
    decision: Decision = "review" if matches else "clear"
    if matches:
        log.info("duplicate-face hit: %d candidate(s) over threshold", len(matches))
    return DedupResult(decision, matches, candidates=len(shortlist))
