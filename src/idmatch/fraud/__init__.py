"""Fraud rules: lines per identity and duplicate-face (1:N) search over enrolled applicants.

See docs/fraud.md for the design, the measured index figures and the scaling arithmetic.
"""
from .dedup import DedupMatch, DedupPolicy, DedupResult, check_duplicate, dedup_policy, enrolment_template
from .gallery import (
    ExactIndex, GalleryError, GalleryIndex, HnswParams, Hit, USearchIndex, load_index, open_or_rebuild,
)
from .lines import (
    DEFAULT_LINE_LIMIT, Line, LineCheck, LineConflictError, LineLimitError, LineNotFoundError, LinePolicy,
    LineStore, MemoryLineStore, activate_line, check_lines,
)
from .select import EXACT_MAX, choose_backend, make_index
from .service_stages import make_service_stages

#: the service's plugin hook (idmatch.service.plugins.fraud_stages): replaces its built-in lines stage
service_stages = make_service_stages
from .threshold import (
    DEFAULT_FPIR, DEFAULT_GALLERY_SIZE, DedupThreshold, dedup_threshold, fmr_for_fpir, fpir_at, fused_dedup_threshold,
)

__all__ = [
    "DEFAULT_FPIR", "DEFAULT_GALLERY_SIZE", "DEFAULT_LINE_LIMIT", "EXACT_MAX", "DedupMatch", "DedupPolicy",
    "DedupResult", "DedupThreshold", "ExactIndex", "GalleryError", "GalleryIndex", "Hit", "HnswParams", "Line",
    "LineCheck", "LineConflictError", "LineLimitError", "LineNotFoundError", "LinePolicy", "LineStore",
    "MemoryLineStore", "USearchIndex", "activate_line", "check_duplicate", "check_lines", "choose_backend",
    "dedup_policy", "dedup_threshold", "enrolment_template", "fmr_for_fpir", "fpir_at", "fused_dedup_threshold",
    "load_index", "make_index", "make_service_stages", "open_or_rebuild", "service_stages",
]
