"""LFW folds 1-5 (3,000 pairs) and the other verification sources: idmatch side by side with peers.

Reports per system: 5-fold CV accuracy (threshold from 4 folds, tested on the 5th), AUC, EER,
TAR@FAR 1e-3 and failure-to-enrol. Time per verified pair is measured by ``speed.py``, which
times the same systems interleaved so machine load hits them alike.

    python benchmarks/verify_lfw.py [--systems idmatch,idmatch-flip,opencv,dlib]
"""
from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
from common import DATA, REPO, REPORTS, cached_templates, require_data

from idmatch.evaluation.pairs import read_pairs, score_pairs, EmbeddingTable
from idmatch.evaluation.report import plot_roc_det, verification_report
from idmatch.pipeline import EngineConfig, FaceEngine


def make_system(name: str):
    if name in ("idmatch", "idmatch-flip"):
        e = FaceEngine(EngineConfig(flip_augment=name == "idmatch-flip"))
        return e.model_id, (lambda p: e.analyze(p).template), e
    from peers import DlibPeer, OpenCVPeer

    peer = OpenCVPeer() if name == "opencv" else DlibPeer()
    return peer.name, peer.embed, None


def pair_scores(name, pairs, templates):
    if name == "dlib":
        from peers import dlib_scores

        return dlib_scores(templates, pairs.img1, pairs.img2)
    return score_pairs(pairs, EmbeddingTable(templates=templates))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--systems", default="idmatch,idmatch-flip,opencv,dlib")
    ap.add_argument("--pairs", default="verification/lfw_deepfunneled/pairs.csv")
    ap.add_argument("--out", default=str(REPORTS / "verify_lfw.json"))
    args = ap.parse_args()
    require_data()
    cv2.setNumThreads(2)
    pairs = read_pairs(DATA / args.pairs)
    results, curves = {}, {}
    for sysname in args.systems.split(","):
        model_id, embed, engine = make_system(sysname)
        templates, failures = cached_templates(f"{model_id}-lfw" if "lfw" in args.pairs else f"{model_id}-{args.pairs.replace('/', '_')}",
                                               pairs.images, embed, desc=sysname)
        # cached_templates may hold more images than the pairs use (population cache): restrict
        scores = pair_scores(sysname, pairs, templates)
        fte = sorted(p for p in pairs.images if p not in templates)
        rep = verification_report(scores, pairs.same, pairs.folds, engine.calibration if engine is not None else None,
                                  fte_images=len(fte), n_images=len(pairs.images))
        rep["fte_list"] = fte
        results[sysname] = rep
        same = pairs.same.astype(bool)
        finite = np.where(np.isfinite(scores), scores, -1e9)
        curves[model_id] = (finite[same], finite[~same])
        acc = rep.get("accuracy_cv", {}).get("mean", float("nan"))
        print(f"{sysname:16s} acc {100 * acc:.2f}%  AUC {rep['auc']:.4f}  EER {100 * rep['eer']:.2f}%  "
              f"TAR@1e-3 {100 * rep['tar_at_far']['0.001']:.2f}%  FTE {len(fte)}", flush=True)
    REPORTS.mkdir(exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1)
    plot_roc_det(curves, REPO / "docs/img", "LFW folds 1-5")
    print(f"wrote {args.out} and docs/img/roc.png, docs/img/det.png")


if __name__ == "__main__":
    main()
