"""Does quality predict recognition errors? Error-versus-discard curve (ISO/IEC 29794-1) on LFW.

LFW folds 1-5 (1,500 genuine pairs): FNMR at the fixed shipped threshold for FMR 1e-3 as the
lowest-quality genuine pairs are discarded (pair quality = the lower of the two images'
overall quality; an image with no face found has quality 0), against a random-discard
baseline (mean of 200 random orders) in the same run. Also the EDC of each measure's component
alone, to show which measures carry the prediction, and -- as a check on a population that
played no part in choosing the overall score's weights -- the same curve on all same-identity
pairs of CASIA-FaceV5 (400 pairs). Writes docs/img/edc.png and reports/quality_edc.json.

    python benchmarks/quality_edc.py [--profile live]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging

import numpy as np
from common import CACHE, DATA, REPO, REPORTS, cached_templates, identities, require_data
from tqdm import tqdm

from idmatch.evaluation.pairs import EmbeddingTable, read_pairs, score_pairs
from idmatch.match import shipped_calibration
from idmatch.pipeline import FaceEngine
from idmatch.quality import assess

DISCARDS = (0.0, 0.05, 0.10, 0.20)
FMR = 1e-3


def image_qualities(engine: FaceEngine, paths: list[str], profile: str) -> dict[str, dict]:
    """{path: {"overall": q, "components": {measure: c}}}, cached in .cache/ per image set and profile."""
    CACHE.mkdir(exist_ok=True)
    src = "".join(open(p).read() for p in sorted((REPO / "src/idmatch/quality").glob("*.py")))
    h = hashlib.sha1(("\n".join(sorted(paths)) + profile + src).encode()).hexdigest()[:10]
    f = CACHE / f"quality-{profile}-{h}.json"
    if f.exists():
        return json.loads(f.read_text())
    out = {}
    for p in tqdm(paths, desc=f"quality ({profile})", unit="img", mininterval=1.0):
        rep = assess(engine, str(DATA / p), profile=profile)
        out[p] = {"overall": rep.overall, "passed": rep.passed, "codes": rep.codes,
                  "components": {m.name: m.component for m in rep.measures if m.component is not None}}
    f.write_text(json.dumps(out))
    return out


def edc(quality: np.ndarray, errors: np.ndarray, fractions, rng: np.random.Generator | None = None) -> list[float]:
    """FNMR after discarding the lowest-quality ``fraction`` of comparisons (ties broken at random
    with ``rng``, or by order when None)."""
    n = len(quality)
    tie = rng.random(n) if rng is not None else np.arange(n) / n
    order = np.lexsort((tie, quality))  # ascending quality
    out = []
    for f in fractions:
        keep = order[int(round(f * n)):]
        out.append(float(errors[keep].mean()) if len(keep) else float("nan"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="live")
    ap.add_argument("--random-runs", type=int, default=200)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    require_data()
    engine = FaceEngine()
    pairs = read_pairs(DATA / "verification/lfw_deepfunneled/pairs.csv")
    lfw_images = list(identities("lfw"))
    templates, failures = cached_templates(f"{engine.model_id}-lfw", lfw_images, lambda p: engine.analyze(p).template, desc="lfw")
    scores = score_pairs(pairs, EmbeddingTable(templates=templates, failures=failures))
    cal = shipped_calibration()
    thr = cal.threshold_for(FMR)
    gen = pairs.same == 1
    imp_scores = scores[~gen]
    errors = (scores[gen] < thr).astype(np.float64)

    q = image_qualities(engine, pairs.images, args.profile)
    q1 = np.array([q[a]["overall"] for a in pairs.img1])
    q2 = np.array([q[b]["overall"] for b in pairs.img2])
    pq = np.minimum(q1, q2)[gen]

    fine = np.round(np.arange(0, 0.301, 0.01), 3)
    curve = edc(pq, errors, fine)
    at = dict(zip([float(f) for f in DISCARDS], edc(pq, errors, DISCARDS)))
    rng = np.random.default_rng(0)
    rand = np.array([edc(rng.random(len(pq)), errors, fine) for _ in range(args.random_runs)])
    rand_at = {float(f): float(rand[:, list(fine).index(f)].mean()) for f in DISCARDS}

    names = sorted({k for v in q.values() for k in v["components"]})
    per_measure = {}
    for name in names:
        c1 = np.array([q[a]["components"].get(name, 100) for a in pairs.img1])
        c2 = np.array([q[b]["components"].get(name, 100) for b in pairs.img2])
        pm = np.minimum(c1, c2)[gen].astype(float)
        per_measure[name] = dict(zip([str(f) for f in DISCARDS], edc(pm, errors, DISCARDS, np.random.default_rng(1))))

    # held-out population: all same-identity pairs of CASIA-FaceV5
    import itertools

    cids = identities("casia_facev5")
    ctemp, cfail = cached_templates(f"{engine.model_id}-casia_facev5", list(cids), lambda p: engine.analyze(p).template, desc="casia")
    cq = image_qualities(engine, list(cids), args.profile)
    cpairs = [(a, b) for a, b in itertools.combinations(sorted(cids), 2) if cids[a] == cids[b]]
    cs = np.array([float(ctemp[a] @ ctemp[b]) if a in ctemp and b in ctemp else -np.inf for a, b in cpairs])
    cerr = (cs < thr).astype(np.float64)
    cpq = np.array([min(cq[a]["overall"], cq[b]["overall"]) for a, b in cpairs])
    enrolled = np.isfinite(cs)
    c_curve = edc(cpq, cerr, fine)
    c_at = dict(zip([float(f) for f in DISCARDS], edc(cpq, cerr, DISCARDS)))
    c_rand = np.array([edc(rng.random(len(cpq)), cerr, fine) for _ in range(args.random_runs)])

    f0 = at[0.0]
    monotonic = all(a >= b - 1e-12 for a, b in zip(list(at.values()), list(at.values())[1:]))
    result = {
        "protocol": "LFW folds 1-5, genuine pairs, pair quality = min of the two images' overall quality",
        "profile": args.profile, "threshold": round(thr, 5), "threshold_fmr": FMR, "calibration": cal.name,
        "impostor_fmr_at_threshold": float((imp_scores >= thr).mean()),
        "n_genuine": int(gen.sum()), "n_errors": int(errors.sum()), "failures_to_enrol": len(failures),
        "fnmr_by_discard": {str(k): round(v, 5) for k, v in at.items()},
        "random_fnmr_by_discard": {str(k): round(v, 5) for k, v in rand_at.items()},
        "relative_drop_at_10pct": round(1 - at[0.10] / f0, 4) if f0 else None,
        "monotonic": monotonic,
        "per_measure_fnmr_by_discard": per_measure,
        "images_rejected_by_profile": int(sum(not v["passed"] for v in q.values())),
        "held_out_casia_facev5": {
            "n_genuine": len(cpairs), "n_errors": int(cerr.sum()),
            "fnmr_by_discard": {str(k): round(v, 5) for k, v in c_at.items()},
            "random_fnmr_by_discard": {str(f): round(float(c_rand[:, list(fine).index(f)].mean()), 5) for f in DISCARDS},
            "relative_drop_at_10pct": round(1 - c_at[0.10] / c_at[0.0], 4) if c_at[0.0] else None,
            "failures_to_enrol": sorted(cfail),
            # the same without the pairs of images where no face was found (quality 0, always errors)
            "without_fte_pairs": {"n_genuine": int(enrolled.sum()), "n_errors": int(cerr[enrolled].sum()),
                                  "fnmr_by_discard": {str(k): round(v, 5) for k, v in
                                                      zip(DISCARDS, edc(cpq[enrolled], cerr[enrolled], DISCARDS))}},
        },
        "n_images": len(q),
    }
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "quality_edc.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "per_measure_fnmr_by_discard"}, indent=1))
    for name, v in per_measure.items():
        print(f"  {name:25s} " + "  ".join(f"{k}:{x:.4f}" for k, x in v.items()))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    panels = ((axes[0], curve, rand, at, f"LFW folds 1-5 ({int(gen.sum())} genuine pairs)"),
              (axes[1], c_curve, c_rand, c_at, f"held out: CASIA-FaceV5 ({len(cpairs)} genuine pairs)"))
    for ax, cur, rnd, pts, title in panels:
        ax.plot(fine * 100, cur, "-o", ms=3, label="idmatch quality (overall, min of pair)")
        m, s = rnd.mean(0), rnd.std(0)
        ax.plot(fine * 100, m, "--", color="grey", label=f"random discard (mean of {args.random_runs})")
        ax.fill_between(fine * 100, m - s, m + s, color="grey", alpha=0.2)
        for f in DISCARDS:
            ax.annotate(f"{pts[f] * 100:.2f}%", (f * 100, pts[f]), textcoords="offset points", xytext=(4, 6), fontsize=8)
        ax.set_xlabel("lowest-quality genuine pairs discarded (%)")
        ax.set_ylabel(f"FNMR at FMR {FMR:g} threshold ({thr:.3f})")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.suptitle("Error-versus-discard (ISO/IEC 29794-1), SFace with the shipped calibration", fontsize=11)
    fig.tight_layout()
    out = REPO / "docs/img/edc.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out} and {REPORTS / 'quality_edc.json'}")


if __name__ == "__main__":
    main()
