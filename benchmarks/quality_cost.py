"""What does the quality stage cost next to one embedding of the same face?

For each image (a fixed sample of LFW plus the labelled quality images) and in the same run,
interleaved so load from other processes hits both alike:
  * quality   -- ``assess(analysis)``: every measure on an existing FaceAnalysis (what the
                 pipeline adds; detection and alignment are shared with matching);
  * embedding -- one SFace forward pass on the aligned crop (the engine runs two with flip).
Reports medians and the ratio (target <= 20 %), plus the per-measure split. Timings on a shared
machine are noisy: the ratio measured in the same run is the figure to read.

    python benchmarks/quality_cost.py [--n 80]
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import time

import numpy as np
from common import DATA, REPORTS, identities, require_data
from tqdm import tqdm

from idmatch.errors import IdmatchError
from idmatch.pipeline import FaceEngine
from idmatch.quality import LIVE, assess
from idmatch.quality.assess import _context_from_analysis
from idmatch.quality.measures import default_measures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=80, help="LFW images in the sample")
    args = ap.parse_args()
    require_data()
    engine = FaceEngine()
    rng = random.Random(0)
    paths = rng.sample(sorted(identities("lfw")), args.n)
    paths += [r["path"] for r in csv.DictReader(open(DATA / "quality/labels.csv"))]
    analyses = []
    for p in tqdm(paths, desc="analyse", mininterval=1.0):
        try:
            analyses.append(engine.analyze(str(DATA / p)))
        except IdmatchError:
            pass
    assess(analyses[0])  # warm-up: loads the eye model
    engine.recognizer.embed(analyses[0].aligned)
    q_ms, e_ms, per = [], [], {}
    measures = default_measures()
    for a in tqdm(analyses, desc="time", mininterval=1.0):
        t0 = time.perf_counter()
        engine.recognizer.embed(a.aligned)
        t1 = time.perf_counter()
        assess(a)
        t2 = time.perf_counter()
        e_ms.append((t1 - t0) * 1e3)
        q_ms.append((t2 - t1) * 1e3)
        ctx = _context_from_analysis(a, engine.detector)  # per-measure split (a second pass)
        for m in measures:
            s = time.perf_counter()
            m.evaluate(ctx, LIVE)
            per.setdefault(m.name, []).append((time.perf_counter() - s) * 1e3)
    q, e = np.array(q_ms), np.array(e_ms)
    out = {
        "images": len(analyses),
        "quality_ms_median": round(float(np.median(q)), 2), "quality_ms_p90": round(float(np.percentile(q, 90)), 2),
        "embedding_ms_median": round(float(np.median(e)), 2),
        "ratio_median_quality_over_one_embedding": round(float(np.median(q) / np.median(e)), 3),
        "ratio_median_per_face": round(float(np.median(q / e)), 3),
        "ratio_p90_per_face": round(float(np.percentile(q / e, 90)), 3),
        "share_of_faces_within_20pct": round(float(np.mean(q / e <= 0.2)), 3),
        "per_measure_ms_median": {k: round(float(np.median(v)), 3) for k, v in per.items()},
        "note": "same run, interleaved, shared 2-core machine under load from other processes",
    }
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "quality_cost.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
