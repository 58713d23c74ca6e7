"""Passive PAD evaluation by ISO/IEC 30107-3 (APCER per attack type, BPCER, threshold).

Protocols (see /work/shared/EVALUATION.md):
* leave-one-source-out (headline): for each of the 13 PAD sources (nuaa, the twelve webcam/phone
  replay sources, misc = silent_face + InspireFace's rgb_fake) train on everything else (other PAD
  sources + the train pool of the verification faces and their synthetic attacks), choose the
  threshold on the training data only (out-of-fold, same rule as the shipped model), test on the
  held-out source. Pooled LOSO scores give the row comparable with EVALUATION.md's reference table.
* in-source: 5-fold cross-validation grouped by subject over all training data.
* bona fide photos: the shipped model on the *eval* half of the verification faces (identities it
  never saw): BPCER per population at the shipped threshold, APCER on synthetic attacks of them,
  and APCER per physical species (folded / curved / hand-held print, hand-held screen) rendered
  from them.
* speed: ms per face for crop + features + score, beside detection, same run (2 threads).

``--recipe v1 --blocks clbp`` reproduces the first shipped model's recipe on this protocol ("before");
``--blocks`` / ``--recipe`` are how each change was measured (``--fast``: LOSO AUC and APCER at
BPCER <= 5 % only, no per-fold thresholds).

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

REPLAY_SOURCES = ("replay_manikantha", "replay_tranvanluyt2203", "aksultan", "neonipun", "trickyf0x", "wolfhuo",
                  "balveer", "krzysiek", "vishalk", "alexcamargo", "viguardieiro")
LOSO_SOURCES = {"nuaa": ["nuaa"], **{s: [s] for s in REPLAY_SOURCES}, "misc": ["silent_face", "inspireface_pad"]}
ATTACK_TYPES = ("print", "replay_screen")
PHYS_SPECIES = ("print_folded", "print_curved", "print_handheld", "replay_handheld")


def auc(live: np.ndarray, attack: np.ndarray) -> float:
    if not len(live) or not len(attack):
        return float("nan")
    s = np.concatenate([live, attack])
    ranks = s.argsort().argsort() + 1.0
    r_live = ranks[: len(live)].sum()
    return float((r_live - len(live) * (len(live) + 1) / 2) / (len(live) * len(attack)))


def metrics(scores: np.ndarray, is_live: np.ndarray, types: np.ndarray, thr: float | None) -> dict:
    """APCER per type and BPCER at ``thr``; APCER per type at BPCER <= 5 % (threshold from these live scores)."""
    live = scores[is_live]
    out: dict = {"threshold": None if thr is None else round(float(thr), 5), "n_bona_fide": int(is_live.sum()),
                 "bpcer": round(float(np.mean(live < thr)), 4) if len(live) and thr is not None else None}
    thr5 = float(np.quantile(live, 0.05, method="lower")) if len(live) >= 5 else None
    out["threshold_at_bpcer5"] = None if thr5 is None else round(thr5, 5)
    for t in sorted(set(types[~is_live])):
        a = scores[(~is_live) & (types == t)]
        out[f"n_{t}"] = int(len(a))
        if thr is not None:
            out[f"apcer_{t}"] = round(float(np.mean(a >= thr)), 4)
        out[f"apcer_{t}_at_bpcer5"] = None if thr5 is None else round(float(np.mean(a >= thr5)), 4)
    out["auc"] = round(auc(live, scores[~is_live]), 4)
    return out


def fit_and_threshold(X, y, w, groups, is_photo, l2, fast=False):
    thr = None
    if not fast:
        oof = PM.oof_scores(X, y, w, groups, l2=l2)
        thr = PM.choose_threshold(oof, y.astype(bool), is_photo)
    return PM.fit_logreg(X, y, w, l2), thr


def load(recipe: str, spec: dict):
    samples = pad_data.build_samples()
    X, ok = pad_data.extract(samples, spec)
    A = {"S": np.array([s.source for s in samples]), "split": np.array([s.split for s in samples]),
         "y": np.array([s.label == "live" for s in samples]).astype(float),
         "types": np.array([s.attack_type for s in samples]), "groups": np.array([s.subject for s in samples]),
         "phys": np.array([s.phys for s in samples]),
         "pool": np.array([s.in_pool(recipe) for s in samples])}
    A["is_photo"] = np.isin(A["split"], ("train", "eval"))
    return samples, X, ok, A


def loso(X, ok, A, l2: float, fast: bool) -> dict:
    S, split, y, types, groups, is_photo = A["S"], A["split"], A["y"], A["types"], A["groups"], A["is_photo"]
    base = (split == "train") & ok & A["pool"]
    pad = (split == "pad") & ok
    out: dict = {}
    pooled_scores = np.zeros(len(S))
    pooled_thr = np.zeros(len(S))
    for name, srcs in LOSO_SOURCES.items():
        held = pad & np.isin(S, srcs)
        tr = base | (pad & ~np.isin(S, srcs))
        w = PM.group_weights(S[tr], y[tr])
        model, thr = fit_and_threshold(X[tr], y[tr], w, groups[tr], is_photo[tr], l2, fast)
        sc = PM.predict(model, X[held])
        pooled_scores[held], pooled_thr[held] = sc, (thr if thr is not None else np.nan)
        out[name] = metrics(sc, y[held] == 1, types[held], thr)
        print(f"LOSO {name}: auc {out[name]['auc']}", flush=True)
    live_p = y[pad] == 1
    pooled = metrics(pooled_scores[pad], live_p, types[pad], None)
    if not fast:
        dec_live = pooled_scores[pad] >= pooled_thr[pad]
        pooled["threshold"] = "per fold (trained without the source)"
        pooled["bpcer"] = round(float(np.mean(~dec_live[live_p])), 4)
        for t in ATTACK_TYPES:
            a = (~live_p) & (types[pad] == t)
            pooled[f"apcer_{t}"] = round(float(np.mean(dec_live[a])), 4)
    # the mean of the per-source AUCs (sources with both labels): every source counts once
    aucs = [v["auc"] for v in out.values() if v["auc"] == v["auc"]]
    pooled["mean_source_auc"] = round(float(np.mean(aucs)), 4)
    pooled["worst_sources"] = sorted(((v["auc"], k) for k, v in out.items() if v["auc"] == v["auc"]))[:3]
    out["pooled"] = pooled
    print(f"LOSO pooled: {pooled}", flush=True)
    return out


def shipped_section(samples, A, model) -> dict:
    S, split, y, types = A["S"], A["split"], A["y"], A["types"]
    X, ok = pad_data.extract(samples, model.spec)
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
    flat = ~np.char.startswith(S[ev].astype(str), "phys_")
    allm = metrics(sc[flat], (y[ev] == 1)[flat], types[ev][flat], model.threshold)
    # physical attacks rendered from eval-half LFW faces, against LFW eval bona fide
    lfw_live = sc[(S[ev] == "lfw")]
    phys = {}
    for sp in PHYS_SPECIES:
        a = sc[A["phys"][ev] == sp]
        thr5 = float(np.quantile(lfw_live, 0.05, method="lower"))
        phys[sp] = {"n": int(len(a)), "apcer": round(float(np.mean(a >= model.threshold)), 4) if len(a) else None,
                    "apcer_at_lfw_bpcer5": round(float(np.mean(a >= thr5)), 4) if len(a) else None,
                    "auc_vs_lfw": round(auc(lfw_live, a), 4)}
    out = {"model": model.name, "threshold": model.threshold,
           "verification_eval_half": {"all": allm, **per_pop}, "physical_attacks_eval_half_lfw": phys}
    pad = (split == "pad") & ok
    out["pad_sets_in_sample"] = metrics(model.score_features(X[pad]), y[pad] == 1, types[pad], model.threshold)
    return out


def main(argv=None) -> int:
    from idmatch.liveness import features as F

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--l2", type=float, default=PM.L2)
    ap.add_argument("--recipe", default=pad_data.RECIPE, choices=("v1", "v2"))
    ap.add_argument("--blocks", default=None, help="comma-separated feature blocks (default: the shipped model's)")
    ap.add_argument("--fast", action="store_true", help="LOSO only, no per-fold thresholds")
    ap.add_argument("--out", default=str(REPO / "reports" / "pad_eval.json"))
    ap.add_argument("--skip-shipped", action="store_true", help="skip the shipped-model and speed sections")
    ap.add_argument("--before", default=None, help="a model JSON to report beside the shipped one (e.g. the v1 model)")
    args = ap.parse_args(argv)

    from idmatch.liveness.passive import PadModel, shipped_model

    shipped = shipped_model()
    spec = dict(shipped.spec)
    if args.blocks:
        spec = {"crops": {k: list(v) for k, v in pad_data.CROPS_ALL.items()}, "blocks": args.blocks.split(",")}
        spec["crops"] = {c: spec["crops"][c] for c in sorted({F.BLOCKS[b][0] for b in spec["blocks"]})}
    samples, X, ok, A = load(args.recipe, spec)
    S, split, y = A["S"], A["split"], A["y"]
    report: dict = {"l2": args.l2, "recipe": args.recipe, "feature_spec": spec, "fte": {}, "loso": {}, "in_source": {}}
    for src in sorted(set(S[split == "pad"])):
        m = (S == src) & (split == "pad")
        report["fte"][src] = {"samples": int(m.sum()), "no_face": int((m & ~ok).sum())}
    used = np.array([pad_data.needed(s) for s in samples]) & (split != "pad") & (y == 1)
    report["fte"]["verification_used"] = {"samples": int(used.sum()), "no_face": int((used & ~ok).sum())}
    ph = np.array([bool(s.phys) and pad_data.needed(s) for s in samples])
    report["fte"]["physical_attacks_rendered"] = {"samples": int(ph.sum()), "no_face": int((ph & ~ok).sum())}

    t0 = time.time()
    report["loso"] = loso(X, ok, A, args.l2, args.fast)
    if not args.fast:
        # -- in-source 5-fold CV -------------------------------------------------------------
        types, groups, is_photo = A["types"], A["groups"], A["is_photo"]
        pad = (split == "pad") & ok
        tr = ((split == "train") & ok & A["pool"]) | pad
        w = PM.group_weights(S[tr], y[tr])
        oof = PM.oof_scores(X[tr], y[tr], w, groups[tr], l2=args.l2)
        thr = PM.choose_threshold(oof, y[tr] == 1, is_photo[tr])
        report["in_source"]["threshold"] = round(thr, 5)
        for name, srcs in list(LOSO_SOURCES.items()) + [("pooled_pad", list(set(S[pad])))]:
            m = np.isin(S[tr], srcs) & (split[tr] == "pad")
            report["in_source"][name] = metrics(oof[m], y[tr][m] == 1, types[tr][m], thr)
        m = (split[tr] == "train") & ~np.char.startswith(S[tr].astype(str), "phys_")
        report["in_source"]["verification_train_pool_and_synth"] = metrics(oof[m], y[tr][m] == 1, types[tr][m], thr)
        m = (split[tr] == "train") & (np.char.startswith(S[tr].astype(str), "phys_") | (S[tr] == "lfw"))
        if (m & (y[tr] == 0)).any():
            report["in_source"]["lfw_train_pool_and_physical"] = metrics(oof[m], y[tr][m] == 1, A["phys"][tr][m], thr)
        print(f"in-source: {json.dumps(report['in_source'])}", flush=True)
    report["loso_and_cv_seconds"] = round(time.time() - t0, 1)

    if not args.skip_shipped:
        report["shipped"] = shipped_section(samples, A, shipped)
        print(f"shipped: {json.dumps(report['shipped'])}", flush=True)
        if args.before:
            report["before_model"] = shipped_section(samples, A, PadModel.load(args.before))
            print(f"before model: {json.dumps(report['before_model'])}", flush=True)
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
