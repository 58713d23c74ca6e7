"""The 1:N dedup threshold: keep the false-positive identification rate (FPIR) under a target.

A probe searched against N enrolled impostors raises a false alarm if *any* of the N scores passes
the threshold: ``FPIR = 1 - (1 - FMR)^N ≈ N·FMR`` (for N·FMR ≪ 1). So FPIR ≤ 1 % at N = 1 M needs
a per-comparison FMR ≤ 1e-8 — far below what any public calibration set measures (LFW's 7.3 M
impostor pairs reach ~1e-6, CASIA-FaceV5's 19 k reach 1e-4).

Below the measured range the threshold is extrapolated with a **Gaussian tail**: the threshold is
linear in ``z = Φ⁻¹(1 − FMR)``. On LFW this model reproduces the measured thresholds at 1e-3, 1e-4 and
1e-5 to ±0.002 (docs/fraud.md). The slope (the impostor-score spread in the tail) is fitted on the
population measured deepest (most impostors); each population keeps its own offset (a demographically
homogeneous population such as CASIA-FaceV5 has higher impostor scores than LFW), and the strictest
population decides — the same rule the shipped calibration uses. The result says when it extrapolated.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import NormalDist

import numpy as np

from ..errors import CalibrationError
from ..match import Calibration, table_from_scores

DEFAULT_FPIR = 0.01
DEFAULT_GALLERY_SIZE = 1_000_000
_N = NormalDist()


def fmr_for_fpir(fpir: float, gallery_size: int) -> float:
    """Per-comparison FMR that keeps ``1 - (1 - FMR)^N`` at ``fpir`` (exact form, not N·FMR)."""
    if not (0 < fpir < 1):
        raise CalibrationError(f"target FPIR must be in (0, 1), got {fpir}")
    n = max(int(gallery_size), 1)
    return -math.expm1(math.log1p(-fpir) / n)


def fpir_at(fmr: float, gallery_size: int) -> float:
    return -math.expm1(max(int(gallery_size), 1) * math.log1p(-fmr))


def z_of(fmr: float) -> float:
    return _N.inv_cdf(1.0 - fmr)


@dataclass(frozen=True)
class TailModel:
    """threshold(FMR) = offset + slope · Φ⁻¹(1 − FMR), per population; the maximum decides."""

    slope: float
    offsets: dict[str, float]
    lowest_fmr: dict[str, float]          # deepest measured point per population

    def threshold(self, fmr: float) -> tuple[float, str]:
        z = z_of(fmr)
        pop, off = max(self.offsets.items(), key=lambda kv: kv[1])
        return off + self.slope * z, pop


def fit_tail(points: dict[str, list[tuple[float, float]]]) -> TailModel:
    """Fit the shared slope on the population with the most points below FMR 1e-2 (ties: deepest),
    then each population's offset as the mean residual of its own points."""
    usable = {k: [(f, t) for f, t in v if f <= 1e-2] for k, v in points.items()}
    usable = {k: v for k, v in usable.items() if v}
    if not usable:
        raise CalibrationError("no calibration points at or below FMR 1e-2 to model the impostor tail")
    ref = max(usable, key=lambda k: (len(usable[k]), -min(f for f, _ in usable[k])))
    if len(usable[ref]) < 2:
        raise CalibrationError("need at least two calibration points to model the impostor tail")
    z = np.array([z_of(f) for f, _ in usable[ref]])
    y = np.array([t for _, t in usable[ref]])
    slope = float(np.polyfit(z, y, 1)[0])
    if slope <= 0:
        raise CalibrationError("calibration tail does not rise with falling FMR; cannot extrapolate")
    offsets = {k: float(np.mean([t - slope * z_of(f) for f, t in v])) for k, v in usable.items()}
    return TailModel(slope, offsets, {k: min(f for f, _ in v) for k, v in usable.items()})


def tail_points(cal: Calibration) -> dict[str, list[tuple[float, float]]]:
    """Per-population (FMR, threshold) points carried by a calibration; the table itself otherwise."""
    out: dict[str, list[tuple[float, float]]] = {}
    for name, pop in (cal.populations or {}).items():
        pts = [(float(f), float(t)) for f, t in (pop.get("threshold_at") or {}).items()]
        if pts:
            out[name] = sorted(pts, reverse=True)
    if not out:
        # a plain table (e.g. an operator's own calibration): collapse flat runs to their highest FMR
        pts, last = [], None
        for p in cal.points:
            if last is None or p.threshold > last + 1e-9:
                pts.append((p.fmr, p.threshold))
                last = p.threshold
        out[cal.name] = pts
    return out


