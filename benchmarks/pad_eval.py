"""Passive PAD evaluation by ISO/IEC 30107-3 (APCER per attack type, BPCER, threshold).

Protocols (see /work/shared/EVALUATION.md):
* leave-one-source-out (headline): for each PAD source (nuaa, replay_manikantha,
  replay_tranvanluyt2203, misc = silent_face + InspireFace's rgb_fake) train on everything else (other PAD
  sources + the train half of the verification faces and their synthetic attacks), choose the
  threshold on the training data only (out-of-fold, same rule as the shipped model), test on the
  held-out source. Pooled LOSO scores give the row comparable with EVALUATION.md's reference table.
* in-source: 5-fold cross-validation grouped by subject over all training data.
* bona fide photos: the shipped model on the *eval* half of the verification faces (identities it
  never saw): BPCER per population at the shipped threshold, and APCER on synthetic attacks of them.
* speed: ms per face for crop + features + score, beside detection, same run (2 threads).

Run:  nice .venv/bin/python benchmarks/pad_eval.py            (writes reports/pad_eval.json)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
sys.path.insert(0, str(REPO / "src"))

import pad_data  # noqa: E402
import pad_model as PM  # noqa: E402

LOSO_SOURCES = {"nuaa": ["nuaa"], "replay_manikantha": ["replay_manikantha"],
                "replay_tranvanluyt2203": ["replay_tranvanluyt2203"], "misc": ["silent_face", "inspireface_pad"]}
ATTACK_TYPES = ("print", "replay_screen")


def auc(live: np.ndarray, attack: np.ndarray) -> float:
    if not len(live) or not len(attack):
        return float("nan")
    s = np.concatenate([live, attack])
    ranks = s.argsort().argsort() + 1.0
    r_live = ranks[: len(live)].sum()
    return float((r_live - len(live) * (len(live) + 1) / 2) / (len(live) * len(attack)))


def metrics(scores: np.ndarray, is_live: np.ndarray, types: np.ndarray, thr: float) -> dict:
    """APCER per type and BPCER at ``thr``; APCER per type at BPCER <= 5 % (threshold from these live scores)."""
    live = scores[is_live]
    out: dict = {"threshold": round(float(thr), 5), "n_bona_fide": int(is_live.sum()),
                 "bpcer": round(float(np.mean(live < thr)), 4) if len(live) else None}
    thr5 = float(np.quantile(live, 0.05, method="lower")) if len(live) >= 5 else None
    out["threshold_at_bpcer5"] = None if thr5 is None else round(thr5, 5)
    for t in ATTACK_TYPES:
        a = scores[(~is_live) & (types == t)]
        if not len(a):
            continue
        out[f"n_{t}"] = int(len(a))
        out[f"apcer_{t}"] = round(float(np.mean(a >= thr)), 4)
        out[f"apcer_{t}_at_bpcer5"] = None if thr5 is None else round(float(np.mean(a >= thr5)), 4)
    out["auc"] = round(auc(live, scores[~is_live]), 4)
    return out


def fit_and_threshold(X, y, w, groups, is_photo, l2):
    oof = PM.oof_scores(X, y, w, groups, l2=l2)
    thr = PM.choose_threshold(oof, y.astype(bool), is_photo)
    return PM.fit_logreg(X, y, w, l2), thr, oof


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--l2", type=float, default=PM.L2)
    ap.add_argument("--out", default=str(REPO / "reports" / "pad_eval.json"))
    ap.add_argument("--skip-shipped", action="store_true", help="skip the shipped-model and speed sections")
    args = ap.parse_args(argv)

    samples = pad_data.build_samples()
    X, ok = pad_data.extract(samples)
    S = np.array([s.source for s in samples])
    split = np.array([s.split for s in samples])
    y = np.array([s.label == "live" for s in samples]).astype(float)
    types = np.array([s.attack_type for s in samples])
    groups = np.array([s.subject for s in samples])
    is_photo = np.array([sp in ("train", "eval") for sp in split])
    report: dict = {"l2": args.l2, "fte": {}, "loso": {}, "in_source": {}}
    for src in sorted(set(S[split == "pad"])):
        m = (S == src) & (split == "pad")
        report["fte"][src] = {"samples": int(m.sum()), "no_face": int((m & ~ok).sum())}
    used = np.array([pad_data.needed(s) for s in samples]) & (split != "pad") & (y == 1)
    report["fte"]["verification_used"] = {"samples": int(used.sum()), "no_face": int((used & ~ok).sum())}

    pool = np.array([s.in_training_pool for s in samples])
    base = (split == "train") & ok & pool
    pad = (split == "pad") & ok
    # -- leave one source out ----------------------------------------------------------------
    pooled_scores = np.zeros(len(samples))
    pooled_thr = np.zeros(len(samples))
    t0 = time.time()
    for name, srcs in LOSO_SOURCES.items():
        held = pad & np.isin(S, srcs)
        tr = base | (pad & ~np.isin(S, srcs))
        w = PM.group_weights(S[tr], y[tr])
        model, thr, _ = fit_and_threshold(X[tr], y[tr], w, groups[tr], is_photo[tr], args.l2)
        sc = PM.predict(model, X[held])
        pooled_scores[held], pooled_thr[held] = sc, thr
        report["loso"][name] = metrics(sc, y[held] == 1, types[held], thr)
        print(f"LOSO {name}: {report['loso'][name]}", flush=True)
    # pooled over all PAD samples, each scored by the model that never saw its source
    live_p = y[pad] == 1
    dec_live = pooled_scores[pad] >= pooled_thr[pad]
    pooled = metrics(pooled_scores[pad], live_p, types[pad], 0.5)
    pooled["threshold"] = "per fold (trained without the source)"
    pooled["bpcer"] = round(float(np.mean(~dec_live[live_p])), 4)
    for t in ATTACK_TYPES:
        a = (~live_p) & (types[pad] == t)
        pooled[f"apcer_{t}"] = round(float(np.mean(dec_live[a])), 4)
    report["loso"]["pooled"] = pooled
    print(f"LOSO pooled: {pooled}", flush=True)

    # -- in-source 5-fold CV -----------------------------------------------------------------
    tr = base | pad
    w = PM.group_weights(S[tr], y[tr])
    oof = PM.oof_scores(X[tr], y[tr], w, groups[tr], l2=args.l2)
    thr = PM.choose_threshold(oof, y[tr] == 1, is_photo[tr])
    report["in_source"]["threshold"] = round(thr, 5)
    for name, srcs in list(LOSO_SOURCES.items()) + [("pooled_pad", list(set(S[pad])))]:
        m = np.isin(S[tr], srcs) & (split[tr] == "pad")
        report["in_source"][name] = metrics(oof[m], y[tr][m] == 1, types[tr][m], thr)
    m = split[tr] == "train"
    report["in_source"]["verification_train_half_and_synth"] = metrics(oof[m], y[tr][m] == 1, types[tr][m], thr)
    print(f"in-source: {json.dumps(report['in_source'])}", flush=True)
    report["loso_and_cv_seconds"] = round(time.time() - t0, 1)

    if not args.skip_shipped:
        from idmatch.liveness import features as F
        from idmatch.liveness.passive import shipped_model

        model = shipped_model()
        ev = (split == "eval") & ok
        sc = model.score_features(X[ev])
        per_pop = {}
        for pop in pad_data.VERIFICATION_POPULATIONS:
            live_m = (S[ev] == pop)
            att_m = (S[ev] == f"synth_{pop}")
            if live_m.sum() == 0:
                continue
            sel = live_m | att_m
            per_pop[pop] = metrics(sc[sel], live_m[sel], types[ev][sel], model.threshold)
        allm = metrics(sc, y[ev] == 1, types[ev], model.threshold)
        report["shipped"] = {"model": model.name, "threshold": model.threshold,
                             "verification_eval_half": {"all": allm, **per_pop}}
        sc_pad = model.score_features(X[pad])
        report["shipped"]["pad_sets_in_sample"] = metrics(sc_pad, y[pad] == 1, types[pad], model.threshold)
        print(f"shipped: {json.dumps(report['shipped'])}", flush=True)
        report["speed"] = speed(samples, ok)
        print(f"speed: {report['speed']}")
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


def speed(samples, ok, n: int = 100) -> dict:
    """ms per face: PAD (crop + features + score) beside detection and SFace embedding, same run."""
    import cv2

    from idmatch.liveness import PassiveLiveness
    from idmatch.pipeline import FaceEngine

    cv2.setNumThreads(2)
    d = pad_data.data_dir()
    eng = FaceEngine()
    pad = PassiveLiveness(engine=eng)
    paths = [s.path for s, o in zip(samples, ok) if o and s.split == "eval" and not s.synth][:n]
    imgs = [eng.decode(d / p) for p in paths]
    t0 = time.perf_counter()
    sels = [eng.detect(im) for im in imgs]
    t1 = time.perf_counter()
    for im, s in zip(imgs, sels):
        pad.score_face(im, s.face)
    t2 = time.perf_counter()
    for im, s in zip(imgs, sels):
        eng.embed(eng.align(im, s.face))
    t3 = time.perf_counter()
    k = len(imgs)
    return {"faces": k, "pad_ms": round((t2 - t1) / k * 1e3, 2), "detect_ms": round((t1 - t0) / k * 1e3, 2),
            "align_embed_ms": round((t3 - t2) / k * 1e3, 2),
            "note": "LFW 250x250 images; shared 2-core machine with others running: compare ratios"}


if __name__ == "__main__":
    sys.exit(main())
