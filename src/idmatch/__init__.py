"""idmatch: consent-based 1:1 verification of a live face against an ID-document portrait."""
from __future__ import annotations

from .errors import IdmatchError
from .pipeline import EngineConfig, FaceAnalysis, FaceEngine, VerifyResult

__version__ = "0.1.0"
__all__ = ["EngineConfig", "FaceAnalysis", "FaceEngine", "IdmatchError", "VerifyResult", "__version__"]
