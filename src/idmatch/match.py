"""Templates, scores and the calibration that turns a target FMR into a threshold.

A calibration table is computed from impostor scores of *all* cross-identity
comparisons (and genuine scores of all same-identity ones) of one or more
populations; the shipped threshold for each target FMR is the strictest across
populations, so the target holds on every population measured.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import CalibrationError, CalibrationInsufficientDataError

#: the operating points the shipped calibration resolves (10/FMR impostor comparisons in every deciding
#: population, pooled over its capture conditions); 1e-5 is not resolvable from the data and is refused
OPERATING_FMRS = (1e-3, 1e-4)
DEFAULT_FMR = 1e-4


def cosine_score(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


@dataclass
class OperatingPoint:
    fmr: float
    threshold: float
    fnmr: float | None = None  # on the calibration's own genuine scores, when known


@dataclass
class Calibration:
    """Threshold ↔ FMR table for one recognizer configuration."""

    model: str
    points: list[OperatingPoint]                       # sorted by fmr descending (threshold ascending)
    name: str = "shipped"
    n_impostor: int = 0
    n_genuine: int = 0
    populations: dict = field(default_factory=dict)    # per-population detail (full photos), informational
    created: str = ""
    cells: dict = field(default_factory=dict)          # per population x capture-condition pair, informational
    manifest: dict = field(default_factory=dict)       # which data the calibration saw
    class_points: dict = field(default_factory=dict)   # {"close|normal": [OperatingPoint]}: per capture-class pair

    def __post_init__(self) -> None:
        self.points = sorted(self.points, key=lambda p: -p.fmr)
        ths = [p.threshold for p in self.points]
        if any(b < a - 1e-12 for a, b in zip(ths, ths[1:])):
            raise CalibrationError(f"calibration {self.name!r} is not monotonic: threshold must rise as FMR falls")

    def threshold_for(self, fmr: float, classes: tuple[str | None, str | None] | None = None) -> float:
        """Threshold for target ``fmr``; log-linear interpolation between table points.

        With the capture classes of both images (``("close", "normal")``, see
        :func:`idmatch.evaluation.conditions.capture_class`) and a table for that class pair, the class
        pair's own threshold (a ``None`` side: the strictest pair the other side can make); otherwise the
        one that holds for every condition calibrated."""
        self._check_resolvable(fmr)
        one_for_all = _interpolate(self.points, fmr)
        if classes is None or not self.class_points or all(c is None for c in classes):
            return one_for_all
        # a side whose class is unknown (a stored template) may be any class: the strictest pair it could make
        from .evaluation.conditions import CAPTURE_CLASSES

        a, b = classes
        out = None
        for pa in (CAPTURE_CLASSES if a is None else (a,)):
            for pb in (CAPTURE_CLASSES if b is None else (b,)):
                table = self.class_points.get("|".join(sorted((pa, pb))))
                if not table or table[-1].fmr > fmr * (1 + 1e-9):
                    return one_for_all  # a class pair without a table for fmr: the table for all conditions
                t = _interpolate(sorted(table, key=lambda p: -p.fmr), fmr)
                out = t if out is None else max(out, t)
        return one_for_all if out is None else min(out, one_for_all)

    @property
    def fmr_range(self) -> tuple[float, float]:
        """(strictest, loosest) FMR of the table: below the strictest the data cannot resolve the rate
        (:class:`CalibrationInsufficientDataError`); above the loosest the threshold would only be clamped."""
        return self.points[-1].fmr, self.points[0].fmr

    def check_resolvable(self, fmr: float) -> None:
        """Raise unless ``fmr`` is in (0, 1) and not below the strictest calibrated point."""
        self._check_resolvable(fmr)

    def _check_resolvable(self, fmr: float) -> None:
        if not (0 < fmr < 1):
            raise CalibrationError(f"target FMR must be in (0, 1), got {fmr}")
        pts = self.points
        if fmr < pts[-1].fmr * (1 - 1e-9):
            raise CalibrationInsufficientDataError(
                f"calibration {self.name!r} resolves FMR down to {pts[-1].fmr:g}; {fmr:g} would need at least "
                f"{math.ceil(10 / fmr):,} impostor comparisons in every population it was calibrated on "
                f"-- ask for an FMR of {pts[-1].fmr:g} or more",
                details={"fmr": fmr, "lowest_supported_fmr": pts[-1].fmr},
            )

    def fmr_at(self, threshold: float) -> float:
        """Approximate operating FMR of a threshold (inverse of :meth:`threshold_for`)."""
        pts = self.points
        if threshold <= pts[0].threshold:
            return pts[0].fmr
        if threshold >= pts[-1].threshold:
            return pts[-1].fmr
        for hi, lo in zip(pts, pts[1:]):
            if hi.threshold <= threshold <= lo.threshold:
                if lo.threshold == hi.threshold:
                    return lo.fmr
                t = (threshold - hi.threshold) / (lo.threshold - hi.threshold)
                return 10 ** (math.log10(hi.fmr) + t * (math.log10(lo.fmr) - math.log10(hi.fmr)))
        return pts[-1].fmr

    def to_dict(self) -> dict:
        return {
            "name": self.name, "model": self.model, "created": self.created,
            "n_impostor": self.n_impostor, "n_genuine": self.n_genuine,
            "points": [asdict(p) for p in self.points], "populations": self.populations,
            **({"class_points": {k: [asdict(p) for p in v] for k, v in self.class_points.items()}} if self.class_points else {}),
            **({"cells": self.cells} if self.cells else {}), **({"manifest": self.manifest} if self.manifest else {}),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        try:
            return cls(
                model=d["model"], name=d.get("name", "custom"), created=d.get("created", ""),
                n_impostor=int(d.get("n_impostor", 0)), n_genuine=int(d.get("n_genuine", 0)),
                points=[OperatingPoint(**p) for p in d["points"]], populations=d.get("populations", {}),
                cells=d.get("cells", {}), manifest=d.get("manifest", {}),
                class_points={k: [OperatingPoint(**p) for p in v] for k, v in (d.get("class_points") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"malformed calibration: {exc}") from exc

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "Calibration":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise CalibrationError(f"cannot read calibration file {path}: {exc}") from exc


def _interpolate(pts: list[OperatingPoint], fmr: float) -> float:
    """Log-linear interpolation in a table sorted by FMR descending (``fmr`` within its range)."""
    if fmr >= pts[0].fmr:
        return pts[0].threshold
    for hi, lo in zip(pts, pts[1:]):
        if lo.fmr <= fmr <= hi.fmr:
            if hi.fmr == lo.fmr:
                return lo.threshold
            t = (math.log10(hi.fmr) - math.log10(fmr)) / (math.log10(hi.fmr) - math.log10(lo.fmr))
            return hi.threshold + t * (lo.threshold - hi.threshold)
    return pts[-1].threshold


#: shipped calibration file per engine model id (the threshold belongs to the exact scoring path)
#: v2 of the default model's table covers every population x capture-condition pair (issue 17); the accurate
#: mode's table is still v1 (full photos only)
SHIPPED_CALIBRATIONS = {"yunet+sface": "calibration_sface-v2.json", "yunet+sface+flip": "calibration_sface_flip.json"}
DEFAULT_MODEL_ID = "yunet+sface"


@lru_cache(maxsize=4)
def shipped_calibration(model_id: str = DEFAULT_MODEL_ID) -> Calibration:
    """The calibration shipped for an engine configuration (``FaceEngine.model_id``)."""
    name = SHIPPED_CALIBRATIONS.get(model_id)
    if name is None:
        raise CalibrationError(f"no shipped calibration for model {model_id!r}; calibrate it with `idmatch calibrate` "
                               f"(shipped: {sorted(SHIPPED_CALIBRATIONS)})")
    try:
        text = resources.files("idmatch").joinpath("data", name).read_text()
    except FileNotFoundError as exc:
        raise CalibrationError(
            f"shipped calibration {name} missing from the idmatch package; regenerate it with "
            "`python benchmarks/build_calibration.py` or reinstall idmatch"
        ) from exc
    cal = Calibration.from_dict(json.loads(text))
    return cal


def table_from_scores(impostor: np.ndarray, genuine: np.ndarray | None, fmrs: list[float] | None = None) -> list[OperatingPoint]:
    """Operating points from raw scores: threshold = smallest t with share(impostor >= t) <= fmr.

    A point is kept only where ``n_impostor * fmr >= 1``: fewer impostor comparisons cannot
    support the rate (see also :func:`idmatch.calibration.min_impostors_for`).
    """
    imp = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]  # descending
    n = len(imp)
    if fmrs is None:
        fmrs = [10 ** (-k / 4) for k in range(4, 29)]  # 1e-1 .. 1e-7 in quarter decades
    gen = None if genuine is None or len(genuine) == 0 else np.sort(np.asarray(genuine, dtype=np.float64))
    pts = []
    for fmr in fmrs:
        k = int(math.floor(fmr * n))  # number of impostors allowed at/above threshold
        if k < 1:
            continue
        # threshold just above the (k+1)-th highest impostor score, in float32 (scores are float32
        # dot products; a float64 step would round back onto that score and admit it)
        thr = float(np.nextafter(np.float32(imp[k]), np.float32(np.inf))) if k < n else float(imp[-1])
        fnmr = None if gen is None else float(np.searchsorted(gen, thr, side="left") / len(gen))
        pts.append(OperatingPoint(fmr=float(fmr), threshold=thr, fnmr=fnmr))
    return pts
