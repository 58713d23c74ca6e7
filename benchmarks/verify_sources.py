"""Every verification source reported separately, the chip-size test, and the per-population
operating-point table (issue 7): FMR and FNMR that each *shipped* threshold produces on each
population, using all cross-identity comparisons where identities are known, plus FTE.

    python benchmarks/verify_sources.py
"""
from __future__ import annotations

import json
from collections import defaultdict

import cv2
import numpy as np
from common import DATA, REPORTS, cached_templates, identities, pooled_templates, require_data
from tqdm import tqdm

from idmatch.calibration import all_pair_scores
from idmatch.errors import IdmatchError
from idmatch.evaluation import metrics
from idmatch.evaluation.pairs import EmbeddingTable, read_pairs, score_pairs
from idmatch.evaluation.report import verification_report
from idmatch.imaging import encode_jpeg
from idmatch.match import OPERATING_FMRS, shipped_calibration
from idmatch.pipeline import FaceEngine

POPULATIONS = ["lfw", "casia_facev5", "inspireface", "face_recognition", "openface"]


def per_source(engine, cal) -> dict:
    pairs = read_pairs(DATA / "verification/all_pairs.csv")
    out = {}
    for src in sorted(set(pairs.sources)):
        sub = pairs.subset(np.array([s == src for s in pairs.sources]))
        templates, failures = pooled_templates(engine.model_id, f"src-{src}", sub.images,
                                               lambda p: engine.analyze(p).template, desc=src)
        scores = score_pairs(sub, EmbeddingTable(templates, failures))
        rep = verification_report(scores, sub.same, sub.folds, cal, fte_images=len(failures), n_images=len(sub.images))
        rep["fte_list"] = failures
        out[src] = rep
    return out


def population_table(engine, cal) -> dict:
    out = {}
    for name in POPULATIONS:
        ids = identities(name)
        templates, failures = cached_templates(f"{engine.model_id}-{name}", list(ids),
                                               lambda p: engine.analyze(p).template, desc=name)
        keys = sorted(templates)
        g, i = all_pair_scores(np.stack([templates[k] for k in keys]), np.array([ids[k] for k in keys]))
        # an FTE image still owes its comparisons: count them as non-matches (FNMR) / non-false-matches
        n_fail = len(failures)
        per_id, failed_per_id = defaultdict(int), defaultdict(int)
        for k, ident in ids.items():
            per_id[ident] += 1
            failed_per_id[ident] += k in failures
        # same-identity pairs with at least one side not enrolled: C(n,2) - C(n-m,2)
        extra_gen = sum(n * (n - 1) // 2 - (n - failed_per_id[ident]) * (n - failed_per_id[ident] - 1) // 2
                        for ident, n in per_id.items())
        row = {"images": len(ids), "identities": len(set(ids.values())), "fte_images": n_fail,
               "fte_rate": n_fail / len(ids), "n_genuine": int(len(g) + extra_gen), "n_impostor": int(len(i)),
               "points": {}}
        for fmr in OPERATING_FMRS:
            thr = cal.threshold_for(fmr)
            m_fmr = float((i >= thr).mean())
            fn = float(((g < thr).sum() + extra_gen) / max(len(g) + extra_gen, 1))
            row["points"][f"{fmr:g}"] = {"threshold": thr, "fmr": m_fmr, "fmr_ratio_to_target": m_fmr / fmr,
                                         "false_matches": int((i >= thr).sum()), "fnmr": fn,
                                         "fnmr_enrolled_only": float((g < thr).mean()) if len(g) else None}
        row["fte_list"] = failures
        out[name] = row
    # deepface: identities are not labelled per image, so only its labelled pairs can be used
    pairs = read_pairs(DATA / "verification/deepface/pairs.csv")
    templates, failures = pooled_templates(engine.model_id, "src-deepface", pairs.images,
                                           lambda p: engine.analyze(p).template, desc="deepface")
    s = score_pairs(pairs, EmbeddingTable(templates, failures))
    same = pairs.same.astype(bool)
    row = {"images": len(pairs.images), "fte_images": len(failures), "fte_rate": len(failures) / len(pairs.images),
           "n_genuine": int(same.sum()), "n_impostor": int((~same).sum()), "points": {}, "note": "labelled pairs only"}
    for fmr in OPERATING_FMRS:
        thr = cal.threshold_for(fmr)
        fm, fn = metrics.rates_at(s[same], s[~same], thr)
        row["points"][f"{fmr:g}"] = {"threshold": thr, "fmr": fm, "fmr_ratio_to_target": fm / fmr,
                                     "false_matches": int((s[~same] >= thr).sum()), "fnmr": fn}
    out["deepface"] = row
    return out


def chip_size(engine, cal) -> dict:
    """One side of each LFW pair as a 102x126 JPEG (q=75) tight portrait, like an ID-card chip photo."""
    pairs = read_pairs(DATA / "verification/lfw_deepfunneled/pairs.csv")
    full, _ = cached_templates(f"{engine.model_id}-lfw", [str(p.relative_to(DATA)) for p in
                                                          sorted((DATA / "verification/lfw_deepfunneled/images").glob("*/*.jpg"))],
                               lambda p: engine.analyze(p).template, desc="lfw")
    chip_t, chip_fail = {}, 0
    for p in tqdm(sorted(set(pairs.img1)), desc="chip-size", unit="img", mininterval=1.0):
        img = cv2.imread(str(DATA / p))
        chip = cv2.resize(img[25:225, 45:205], (102, 126), interpolation=cv2.INTER_AREA)
        try:
            chip_t[p] = engine.analyze(encode_jpeg(chip, 75), role="portrait").template
        except IdmatchError:
            chip_fail += 1
    res = {}
    for label, t1 in (("full_resolution", full), ("chip_102x126_jpeg75", chip_t)):
        s = np.array([float(t1[a] @ full[b]) if a in t1 and b in full else -np.inf for a, b in zip(pairs.img1, pairs.img2)])
        same = pairs.same.astype(bool)
        res[label] = {"fnmr_at": {f"{f:g}": metrics.rates_at(s[same], s[~same], cal.threshold_for(f))[1] for f in OPERATING_FMRS},
                      "tar_at_far_1e-3": metrics.tar_at_far(s[same], s[~same], 1e-3),
                      "auc": metrics.auc(s[same], s[~same])}
    res["chip_fte_images"] = chip_fail
    return res


def main() -> None:
    require_data()
    cv2.setNumThreads(2)
    engine = FaceEngine()
    cal = engine.calibration
    report = {"calibration": cal.name, "model": engine.model_id,
              "sources": per_source(engine, cal), "populations": population_table(engine, cal),
              "chip_size": chip_size(engine, cal)}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "verify_sources.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "fte_list"} for k, v in report["populations"].items()}, indent=1))
    print(json.dumps(report["chip_size"], indent=1))
    for src, rep in report["sources"].items():
        print(src, {k: rep[k] for k in ("pairs", "auc", "eer", "fte_images")}, rep.get("accuracy_cv") or rep.get("accuracy_best_threshold"))


if __name__ == "__main__":
    main()
