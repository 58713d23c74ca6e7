"""The 1:N dedup threshold: keep the false-positive identification rate (FPIR) under a target.

A probe searched against N enrolled impostors raises a false alarm if *any* of the N scores passes
the threshold: ``FPIR = 1 - (1 - FMR)^N ≈ N·FMR`` (for N·FMR ≪ 1). So for FPIR ≤ 1 % at
N = 1 M the per-comparison FMR must be ≤ 1e-8 — below what any public calibration set measures
(LFW's 7.2 M impostor pairs reach ~1e-6). Below the calibration's last point the threshold is
extrapolated log-linearly from the tail of the table (log10 FMR falls linearly with the threshold,
i.e. an exponential tail). Face-score impostor tails fall faster than exponential, so the
extrapolated threshold errs high (FPIR below target, FNMR somewhat above what is needed); the
result says when it extrapolated.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import CalibrationError
from ..match import Calibration, table_from_scores

DEFAULT_FPIR = 0.01
DEFAULT_GALLERY_SIZE = 1_000_000


def fmr_for_fpir(fpir: float, gallery_size: int) -> float:
    """Per-comparison FMR that keeps ``1 - (1 - FMR)^N`` at ``fpir`` (exact form, not N·FMR)."""
    if not (0 < fpir < 1):
        raise CalibrationError(f"target FPIR must be in (0, 1), got {fpir}")
    n = max(int(gallery_size), 1)
    return -math.expm1(math.log1p(-fpir) / n)


def fpir_at(fmr: float, gallery_size: int) -> float:
    return -math.expm1(max(int(gallery_size), 1) * math.log1p(-fmr))


@dataclass(frozen=True)
class DedupThreshold:
    threshold: float
    fmr: float              # per comparison
    fpir: float             # target
    gallery_size: int
    extrapolated: bool      # True when fmr is below the calibration's measured range
    calibration: str

    def to_dict(self) -> dict:
        return asdict(self)


def threshold_at_fmr(cal: Calibration, fmr: float, tail_decades: float = 1.0) -> tuple[float, bool]:
    """Threshold for ``fmr``; log-linear extrapolation (least squares over the last ``tail_decades``
    of the table) when ``fmr`` is below the calibration's last point."""
    pts = cal.points
    lowest = pts[-1].fmr
    if fmr >= lowest * (1 - 1e-9):
        return cal.threshold_for(fmr), False
    tail = [p for p in pts if p.fmr <= lowest * 10 ** tail_decades]
    if len(tail) < 2:
        tail = pts[-2:]
    if len(tail) < 2:
        raise CalibrationError(f"calibration {cal.name!r} has too few points to extrapolate to FMR {fmr:g}")
    x = np.log10([p.fmr for p in tail])
    y = np.array([p.threshold for p in tail])
    slope, icpt = np.polyfit(x, y, 1)     # threshold = slope·log10(fmr) + icpt, slope < 0
    if slope >= 0:
        raise CalibrationError(f"calibration {cal.name!r} tail is not decreasing; cannot extrapolate")
    thr = float(slope * math.log10(fmr) + icpt)
    return min(max(thr, pts[-1].threshold), 1.0), True


def dedup_threshold(cal: Calibration, gallery_size: int = DEFAULT_GALLERY_SIZE, fpir: float = DEFAULT_FPIR) -> DedupThreshold:
    """Default dedup threshold: FPIR ≤ ``fpir`` against a gallery of ``gallery_size`` templates."""
    fmr = fmr_for_fpir(fpir, gallery_size)
    thr, extra = threshold_at_fmr(cal, fmr)
    return DedupThreshold(threshold=thr, fmr=fmr, fpir=fpir, gallery_size=int(gallery_size),
                          extrapolated=extra, calibration=cal.name)


def calibration_from_scores(impostor: np.ndarray, genuine: np.ndarray | None, model: str, name: str) -> Calibration:
    """A calibration table from raw scores (e.g. fused multi-image scores for the re-score stage)."""
    fmrs = [10 ** (-k / 8) for k in range(8, 8 * 9)]
    pts = table_from_scores(impostor, genuine, fmrs)
    # keep the table monotonic where ties make neighbouring thresholds equal
    return Calibration(model=model, points=pts, name=name, n_impostor=len(impostor),
                       n_genuine=0 if genuine is None else len(genuine))
