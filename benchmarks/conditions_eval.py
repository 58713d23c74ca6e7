"""Issue 17: FMR and FNMR at every shipped point for every population x capture-condition pair.

Compares three ways to set the threshold, at the operating FMRs 1e-3 and 1e-4:

* ``before``      the v1 table (full photos only: LFW + CASIA, strictest population decides);
* ``strictest``   one threshold per FMR, the strictest any population x condition-pair cell needs (v2);
* ``by_class``    a threshold per pair of *detected* capture classes (grey / close / lowres / normal, read
                  off each image at run time), the strictest any population needs for that class pair.

Each is measured in-sample (the calibration's own comparisons) and across identity halves (calibrate on
one half of each population's identities, measure on the other, both ways, counts pooled).

    python benchmarks/conditions_eval.py     # needs the templates build_calibration.py cached
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
from common import CALIBRATION_POPULATIONS, REPORTS, condition_tables

from idmatch.evaluation import conditions as C
from idmatch.evaluation.condition_templates import load_features
from idmatch.match import Calibration, shipped_calibration
from idmatch.pipeline import FaceEngine

FMRS = (1e-3, 1e-4)
KEEP_ABOVE = 0.25      # impostor scores below every threshold that matters are counted, not kept
DECIDING = ("lfw", "casia_facev5")
BEFORE = REPORTS / "calibration_sface-v1.json"


@dataclass
class Cell:
    population: str
    pair: tuple[str, str]
    gen: np.ndarray          # genuine scores
    gen_code: np.ndarray     # detected class pair per genuine comparison (index into CLASS_PAIRS)
    gen_half: np.ndarray     # identity half both sides share (0/1), -1 across halves
    imp: np.ndarray          # impostor scores >= KEEP_ABOVE
    imp_code: np.ndarray
    imp_half: np.ndarray
    n_imp: int               # all impostor comparisons
    n_imp_half: tuple[int, int]
    n_code: dict             # {half or None: impostor comparisons per class-pair code}


CLASS_PAIRS = [(a, b) for i, a in enumerate(C.CAPTURE_CLASSES) for b in C.CAPTURE_CLASSES[i:]]
PAIR_CODE = {p: k for k, p in enumerate(CLASS_PAIRS)}
CODE_OF = np.zeros((len(C.CAPTURE_CLASSES),) * 2, dtype=np.int8)
for (a, b), k in PAIR_CODE.items():
    ia, ib = C.CAPTURE_CLASSES.index(a), C.CAPTURE_CLASSES.index(b)
    CODE_OF[ia, ib] = CODE_OF[ib, ia] = k


def half_of(identity: str) -> int:
    return hashlib.sha1(identity.encode()).digest()[0] & 1


def build_cell(pop: str, a: str, b: str, ta: dict, tb: dict, fa: dict, fb: dict, ids: dict) -> Cell:
    keys = sorted(set(ta) & set(tb))
    ma = np.stack([ta[k] for k in keys]).astype(np.float32)
    mb = np.stack([tb[k] for k in keys]).astype(np.float32)
    lab = np.array([ids[k] for k in keys])
    half = np.array([half_of(ids[k]) for k in keys], dtype=np.int8)
    cls = lambda f: np.array([C.CAPTURE_CLASSES.index(C.class_of_features(f[k])) for k in keys], dtype=np.int8)  # noqa: E731
    ca, cb = cls(fa), cls(fb)
    out = {k: [] for k in ("g", "gc", "gh", "i", "ic", "ih")}
    n_imp, n_half = 0, [0, 0]
    n_code = {h: np.zeros(len(CLASS_PAIRS), dtype=np.int64) for h in (None, 0, 1)}
    n = len(keys)
    for s in range(0, n, 1024):
        e = min(n, s + 1024)
        sims = ma[s:e] @ mb.T
        rows, cols = np.arange(s, e)[:, None], np.arange(n)[None, :]
        pair_ok = (cols > rows) if a == b else (cols != rows)
        same = lab[s:e, None] == lab[None, :]
        hh = np.where(half[s:e, None] == half[None, :], half[s:e, None], -1).astype(np.int8)
        code = CODE_OF[ca[s:e, None], cb[None, :]]
        gm = pair_ok & same
        im = pair_ok & ~same
        n_imp += int(im.sum())
        n_code[None] += np.bincount(code[im], minlength=len(CLASS_PAIRS))
        for h in (0, 1):
            n_half[h] += int((im & (hh == h)).sum())
            n_code[h] += np.bincount(code[im & (hh == h)], minlength=len(CLASS_PAIRS))
        keep = im & (sims >= KEEP_ABOVE)
        out["g"].append(sims[gm]); out["gc"].append(code[gm]); out["gh"].append(hh[gm])
        out["i"].append(sims[keep]); out["ic"].append(code[keep]); out["ih"].append(hh[keep])
    cat = {k: np.concatenate(v) for k, v in out.items()}
    return Cell(pop, (a, b), cat["g"], cat["gc"], cat["gh"], cat["i"], cat["ic"], cat["ih"], n_imp, tuple(n_half), n_code)


def threshold_at(imp: np.ndarray, n: int, fmr: float) -> float | None:
    """Smallest t with share(imp >= t) <= fmr over n comparisons (``imp``: the kept top scores)."""
    k = int(math.floor(fmr * n))
    if k < 1 or k >= len(imp):
        return None
    top = np.sort(imp)[::-1]
    return float(np.nextafter(np.float32(top[k]), np.float32(np.inf)))


def calibrate(cells: list[Cell], half: int | None) -> dict:
    """Thresholds of both strategies from the comparisons of identity half ``half`` (None: all)."""
    thr: dict = {"strictest": {}, "by_class": {}}
    for f in FMRS:
        strict, by_class = [], {}
        for c in cells:
            sel = slice(None) if half is None else (c.imp_half == half)
            n = c.n_imp if half is None else c.n_imp_half[half]
            t = threshold_at(c.imp[sel], n, f)
            if t is not None:
                strict.append(t)
            codes = c.imp_code[sel]
            imp = c.imp[sel]
            for code in np.unique(codes):
                t = threshold_at(imp[codes == code], int(c.n_code[half][code]), f)
                if t is not None:
                    by_class.setdefault(int(code), []).append(t)
        thr["strictest"][f] = max(strict) if strict else float("inf")  # no cell resolves f
        thr["by_class"][f] = {k: max(v) for k, v in by_class.items()}
    return thr


def measure(cells: list[Cell], thr: dict, strategy: str, half: int | None) -> dict:
    out = {}
    for c in cells:
        row = {}
        gsel = slice(None) if half is None else (c.gen_half == half)
        isel = slice(None) if half is None else (c.imp_half == half)
        n = c.n_imp if half is None else c.n_imp_half[half]
        g, gc, imp, ic = c.gen[gsel], c.gen_code[gsel], c.imp[isel], c.imp_code[isel]
        for f in FMRS:
            if strategy == "single":  # one threshold per FMR, given
                tg = ti = thr[f]
            elif strategy == "strictest":
                tg = ti = thr["strictest"][f]
            else:
                table = thr["by_class"][f]
                fallback = thr["strictest"][f]
                lut = np.array([table.get(k, fallback) for k in range(len(CLASS_PAIRS))])
                tg, ti = lut[gc], lut[ic]
            fm = int((imp >= ti).sum())
            row[f"{f:g}"] = {"false_matches": fm, "n_impostor": n, "fmr": fm / max(n, 1), "ratio": fm / max(n, 1) / f,
                             "fnmr": float((g < tg).mean()) if len(g) else None, "n_genuine": int(len(g))}
        out[f"{c.population}:{c.pair[0]}x{c.pair[1]}"] = row
    return out


def pooled(a: dict, b: dict) -> dict:
    out = {}
    for k in a:
        out[k] = {}
        for f in a[k]:
            x, y = a[k][f], b[k][f]
            n = x["n_impostor"] + y["n_impostor"]
            fm = x["false_matches"] + y["false_matches"]
            ng = x["n_genuine"] + y["n_genuine"]
            fn = ((x["fnmr"] or 0) * x["n_genuine"] + (y["fnmr"] or 0) * y["n_genuine"]) / max(ng, 1)
            out[k][f] = {"false_matches": fm, "n_impostor": n, "fmr": fm / max(n, 1), "ratio": fm / max(n, 1) / float(f),
                         "fnmr": fn, "n_genuine": ng}
    return out


def _cell(r: dict) -> str:
    ratio = f"{r['ratio']:.2f}×" if r["false_matches"] else f"0 of {r['n_impostor']:,}"
    return f"{ratio} / {100 * (r['fnmr'] or 0):.2f} %"


def markdown(report: dict) -> str:
    """The README tables: per population x condition pair before/after, and the strategies compared."""
    after = report["shipped_strategy"]
    lines = ["| population | portrait × live | impostor comparisons | 1e-3 before | 1e-3 after | 1e-4 before | 1e-4 after |",
             "|---|---|---|---|---|---|---|"]
    for k, row in report["in_sample"]["before"].items():
        pop, pair = k.split(":")
        if pop not in DECIDING:
            continue
        a = report["in_sample"][after][k]
        lines.append(f"| {pop} | {pair.replace('x', ' × ')} | {row['0.001']['n_impostor']:,} | {_cell(row['0.001'])} | "
                     f"{_cell(a['0.001'])} | {_cell(row['0.0001'])} | {_cell(a['0.0001'])} |")
    lines += ["", "| strategy | worst ratio in-sample 1e-3 / 1e-4 | worst ratio held-out 1e-3 / 1e-4 | cells > 3× held-out | "
              "LFW full × full FNMR 1e-3 / 1e-4 | mean FNMR over cells 1e-3 / 1e-4 |", "|---|---|---|---|---|---|"]
    for s in ("before", "strictest", "by_class"):
        def worst(view: str, f: str) -> float:
            return max(r[f]["ratio"] for k, r in report[view][s].items() if k.startswith(DECIDING))
        over = sum(r[f]["ratio"] > 3 for k, r in report["held_out"][s].items() if k.startswith(DECIDING) for f in ("0.001", "0.0001"))
        lf = report["in_sample"][s].get("lfw:fullxfull", {"0.001": {"fnmr": float("nan")}, "0.0001": {"fnmr": float("nan")}})
        mean = {f: np.mean([r[f]["fnmr"] or 0 for k, r in report["in_sample"][s].items() if k.startswith(DECIDING)]) for f in ("0.001", "0.0001")}
        lines.append(f"| {s} | {worst('in_sample', '0.001'):.2f}× / {worst('in_sample', '0.0001'):.2f}× | "
                     f"{worst('held_out', '0.001'):.2f}× / {worst('held_out', '0.0001'):.2f}× | {over} | "
                     f"{100 * lf['0.001']['fnmr']:.2f} % / {100 * lf['0.0001']['fnmr']:.2f} % | "
                     f"{100 * mean['0.001']:.2f} % / {100 * mean['0.0001']:.2f} % |")
    return "\n".join(lines) + "\n"


def main() -> None:
    engine = FaceEngine()
    cells: list[Cell] = []
    for pop in CALIBRATION_POPULATIONS:
        ids, ct = condition_tables(engine, pop)
        feats = {c: load_features(ct.files[c]) for c in C.CONDITIONS}
        for a, b in C.condition_pairs():
            cells.append(build_cell(pop, a, b, ct[a].templates, ct[b].templates, feats[a], feats[b], ids))
    before = Calibration.load(BEFORE)
    before_thr = {f: before.threshold_for(f) for f in FMRS}
    after = shipped_calibration()
    after_thr = {f: after.threshold_for(f) for f in FMRS}
    report: dict = {"before": {"calibration": before.name, "thresholds": {f"{f:g}": t for f, t in before_thr.items()}},
                    "after": {"calibration": after.name, "thresholds": {f"{f:g}": t for f, t in after_thr.items()}}}
    full = calibrate(cells, None)
    if after.class_points:  # measure exactly the class tables shipped
        full = {"strictest": after_thr,
                "by_class": {f: {k: after.threshold_for(f, CLASS_PAIRS[k]) for k in range(len(CLASS_PAIRS))} for f in FMRS}}
    one_for_all = after_thr if not after.class_points else calibrate(cells, None)["strictest"]
    report["in_sample"] = {"before": measure(cells, before_thr, "single", None),
                           "strictest": measure(cells, one_for_all, "single", None),
                           "by_class": measure(cells, full, "by_class", None)}
    report["shipped_strategy"] = "by_class" if after.class_points else "strictest"
    report["thresholds"] = {"strictest": {f"{f:g}": full["strictest"][f] for f in FMRS},
                            "by_class": {f"{f:g}": {"|".join(CLASS_PAIRS[k]): v for k, v in full["by_class"][f].items()} for f in FMRS}}
    halves = [calibrate(cells, h) for h in (0, 1)]
    report["held_out"] = {s: pooled(measure(cells, halves[1], s, 0), measure(cells, halves[0], s, 1))
                          for s in ("strictest", "by_class")}
    report["held_out"]["before"] = pooled(measure(cells, before_thr, "single", 0), measure(cells, before_thr, "single", 1))
    report["held_out_thresholds"] = [{f"{f:g}": h["strictest"][f] for f in FMRS} for h in halves]
    (REPORTS / "calibration_conditions.json").write_text(json.dumps(report, indent=1))
    (REPORTS / "calibration_conditions.md").write_text(markdown(report))
    print(json.dumps({"thresholds": report["thresholds"], "held_out_thresholds": report["held_out_thresholds"]}, indent=1))
    for view in ("in_sample", "held_out"):
        print(f"\n## {view}")
        print("| cell | n imp | " + " | ".join(f"{s} FMR@{f:g} (×) / FNMR" for s in ("before", "strictest", "by_class") for f in FMRS) + " |")
        for k in report[view]["before"]:
            if not k.startswith(DECIDING):
                continue
            cols = []
            for s in ("before", "strictest", "by_class"):
                for f in FMRS:
                    r = report[view][s][k][f"{f:g}"]
                    cols.append(f"{r['ratio']:.2f}× / {100 * (r['fnmr'] or 0):.2f} %")
            print(f"| {k} | {report[view]['before'][k]['0.001']['n_impostor']:,} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