@dataclass(frozen=True)
class DedupThreshold:
    threshold: float
    fmr: float              # per comparison
    fpir: float             # target
    gallery_size: int
    extrapolated: bool      # True when fmr is below the calibration's measured range
    calibration: str
    decided_by: str = ""    # population whose tail set the threshold
    tail_slope: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def threshold_at_fmr(cal: Calibration, fmr: float) -> tuple[float, bool, str, float | None]:
    """Threshold for ``fmr``: the table where it measured that deep, the Gaussian-tail model below."""
    lowest, _ = cal.fmr_range
    if fmr >= lowest * (1 - 1e-9):
        return cal.threshold_for(fmr), False, cal.name, None
    model = fit_tail(tail_points(cal))
    thr, pop = model.threshold(fmr)
    # never below the deepest measured point of the shipped table
    return min(max(thr, cal.points[-1].threshold), 1.0), True, pop, model.slope


def dedup_threshold(cal: Calibration, gallery_size: int = DEFAULT_GALLERY_SIZE, fpir: float = DEFAULT_FPIR) -> DedupThreshold:
    """Default dedup threshold: FPIR ≤ ``fpir`` against a gallery of ``gallery_size`` templates."""
    fmr = fmr_for_fpir(fpir, gallery_size)
    thr, extra, pop, slope = threshold_at_fmr(cal, fmr)
    notes = [f"FMR {fmr:.3g} is below the calibration's measured range; Gaussian-tail extrapolation"] if extra else []
    return DedupThreshold(threshold=thr, fmr=fmr, fpir=fpir, gallery_size=int(gallery_size), extrapolated=extra,
                          calibration=cal.name, decided_by=pop, tail_slope=slope, notes=notes)


FUSED_TAIL_FILE = "dedup_tail_sface.json"


def shipped_fused_tail(name: str = FUSED_TAIL_FILE) -> TailModel:
    """Tail model of the *mean-template* score (each side: normalised mean of 2 captures, ID portrait +
    live), fitted on LFW 2-image sets and shifted by the population margin of the shipped calibration;
    written by ``benchmarks/fraud_threshold.py``."""
    import json
    from importlib import resources

    try:
        d = json.loads(resources.files("idmatch").joinpath("data", name).read_text())
        return TailModel(slope=float(d["slope"]), offsets={k: float(v) for k, v in d["offsets"].items()},
                         lowest_fmr={k: float(v) for k, v in d["lowest_fmr"].items()})
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise CalibrationError(f"fused dedup tail {name} missing or malformed; run benchmarks/fraud_threshold.py") from exc


def fused_dedup_threshold(gallery_size: int = DEFAULT_GALLERY_SIZE, fpir: float = DEFAULT_FPIR,
                          tail: TailModel | None = None) -> DedupThreshold:
    """Dedup threshold for mean-template scores (both registrations enrolled with 2 captures)."""
    tail = tail or shipped_fused_tail()
    fmr = fmr_for_fpir(fpir, gallery_size)
    thr, pop = tail.threshold(fmr)
    extra = fmr < min(tail.lowest_fmr.values())
    return DedupThreshold(threshold=min(thr, 1.0), fmr=fmr, fpir=fpir, gallery_size=int(gallery_size),
                          extrapolated=extra, calibration=FUSED_TAIL_FILE, decided_by=pop, tail_slope=tail.slope,
                          notes=["mean of 2 captures per registration on both sides"])


def calibration_from_scores(impostor: np.ndarray, genuine: np.ndarray | None, model: str, name: str,
                            min_impostors_per_fmr: float = 10.0) -> Calibration:
    """A calibration table from raw scores (e.g. fused multi-image scores), keeping only the FMRs the
    number of impostor scores supports (``min_impostors_per_fmr``/FMR, like the shipped table)."""
    n = len(impostor)
    fmrs = [10 ** (-k / 4) for k in range(8, 40) if n * 10 ** (-k / 4) >= min_impostors_per_fmr]
    pts = table_from_scores(impostor, genuine, fmrs)
    thr_at = {str(p.fmr): p.threshold for p in pts if p.fmr <= 1e-2}
    return Calibration(model=model, points=pts, name=name, n_impostor=n,
                       n_genuine=0 if genuine is None else len(genuine),
                       populations={name: {"threshold_at": thr_at}})
