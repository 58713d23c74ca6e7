"""Fraud rules' computations: duplicate-face (1:N) search over enrolled applicants. The rules
themselves (lines per identity, duplicate face) are decision stages in :mod:`idmatch.decision.stages`.

See docs/fraud.md for the design, the measured index figures and the scaling arithmetic.
"""
from .dedup import DedupMatch, DedupPolicy, DedupResult, check_duplicate, dedup_policy, enrolment_template
from .gallery import (
    ExactIndex, GalleryError, GalleryIndex, HnswParams, Hit, USearchIndex, load_index, open_or_rebuild,
)
from .select import EXACT_MAX, choose_backend, make_index
from .threshold import (
    DEFAULT_FPIR, DEFAULT_GALLERY_SIZE, DedupThreshold, dedup_threshold, fmr_for_fpir, fpir_at, fused_dedup_threshold,
)

__all__ = [
    "DEFAULT_FPIR", "DEFAULT_GALLERY_SIZE", "EXACT_MAX", "DedupMatch", "DedupPolicy", "DedupResult", "DedupThreshold",
    "ExactIndex", "GalleryError", "GalleryIndex", "Hit", "HnswParams", "USearchIndex", "check_duplicate",
    "choose_backend", "dedup_policy", "dedup_threshold", "enrolment_template", "fmr_for_fpir", "fpir_at",
    "fused_dedup_threshold", "load_index", "make_index", "open_or_rebuild",
]
