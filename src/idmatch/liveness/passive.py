"""Passive presentation-attack detection on one frame.

The shipped model (``idmatch/data/liveness_pad.json``) is a logistic regression over texture and
frequency features of one or more crops around the face box (see :mod:`.features`), trained by
``training/train_pad.py``. The model file names its crops (size, margin) and feature blocks
(``feature_spec``), so inference always follows the model it loads. Its score
is in (0, 1), higher = more likely live; the model's bias is shifted so that the shipped
operating point -- chosen so that bona fide photos are rarely rejected -- is exactly 0.5
(see docs/liveness.md for the measured APCER/BPCER).
Inference is numpy + OpenCV only.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ModelNotFoundError, NoFaceError
from ..models import DetectedFace
from .features import V1_SPEC, spec_crops, spec_features

log = logging.getLogger(__name__)

MODEL_FILE = "liveness_pad.json"


@dataclass
class LivenessResult:
    score: float          # (0, 1), higher = live; the shipped threshold is 0.5
    threshold: float
    is_live: bool
    model: str
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        return "live" if self.is_live else "spoof"

    def to_dict(self) -> dict:
        return {"decision": self.decision, "is_live": self.is_live, "score": round(self.score, 5),
                "threshold": round(self.threshold, 5), "model": self.model,
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()}}


@dataclass
class PadModel:
    """Standardise → linear → sigmoid. Loaded from / saved to JSON."""

    name: str
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float
    crop_size: int = 128
    crop_margin: float = -0.1
    sqrt_features: bool = True
    meta: dict = field(default_factory=dict)
    feature_spec: dict | None = None   # {"crops": {name: [size, margin]}, "blocks": [...]}; None: v1

    @property
    def spec(self) -> dict:
        if self.feature_spec is not None:
            return self.feature_spec
        return {"crops": {"inner": [self.crop_size, self.crop_margin]}, "blocks": list(V1_SPEC["blocks"])}

    def decision_function(self, feats: np.ndarray) -> np.ndarray:
        x = np.sqrt(np.maximum(feats, 0)) if self.sqrt_features else feats
        z = (x - self.mean) / self.std
        return z @ self.weights + self.bias

    def score_features(self, feats: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.decision_function(np.atleast_2d(feats)), -50, 50)))

    def to_dict(self) -> dict:
        d = {"name": self.name, "kind": "colour_lbp_logreg" if self.feature_spec is None else "pad_features_logreg",
             "crop_size": self.crop_size, "crop_margin": self.crop_margin, "sqrt_features": self.sqrt_features}
        if self.feature_spec is not None:
            d["feature_spec"] = self.feature_spec
        return {**d,
                "threshold": self.threshold, "bias": self.bias, "mean": self.mean.tolist(),
                "std": self.std.tolist(), "weights": self.weights.tolist(), "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> "PadModel":
        return cls(name=d["name"], mean=np.asarray(d["mean"], np.float64), std=np.asarray(d["std"], np.float64),
                   weights=np.asarray(d["weights"], np.float64), bias=float(d["bias"]),
                   threshold=float(d["threshold"]), crop_size=int(d.get("crop_size", 128)),
                   crop_margin=float(d.get("crop_margin", -0.1)), sqrt_features=bool(d.get("sqrt_features", True)),
                   meta=d.get("meta", {}), feature_spec=d.get("feature_spec"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), separators=(",", ":")))

    @classmethod
    def load(cls, path: str | Path) -> "PadModel":
        p = Path(path)
        if not p.is_file():
            raise ModelNotFoundError(f"liveness model not found: {p} (retrain with training/train_pad.py)")
        return cls.from_dict(json.loads(p.read_text()))


@lru_cache(maxsize=1)
def shipped_model() -> PadModel:
    ref = resources.files("idmatch") / "data" / MODEL_FILE
    if not ref.is_file():
        raise ModelNotFoundError(f"the shipped liveness model idmatch/data/{MODEL_FILE} is missing from the package")
    return PadModel.from_dict(json.loads(ref.read_text()))


class PassiveLiveness:
    """Score one face for presentation attacks. Thread-safe; build once, reuse.

    ``score`` accepts a :class:`~idmatch.pipeline.FaceAnalysis`, or an image (path, bytes or BGR
    array) plus an optional :class:`~idmatch.models.DetectedFace` (detected when omitted).
    """

    def __init__(self, model: PadModel | None = None, threshold: float | None = None, engine=None):
        self.model = model or shipped_model()
        self.threshold = self.model.threshold if threshold is None else float(threshold)
        self._engine = engine

    @property
    def engine(self):
        if self._engine is None:
            from ..pipeline import FaceEngine

            self._engine = FaceEngine()
        return self._engine

    def features(self, img_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        spec = self.model.spec
        return spec_features(spec_crops(img_bgr, face.box, spec), spec)

    def score_face(self, img_bgr: np.ndarray, face: DetectedFace) -> LivenessResult:
        t0 = time.perf_counter()
        s = float(self.model.score_features(self.features(img_bgr, face))[0])
        ms = (time.perf_counter() - t0) * 1e3
        return LivenessResult(score=s, threshold=self.threshold, is_live=s >= self.threshold,
                              model=self.model.name, timings_ms={"pad": ms})

    def score(self, source, face: DetectedFace | None = None) -> LivenessResult:
        from ..pipeline import FaceAnalysis

        if isinstance(source, FaceAnalysis):
            return self.score_face(source.image, source.face)
        img = source if isinstance(source, np.ndarray) else self.engine.decode(source)
        t0 = time.perf_counter()
        if face is None:
            face = self.engine.detect(img).face  # raises NoFaceError
        det_ms = (time.perf_counter() - t0) * 1e3
        res = self.score_face(img, face)
        res.timings_ms = {"detect": det_ms, **res.timings_ms}
        return res


__all__ = ["LivenessResult", "PadModel", "PassiveLiveness", "shipped_model", "NoFaceError"]
