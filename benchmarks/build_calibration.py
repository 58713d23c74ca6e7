"""Regenerate the shipped calibration table (src/idmatch/data/calibration_sface-v2.json) and its manifest.

Each labelled population (LFW folds 1-5: 3,811 images; CASIA-FaceV5: 200; InspireFace; face_recognition)
is seen under every capture condition of :mod:`idmatch.evaluation.conditions` (full photo, chip
portrait, tight aligned crop, greyscale, low resolution). Every (portrait, live) condition pair of a
population is a calibration cell: impostor scores from *all* cross-identity comparisons, genuine scores
from all same-identity comparisons of different photos. The shipped threshold at each FMR is the
strictest any cell needs; a point is shipped only where every deciding population has 10/FMR impostor
comparisons (pooled over its cells).

    python benchmarks/build_calibration.py          # templates cached in reports/tmp/ (~30 min cold)
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging

import cv2
from common import CALIBRATION_POPULATIONS, DATA, REPO, condition_tables

from idmatch.calibration import build_calibration, class_cells, condition_cells
from idmatch.evaluation.condition_templates import load_features
from idmatch.evaluation import conditions as C
from idmatch.match import OPERATING_FMRS, SHIPPED_CALIBRATIONS
from idmatch.pipeline import EngineConfig, FaceEngine

VERSION = "v2"
log = logging.getLogger("build_calibration")


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--flip", action="store_true", help="the accurate mode's table")
    ap.add_argument("--out", default=None, help="default: the shipped file for the engine's model id")
    ap.add_argument("--by-class", action="store_true",
                    help="also a table per pair of capture classes read off the images (benchmarks/conditions_eval.py "
                         "measures whether that beats one threshold for all)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    cv2.setNumThreads(1)
    engine = FaceEngine(EngineConfig(flip_augment=args.flip))
    out = REPO / "src/idmatch/data" / SHIPPED_CALIBRATIONS[engine.model_id] if args.out is None else args.out
    cells, by_class, rows, manifest = [], [], [], {"conditions": list(C.CONDITIONS), "condition_pairs": [list(p) for p in C.condition_pairs()],
                                     "generators": {c: C.generator_params(c) for c in C.CONDITIONS},
                                     "data_root": "../shared/data", "populations": {}}
    for name in CALIBRATION_POPULATIONS:
        ids, ct = condition_tables(engine, name)
        fte = {c: len(ct[c].failures) for c in C.CONDITIONS}
        tables = {c: ct[c].templates for c in C.CONDITIONS}
        cells += condition_cells(name, tables, ids, C.condition_pairs(), fte=fte)
        if args.by_class:
            classes = {c: {k: C.class_of_features(f) for k, f in load_features(ct.files[c]).items()} for c in C.CONDITIONS}
            by_class += class_cells(name, tables, classes, ids, C.condition_pairs())
        paths = sorted(ids)
        manifest["populations"][name] = {
            "images": len(paths), "identities": len(set(ids.values())),
            "image_list_sha1": hashlib.sha1("\n".join(paths).encode()).hexdigest(),
            "fte": {c: sorted(ct[c].failures) for c in C.CONDITIONS if ct[c].failures},
        }
        for p in paths:
            rows.append((name, p, ids[p], sha256(DATA / p)))
        log.info("%s: %d images, FTE per condition %s", name, len(paths), fte)
    manifest_file = out.with_suffix(".manifest.csv")
    manifest["file_list"] = manifest_file.name
    manifest["strategy"] = "by_class" if args.by_class else "strictest"
    cal = build_calibration(cells, model=engine.model_id, manifest=manifest, by_class=by_class or None,
                            name=f"shipped-{engine.model_id}-lfw+casia+conditions-{VERSION}")
    cal.save(out)
    with open(manifest_file, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["population", "path", "identity", "sha256"])
        w.writerows(rows)
    print(json.dumps({f"{p.fmr:g}": p.threshold for p in cal.points if p.fmr in OPERATING_FMRS}, indent=1))
    print("lowest shipped FMR:", f"{cal.points[-1].fmr:g}")
    for key, pts in cal.class_points.items():
        print(key, {f"{p.fmr:g}": round(p.threshold, 4) for p in pts if p.fmr in OPERATING_FMRS})
    for cname, d in {**cal.populations, **cal.cells}.items():
        if d["decides"]:
            print(cname, "decides", d["decides"])


if __name__ == "__main__":
    main()
