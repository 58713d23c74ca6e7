"""`idmatch eval PAIRS.csv --root DIR`: accuracy, ROC/DET, calibrated FNMR over a pairs file."""
from __future__ import annotations

import json
from pathlib import Path

from . import EXIT_OK
from .verify import add_engine_args


def register(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a pairs file (img1,img2,same[,fold]) and plot ROC/DET")
    p.add_argument("pairs", help="CSV with img1,img2,same and optional fold/source columns")
    p.add_argument("--root", default=None, help="folder the image paths are relative to (default: the CSV's folder)")
    p.add_argument("--out", default="reports/eval", help="folder for report.json, roc.png, det.png")
    p.add_argument("--calibration", help="calibration JSON (default: shipped)")
    add_engine_args(p)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..evaluation.pairs import embed_images, read_pairs, score_pairs
    from ..evaluation.report import fmt_pct, plot_roc_det, verification_report
    from .verify import make_engine

    pairs = read_pairs(args.pairs)
    root = Path(args.root) if args.root else Path(args.pairs).parent
    engine = make_engine(args)
    table = embed_images(pairs.images, root, lambda p: engine.analyze(p).template, progress=not args.no_progress)
    scores = score_pairs(pairs, table)
    rep = verification_report(scores, pairs.same, pairs.folds, engine.calibration,
                              fte_images=len(table.failures), n_images=len(pairs.images))
    rep["model"] = engine.model_id
    rep["fte_list"] = table.failures
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    same = pairs.same.astype(bool)
    rep["plots"] = [str(p) for p in plot_roc_det({engine.model_id: (scores[same], scores[~same])}, out, Path(args.pairs).name)]
    (out / "report.json").write_text(json.dumps(rep, indent=1))
    if args.json:
        print(json.dumps(rep, indent=1))
        return EXIT_OK
    acc = rep.get("accuracy_cv") or {}
    print(f"pairs {rep['pairs']} ({rep['genuine']} genuine / {rep['impostor']} impostor), images {rep['images']}, "
          f"failed to enrol {rep['fte_images']} images ({rep['fte_pairs']} pairs)")
    if acc:
        print(f"accuracy ({acc['folds']}-fold CV): {100 * acc['mean']:.2f} % ± {100 * acc['std']:.2f}")
    else:
        print(f"accuracy (best threshold): {fmt_pct(rep['accuracy_best_threshold']['accuracy'])}")
    print(f"AUC {rep['auc']:.4f}  EER {fmt_pct(rep['eer'])}  " +
          "  ".join(f"TAR@FAR{k} {fmt_pct(v)}" for k, v in rep["tar_at_far"].items()))
    for fmr, op in rep.get("calibrated", {}).get("points", {}).items():
        print(f"at calibrated FMR {fmr}: threshold {op['threshold']:.4f}  measured FMR {fmt_pct(op['fmr'])}  "
              f"FNMR {fmt_pct(op['fnmr'])}")
    print(f"report: {out / 'report.json'}; plots: {', '.join(rep['plots'])}")
    return EXIT_OK
