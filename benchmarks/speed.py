"""ms per verified pair on 2 threads: idmatch (with and without flip), its model-only floor, and the
peers, timed *interleaved* pair by pair so machine load hits every system alike (ratios hold).

A verified pair = decode + detect + align + embed for both images + score.
Model-only = YuNet forward on the working-size image + SFace forward(s) on the aligned crop, x2.

    python benchmarks/speed.py [--pairs 60] [--systems idmatch,idmatch-flip,opencv,dlib]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import cv2
import numpy as np
from common import DATA, REPORTS, require_data

from idmatch.detect import _resize_for_detection as resize_for_detection
from idmatch.evaluation.pairs import read_pairs
from idmatch.pipeline import EngineConfig, FaceEngine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pairs", type=int, default=60)
    ap.add_argument("--systems", default="idmatch,idmatch-flip,opencv,dlib")
    args = ap.parse_args()
    require_data()
    cv2.setNumThreads(2)
    pairs = read_pairs(DATA / "verification/lfw_deepfunneled/pairs.csv")
    idx = np.random.default_rng(0).choice(len(pairs.img1), size=args.pairs, replace=False)
    systems = {}
    engines = {}
    for name in args.systems.split(","):
        if name.startswith("idmatch"):
            e = FaceEngine(EngineConfig(flip_augment=name == "idmatch-flip"))
            engines[name] = e
            systems[name] = lambda p, e=e: e.analyze(p).template
        else:
            from peers import DlibPeer, OpenCVPeer

            peer = OpenCVPeer() if name == "opencv" else DlibPeer()
            systems[name] = peer.embed
    e = engines.get("idmatch") or FaceEngine()

    def model_only(p: str) -> float:
        img = e.decode(p)
        sel = e.detect(img)
        crop = e.align(img, sel.face)
        work, _ = resize_for_detection(img, e.config.detection)
        t = time.perf_counter()
        e.detector.detect(work)
        e.embed(crop)
        return time.perf_counter() - t

    times: dict[str, list[float]] = {k: [] for k in systems}
    times["idmatch model-only"] = []
    for name, f in systems.items():  # warm-up
        f(str(DATA / pairs.img1[idx[0]]))
    for k in idx:
        a, b = str(DATA / pairs.img1[k]), str(DATA / pairs.img2[k])
        for name, f in systems.items():
            t0 = time.perf_counter()
            try:
                ta, tb = f(a), f(b)
                float(np.dot(ta, tb))
            except Exception:
                pass
            times[name].append((time.perf_counter() - t0) * 1e3)
        times["idmatch model-only"].append((model_only(a) + model_only(b)) * 1e3)
    res = {n: {"median_ms": statistics.median(v), "mean_ms": statistics.fmean(v)} for n, v in times.items()}
    base = res.get("idmatch", res[next(iter(res))])["median_ms"]
    for n, r in res.items():
        r["ratio_to_idmatch"] = r["median_ms"] / base
        print(f"{n:20s} {r['median_ms']:7.1f} ms/pair (median of {args.pairs})  x{r['ratio_to_idmatch']:.2f} of idmatch")
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "speed.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
