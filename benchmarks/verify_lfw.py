"""LFW folds 1-5 (3,000 pairs) and the other verification sources: idmatch side by side with peers.

Reports per system: 5-fold CV accuracy (threshold from 4 folds, tested on the 5th), AUC, EER,
TAR@FAR 1e-3, failure-to-enrol, ms per verified pair (decode + detect + align + embed both
images + score, on a fixed sample of pairs, 2 threads) and, for idmatch, the model-only floor.

    python benchmarks/verify_lfw.py [--systems idmatch,idmatch-flip,opencv,dlib] [--speed-pairs 60]
"""
from __future__ import annotations

import argparse
import json
import time

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


def time_pairs(embed, pairs, n: int) -> float:
    rng = np.random.default_rng(0)
    idx = rng.choice(len(pairs.img1), size=min(n, len(pairs.img1)), replace=False)
    embed(str(DATA / pairs.img1[idx[0]]))  # warm-up
    t0 = time.perf_counter()
    for k in idx:
        try:
            a, b = embed(str(DATA / pairs.img1[k])), embed(str(DATA / pairs.img2[k]))
            float(np.dot(a, b))
        except Exception:
            pass
    return (time.perf_counter() - t0) / len(idx) * 1e3


def model_only_ms(engine: FaceEngine, pairs, n: int) -> float:
    """Detector forward on the working-size image + recognizer forward(s) on the aligned crop, per pair."""
    imgs = [engine.decode(str(DATA / p)) for p in pairs.img1[:n]]
    crops = []
    for img in imgs:
        sel = engine.detect(img)
        crops.append(engine.align(img, sel.face))
    t0 = time.perf_counter()
    for img, crop in zip(imgs, crops):
        engine.detector.detect(img)
        engine.embed(crop)
    return 2 * (time.perf_counter() - t0) / len(imgs) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--systems", default="idmatch,idmatch-flip,opencv,dlib")
    ap.add_argument("--pairs", default="verification/lfw_deepfunneled/pairs.csv")
    ap.add_argument("--speed-pairs", type=int, default=60, help="0 skips timing (use speed.py for interleaved timing)")
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
        if args.speed_pairs:
            rep["ms_per_pair"] = time_pairs(embed, pairs, args.speed_pairs)
            if engine is not None:
                rep["model_only_ms_per_pair"] = model_only_ms(engine, pairs, args.speed_pairs)
        results[sysname] = rep
        same = pairs.same.astype(bool)
        finite = np.where(np.isfinite(scores), scores, -1e9)
        curves[model_id] = (finite[same], finite[~same])
        acc = rep.get("accuracy_cv", {}).get("mean", float("nan"))
        print(f"{sysname:16s} acc {100 * acc:.2f}%  AUC {rep['auc']:.4f}  EER {100 * rep['eer']:.2f}%  "
              f"TAR@1e-3 {100 * rep['tar_at_far']['0.001']:.2f}%  FTE {len(fte)}"
              + (f"  {rep['ms_per_pair']:.0f} ms/pair" if "ms_per_pair" in rep else "")
              + (f" (model-only {rep['model_only_ms_per_pair']:.0f})" if "model_only_ms_per_pair" in rep else ""), flush=True)
    REPORTS.mkdir(exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1)
    plot_roc_det(curves, REPO / "docs/img", "LFW folds 1-5")
    print(f"wrote {args.out} and docs/img/roc.png, docs/img/det.png")


if __name__ == "__main__":
    main()
