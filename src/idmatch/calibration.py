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
from .evaluation.conditions import CAPTURE_CLASSES, FULL, class_key
from .match import OPERATING_FMRS, Calibration, OperatingPoint, table_from_scores

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
#: impostor comparisons per unit of FMR a calibration needs; 10/FMR keeps ~10 impostor scores above
#: the threshold, so the threshold is not set by one or two outliers.
MIN_IMPOSTORS_FACTOR = 10


#: FMRs at which each population's own threshold is recorded (informational; 1e-5 is not shipped)
DETAIL_FMRS = (1e-3, 1e-4, 1e-5)


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
    """Scores of one calibration cell: a population seen under one (portrait, live) condition pair."""

    name: str
    genuine: np.ndarray
    impostor: np.ndarray
    n_images: int
    n_identities: int
    fte: int
    population: str = ""                                  # the population the cell belongs to (default: name)
    conditions: tuple[str, str] = (FULL, FULL)            # (portrait, live) capture conditions

    def __post_init__(self) -> None:
        if not self.population:
            self.population = self.name

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


def cross_pair_scores(ta: np.ndarray, la: np.ndarray, tb: np.ndarray, lb: np.ndarray,
                      block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Scores of every image of set A against every *other* image of set B (A and B: the same images
    under two conditions, row i of each the same photo). A photo is never compared with itself."""
    ta = np.asarray(ta, dtype=np.float32)
    tb = np.asarray(tb, dtype=np.float32)
    la, lb = np.asarray(la), np.asarray(lb)
    gen, imp = [], []
    for s in range(0, len(ta), block):
        e = min(len(ta), s + block)
        sims = ta[s:e] @ tb.T
        other = np.arange(s, e)[:, None] != np.arange(len(tb))[None, :]
        same = la[s:e, None] == lb[None, :]
        gen.append(sims[other & same])
        imp.append(sims[~same])
    return np.concatenate(gen), np.concatenate(imp)


def condition_cells(population: str, tables: dict[str, dict[str, np.ndarray]], identity_of: dict[str, str],
                    pairs: list[tuple[str, str]], fte: dict[str, int] | None = None) -> list[PopulationScores]:
    """One cell per (portrait, live) condition pair of a population, over the images enrolled in both."""
    cells = []
    for a, b in pairs:
        keys = sorted(set(tables[a]) & set(tables[b]))
        if not keys:
            raise CalibrationError(f"population {population!r}: no face could be enrolled under {a}/{b}")
        la = np.array([identity_of[k] for k in keys])
        ma = np.stack([tables[a][k] for k in keys])
        if a == b:
            g, i = all_pair_scores(ma, la)
        else:
            g, i = cross_pair_scores(ma, la, np.stack([tables[b][k] for k in keys]), la)
        n_fte = max((fte or {}).get(a, 0), (fte or {}).get(b, 0))
        name = population if a == b == FULL else f"{population}:{a}x{b}"
        cells.append(PopulationScores(name, g, i, len(keys) + n_fte, len(set(la)), n_fte, population, (a, b)))
    return cells


def class_cells(population: str, tables: dict[str, dict[str, np.ndarray]], classes: dict[str, dict[str, str]],
                identity_of: dict[str, str], pairs: list[tuple[str, str]], block: int = 1024) -> list[PopulationScores]:
    """The comparisons of every condition pair regrouped by the capture classes *read off* each image
    (``classes[condition][image]``, :func:`idmatch.evaluation.conditions.capture_class`): one cell per
    condition pair x class pair of a population, so a mis-read condition is calibrated as what it looks
    like, and no condition's tail is diluted by pooling it with easier ones."""
    keys_cls = sorted(CAPTURE_CLASSES)
    gen: dict[tuple[str, str], list[np.ndarray]] = {}
    imp: dict[tuple[str, str], list[np.ndarray]] = {}
    for a, b in pairs:
        keys = sorted(set(tables[a]) & set(tables[b]) & set(classes[a]) & set(classes[b]))
        lab = np.array([identity_of[k] for k in keys])
        ma = np.stack([tables[a][k] for k in keys]).astype(np.float32)
        mb = np.stack([tables[b][k] for k in keys]).astype(np.float32)
        ca = np.array([keys_cls.index(classes[a][k]) for k in keys])
        cb = np.array([keys_cls.index(classes[b][k]) for k in keys])
        n = len(keys)
        for s in range(0, n, block):
            e = min(n, s + block)
            sims = ma[s:e] @ mb.T
            rows, cols = np.arange(s, e)[:, None], np.arange(n)[None, :]
            ok = (cols > rows) if a == b else (cols != rows)
            same = lab[s:e, None] == lab[None, :]
            lo = np.minimum(ca[s:e, None], cb[None, :])
            hi = np.maximum(ca[s:e, None], cb[None, :])
            code = lo * len(keys_cls) + hi
            for c in np.unique(code[ok]):
                key = (f"{a}x{b}", class_key(keys_cls[c // len(keys_cls)], keys_cls[c % len(keys_cls)]))
                m = ok & (code == c)
                gen.setdefault(key, []).append(sims[m & same])
                imp.setdefault(key, []).append(sims[m & ~same])
    out = []
    for cond, key in sorted(imp):
        g, i = np.concatenate(gen[cond, key]), np.concatenate(imp[cond, key])
        x, y = key.split("|")
        out.append(PopulationScores(f"{population}:{cond}:{key}", g, i, 0, len(set(identity_of.values())), 0, population, (x, y)))
    return out


def population_scores(name: str, templates: dict[str, np.ndarray], identity_of: dict[str, str],
                      fte: int = 0) -> PopulationScores:
    keys = sorted(templates)
    if not keys:
        raise CalibrationError(f"population {name!r}: no face could be enrolled")
    mat = np.stack([templates[k] for k in keys])
    labels = np.array([identity_of[k] for k in keys])
    g, i = all_pair_scores(mat, labels)
    return PopulationScores(name, g, i, len(keys) + fte, len(set(labels)), fte)


def resolvable_fmrs(populations: list[PopulationScores], fmrs: list[float]) -> list[float]:
    """The FMRs every *deciding* population can resolve: ``10/FMR`` impostor comparisons, pooled over its
    condition cells. A population decides when it can resolve the loosest operating point (1e-3); the
    small sets that cannot (a few hundred comparisons) are measured and may raise a threshold, but do not
    gate (with no such population, the largest one decides)."""
    pooled: dict[str, int] = {}
    for c in populations:
        pooled[c.population] = pooled.get(c.population, 0) + len(c.impostor)
    loosest = max(OPERATING_FMRS)
    deciding = [n for n in pooled.values() if n >= min_impostors_for(loosest)] or [max(pooled.values())]
    return [f for f in fmrs if all(n >= min_impostors_for(f) for n in deciding)]


def strictest_points(populations: list[PopulationScores], fmrs: list[float]
                     ) -> tuple[list[OperatingPoint], dict[str, dict[float, OperatingPoint]]]:
    """At each FMR the highest threshold any cell needs (a cell resolving the rate at all, ``n*FMR >= 1``,
    counts), made monotonic; plus every cell's own table."""
    per_cell = {c.name: {p.fmr: p for p in table_from_scores(c.impostor, c.genuine, fmrs)} for c in populations}
    points = []
    for fmr in fmrs:
        have = [d[fmr] for d in per_cell.values() if fmr in d]
        if have:
            points.append(OperatingPoint(fmr=fmr, threshold=max(p.threshold for p in have), fnmr=None))
    points.sort(key=lambda p: -p.fmr)
    for a, b in zip(points, points[1:]):
        b.threshold = max(b.threshold, a.threshold)
    return points, per_cell


def _insufficient(required_fmr: float, populations: list[PopulationScores]) -> CalibrationError:
    pooled: dict[str, int] = {}
    for c in populations:
        pooled[c.population] = pooled.get(c.population, 0) + len(c.impostor)
    short = {k: v for k, v in pooled.items() if v < min_impostors_for(required_fmr)}
    have = min(short.values()) if short else max(pooled.values())
    return CalibrationError(
        f"too few impostor comparisons to calibrate FMR {required_fmr:g}: need at least "
        f"{min_impostors_for(required_fmr):,} in every population, {', '.join(sorted(short)) or 'the data'} "
        f"gives {have:,} (add more identities: n images across k identities give about n²/2 comparisons)",
        code="calibration_insufficient_data",
        details={"required": min_impostors_for(required_fmr), "available": have},
    )


def build_calibration(populations: list[PopulationScores], model: str, name: str = "custom",
                      fmrs: list[float] | None = None, required_fmr: float | None = None,
                      manifest: dict | None = None, by_class: list[PopulationScores] | None = None) -> Calibration:
    """Per-cell tables (population x capture-condition pair), combined by taking the strictest threshold.

    A point is shipped only where every deciding population has ``10/FMR`` impostor comparisons
    (:func:`resolvable_fmrs`); below the last shipped point :meth:`Calibration.threshold_for` refuses.
    Its threshold is the highest that any cell needs to hold the FMR empirically (a cell that can
    resolve the rate at all -- ``n * FMR >= 1`` -- still raises it). ``required_fmr`` must be
    supported or this refuses.
    """
    fmrs = fmrs or sorted({10 ** (-k / 4) for k in range(4, 29)} | set(OPERATING_FMRS) | set(DETAIL_FMRS), reverse=True)
    supported = set(resolvable_fmrs(populations, fmrs))
    if required_fmr is not None and required_fmr not in supported:
        raise _insufficient(required_fmr, populations)
    all_points, per_cell = strictest_points(populations, fmrs)
    points = [p for p in all_points if p.fmr in supported]
    if not points:
        raise CalibrationError("no operating point is supported by the data given", code="calibration_insufficient_data")
    class_points: dict[str, list[OperatingPoint]] = {}
    for key in sorted({"|".join(c.conditions) for c in by_class or []}):
        pts, _ = strictest_points([c for c in by_class or [] if "|".join(c.conditions) == key], fmrs)
        # a class pair never gets a threshold above the one-for-all table, and holds only the shipped points
        glob = {p.fmr: p.threshold for p in points}
        class_points[key] = [OperatingPoint(p.fmr, min(p.threshold, glob[p.fmr])) for p in pts if p.fmr in glob]
    pops = {}
    cells = {}
    for pop in populations:
        detail = pop.summary()
        detail["population"], detail["conditions"] = pop.population, list(pop.conditions)
        detail["fnmr_at"] = {}
        detail["fmr_at"] = {}
        # the cell's own thresholds wherever it can resolve them at all (the 1:N dedup tail fit reads these)
        detail["threshold_at"] = {f"{fmr:g}": pt.threshold for fmr, pt in per_cell[pop.name].items() if fmr in DETAIL_FMRS}
        for p in points:
            if p.fmr in OPERATING_FMRS:
                detail["fnmr_at"][f"{p.fmr:g}"] = float((pop.genuine < p.threshold).mean()) if len(pop.genuine) else None
                detail["fmr_at"][f"{p.fmr:g}"] = float((pop.impostor >= p.threshold).mean())
        detail["decides"] = [f"{fmr:g}" for fmr, pt in per_cell[pop.name].items()
                             if fmr in OPERATING_FMRS and any(abs(pt.threshold - q.threshold) < 1e-12 for q in points if q.fmr == fmr)]
        # full photo against full photo stays under ``populations`` (what other tables read);
        # every other condition pair is a cell of its population
        (pops if pop.conditions == (FULL, FULL) else cells)[pop.name] = detail
    return Calibration(
        model=model, points=points, name=name,
        n_impostor=int(sum(len(p.impostor) for p in populations)),
        n_genuine=int(sum(len(p.genuine) for p in populations)),
        populations=pops, cells=cells, manifest=manifest or {}, class_points=class_points,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
