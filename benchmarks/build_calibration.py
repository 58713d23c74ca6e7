"""Regenerate the shipped calibration table (src/idmatch/data/calibration_sface.json).

Impostor scores come from *all* cross-identity comparisons among the images of each
labelled population (LFW folds 1-5: 3,811 images, ~7.2 M impostor pairs; CASIA-FaceV5:
200 images, 19,500; InspireFace; face_recognition), genuine scores from all
same-identity comparisons. The shipped threshold at each FMR is the strictest across
the populations that have enough impostor comparisons to support it (10/FMR).

    python benchmarks/build_calibration.py [--flip]
"""
from __future__ import annotations

import argparse
import json
import logging

from common import REPO, cached_templates, identities

from idmatch.calibration import build_calibration, population_scores
from idmatch.match import OPERATING_FMRS, SHIPPED_CALIBRATIONS
from idmatch.pipeline import EngineConfig, FaceEngine

POPULATIONS = ["lfw", "casia_facev5", "inspireface", "face_recognition"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--flip", action="store_true", help="the accurate mode's table (calibration_sface_flip.json)")
    ap.add_argument("--out", default=None, help="default: the shipped file for the engine's model id")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    engine = FaceEngine(EngineConfig(flip_augment=args.flip))
    out = args.out or str(REPO / "src/idmatch/data" / SHIPPED_CALIBRATIONS[engine.model_id])
    pops = []
    for name in POPULATIONS:
        ids = identities(name)
        templates, failures = cached_templates(f"{engine.model_id}-{name}", list(ids), lambda p: engine.analyze(p).template, desc=name)
        pops.append(population_scores(name, templates, ids, fte=len(failures)))
        print(f"{name}: {pops[-1].summary()} failures={failures}")
    cal = build_calibration(pops, model=engine.model_id, name=f"shipped-{engine.model_id}-lfw+casia-v1")
    cal.save(out)
    print(json.dumps({p.fmr: p.threshold for p in cal.points if p.fmr in OPERATING_FMRS}, indent=1))
    print(json.dumps(cal.populations, indent=1))


if __name__ == "__main__":
    main()
