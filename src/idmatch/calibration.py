"""Calibrate thresholds from identity-labelled images: all genuine and all impostor comparisons.

Used to build the shipped table (``benchmarks/build_calibration.py``) and by
``idmatch calibrate`` for an operator's own consented enrolment images.
"""
from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import CalibrationError
from .match import OPERATING_FMRS, Calibration, OperatingPoint, table_from_scores

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
#: impostor comparisons per unit of FMR a calibration needs; 10/FMR keeps ~10 impostor scores above
#: the threshold, so the threshold is not set by one or two outliers.
MIN_IMPOSTORS_FACTOR = 10


def min_impostors_for(fmr: float) -> int:
    return int(np.ceil(MIN_IMPOSTORS_FACTOR / fmr))


def images_by_identity(folder: str | Path) -> dict[str, list[Path]]:
    """``folder/<identity>/<image>`` → {identity: [paths]}."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CalibrationError(f"not a folder: {folder}")
    out = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        imgs = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if imgs:
            out[sub.name] = imgs
    return out


@dataclass
class PopulationScores:
    name: str
    genuine: np.ndarray
    impostor: np.ndarray
    n_images: int
    n_identities: int
    fte: int

    def summary(self) -> dict:
        return {"images": self.n_images, "identities": self.n_identities, "fte_images": self.fte,
                "n_genuine": int(len(self.genuine)), "n_impostor": int(len(self.impostor))}


def all_pair_scores(templates: np.ndarray, labels: np.ndarray, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Every same-label (genuine) and different-label (impostor) score, i < j. Blocked to bound memory."""
    templates = np.asarray(templates, dtype=np.float32)
    labels = np.asarray(labels)
    n = len(templates)
    gen, imp = [], []
    for s in range(0, n, block):
        e = min(n, s + block)
        sims = templates[s:e] @ templates.T  # (b, n)
        rows = np.arange(s, e)[:, None]
        cols = np.arange(n)[None, :]
        upper = cols > rows
        same = labels[s:e, None] == labels[None, :]
        gen.append(sims[upper & same])
        imp.append(sims[upper & ~same])
    return np.concatenate(gen), np.concatenate(imp)


def population_scores(name: str, templates: dict[str, np.ndarray], identity_of: dict[str, str],
                      fte: int = 0) -> PopulationScores:
    keys = sorted(templates)
    if not keys:
        raise CalibrationError(f"population {name!r}: no face could be enrolled")
    mat = np.stack([templates[k] for k in keys])
    labels = np.array([identity_of[k] for k in keys])
    g, i = all_pair_scores(mat, labels)
    return PopulationScores(name, g, i, len(keys) + fte, len(set(labels)), fte)


def build_calibration(populations: list[PopulationScores], model: str, name: str = "custom",
                      fmrs: list[float] | None = None, required_fmr: float | None = None) -> Calibration:
    """Per-population tables, combined by taking the strictest threshold at each FMR.

    A point is shipped where at least one population has ``10/FMR`` impostor comparisons; its
    threshold is the highest that any population needs to hold the FMR empirically (a small
    population that can resolve the rate at all -- ``n * FMR >= 1`` -- still raises it).
    ``required_fmr`` must be supported or this refuses.
    """
    fmrs = fmrs or sorted({10 ** (-k / 4) for k in range(4, 29)} | set(OPERATING_FMRS), reverse=True)
    # every point a population can resolve at all (n_impostor * fmr >= 1) counts as evidence for
    # strictness; a point is *shipped* only where some population has 10/FMR comparisons behind it
    per_pop: dict[str, dict[float, OperatingPoint]] = {}
    supported: set[float] = set()
    for pop in populations:
        pts = table_from_scores(pop.impostor, pop.genuine, fmrs)
        per_pop[pop.name] = {p.fmr: p for p in pts}
        supported |= {p.fmr for p in pts if len(pop.impostor) >= min_impostors_for(p.fmr)}
    if required_fmr is not None and required_fmr not in supported:
        have = max(len(p.impostor) for p in populations)
        raise CalibrationError(
            f"too few impostor comparisons to calibrate FMR {required_fmr:g}: need at least "
            f"{min_impostors_for(required_fmr):,}, the largest population gives {have:,} "
            f"(add more identities: n images across k identities give about n²/2 comparisons)",
            code="calibration_insufficient_data",
            details={"required": min_impostors_for(required_fmr), "available": have},
        )
    points = []
    for fmr in fmrs:
        if fmr not in supported:
            continue
        have = [d[fmr] for d in per_pop.values() if fmr in d]
        strict = max(have, key=lambda p: p.threshold)
        points.append(OperatingPoint(fmr=fmr, threshold=strict.threshold, fnmr=None))
    # enforce monotonic thresholds (stricter FMR can never have a lower threshold)
    points.sort(key=lambda p: -p.fmr)
    for a, b in zip(points, points[1:]):
        b.threshold = max(b.threshold, a.threshold)
    pops = {}
    for pop in populations:
        detail = pop.summary()
        detail["fnmr_at"] = {}
        detail["fmr_at"] = {}
        detail["threshold_at"] = {f"{fmr:g}": pt.threshold for fmr, pt in per_pop[pop.name].items() if fmr in OPERATING_FMRS}
        for p in points:
            if p.fmr in OPERATING_FMRS:
                detail["fnmr_at"][f"{p.fmr:g}"] = float((pop.genuine < p.threshold).mean()) if len(pop.genuine) else None
                detail["fmr_at"][f"{p.fmr:g}"] = float((pop.impostor >= p.threshold).mean())
        detail["decides"] = [f"{fmr:g}" for fmr, pt in per_pop[pop.name].items()
                             if fmr in OPERATING_FMRS and any(abs(pt.threshold - q.threshold) < 1e-12 for q in points if q.fmr == fmr)]
        pops[pop.name] = detail
    if not points:
        raise CalibrationError("no operating point is supported by the data given", code="calibration_insufficient_data")
    return Calibration(
        model=model, points=points, name=name,
        n_impostor=int(sum(len(p.impostor) for p in populations)),
        n_genuine=int(sum(len(p.genuine) for p in populations)),
        populations=pops, created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
