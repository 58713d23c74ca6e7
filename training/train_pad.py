"""Train the shipped passive PAD model, reproducibly.

    nice .venv/bin/python training/train_pad.py          # ~1-3 min on 2 cores once features are cached

Writes ``src/idmatch/data/liveness_pad.json`` (the model, its threshold and how it was made) and
``training/pad_manifest.csv.gz`` (every sample considered, with ``in_training_pool``: the exact data
list). The seed, the synthetic-attack code and the sample list fully determine the result;
features are cached in ``.cache/pad/`` (first run: ~8 min with the face detector on 2 cores).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
sys.path.insert(0, str(REPO / "src"))

import pad_data  # noqa: E402
import pad_model as PM  # noqa: E402
from idmatch.liveness import features as F  # noqa: E402
from idmatch.liveness.passive import PadModel  # noqa: E402

MODEL_OUT = REPO / "src" / "idmatch" / "data" / "liveness_pad.json"
MANIFEST_OUT = REPO / "training" / "pad_manifest.csv.gz"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--l2", type=float, default=PM.L2)
    ap.add_argument("--out", default=str(MODEL_OUT))
    ap.add_argument("--manifest", default=str(MANIFEST_OUT))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    t_start = time.time()
    samples = pad_data.build_samples()
    pad_data.write_manifest(samples, Path(args.manifest))
    X, ok = pad_data.extract(samples)
    t_feat = time.time() - t_start
    pool = np.array([s.in_training_pool for s in samples]) & ok
    S = np.array([s.source for s in samples])[pool]
    y = np.array([s.label == "live" for s in samples], float)[pool]
    groups = np.array([s.subject for s in samples])[pool]
    is_photo = np.array([s.split != "pad" for s in samples])[pool]
    Xp = X[pool]
    w = PM.group_weights(S, y)
    t0 = time.time()
    oof = PM.oof_scores(Xp, y, w, groups, l2=args.l2)
    thr = PM.choose_threshold(oof, y == 1, is_photo)
    mean, std, wts, b = PM.fit_logreg(Xp, y, w, args.l2)
    t_fit = time.time() - t0
    # shift the bias so the operating point sits at score 0.5: callers and review margins then see
    # one scale (score >= 0.5 = live at the shipped threshold) whatever the retrained model's raw one
    raw_thr = thr
    b = b - float(np.log(thr / (1.0 - thr)))
    thr = 0.5
    manifest_sha = hashlib.sha256(Path(args.manifest).read_bytes()).hexdigest()
    counts = Counter(f"{s}|{'live' if l else 'spoof'}" for s, l in zip(S, y))
    model = PadModel(
        name="idmatch-pad-clbp-lr-v1", mean=mean, std=std, weights=wts, bias=b, threshold=thr,
        crop_size=F.CROP_SIZE, crop_margin=F.CROP_MARGIN, sqrt_features=True,
        meta={"features": f"uniform LBP (8 neighbours, radii {list(F.RADII)}) of H,S,V,Y,Cr,Cb on a "
                          f"{F.CROP_SIZE}px crop of the face box + {F.CROP_MARGIN} margin; sqrt; standardised",
              "classifier": f"L2 logistic regression (l2={args.l2}), (data-set family, label) groups equally weighted",
              "threshold_rule": "out-of-fold (5-fold by subject) BPCER <= 1% on verification photos and <= 5% on PAD bona fide; "
                                "bias shifted so that threshold is 0.5",
              "raw_probability_threshold": raw_thr,
              "seed": pad_data.SEED, "train_samples": int(pool.sum()), "train_counts": dict(sorted(counts.items())),
              "manifest": "training/pad_manifest.csv.gz", "manifest_sha256": manifest_sha,
              "train_seconds": round(t_fit, 1), "feature_seconds_incl_cache": round(t_feat, 1),
              "python": platform.python_version(), "numpy": np.__version__,
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    model.save(args.out)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KiB): threshold {thr:.5f} (raw {raw_thr:.5f}), "
          f"{int(pool.sum())} training samples, fit+CV {t_fit:.1f}s")
    print(json.dumps(model.meta["train_counts"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
