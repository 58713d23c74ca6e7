"""`idmatch calibrate FOLDER`: thresholds from an operator's own consented enrolment images."""
from __future__ import annotations

import json
from pathlib import Path

from . import EXIT_OK
from .verify import add_engine_args


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="calibrate thresholds from a folder of identities (FOLDER/<identity>/<images>)")
    p.add_argument("folder", help="folder with one sub-folder per identity")
    p.add_argument("--out", required=True, help="calibration JSON to write (use it with --calibration or IDMATCH_CALIBRATION_FILE)")
    p.add_argument("--name", default=None, help="name recorded in decisions (default: the folder name)")
    p.add_argument("--fmr", type=float, default=1e-4, help="the operating FMR that must be supported (default 1e-4)")
    p.add_argument("--conditions", default="full",
                   help="capture conditions to calibrate over, comma-separated, from: full, chip, tight, grey, lowres "
                        "(default: full, the images as they are; every pair of the listed conditions becomes a cell "
                        "and the strictest decides). Calibrate a folder of your reader's own crops as it is.")
    p.add_argument("--combine-shipped", action="store_true",
                   help="never go below the shipped thresholds (strictest of yours and the shipped populations)")
    add_engine_args(p)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..calibration import build_calibration, condition_cells, images_by_identity
    from ..errors import ConfigError
    from ..evaluation.condition_templates import embed_conditions
    from ..evaluation.conditions import CONDITIONS, FULL, condition_pairs
    from ..match import OPERATING_FMRS, shipped_calibration
    from .verify import make_engine

    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown or not conditions:
        raise ConfigError(f"unknown capture condition(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(CONDITIONS)}",
                          code="bad_conditions")
    folder = Path(args.folder)
    name = args.name or folder.name
    ids = images_by_identity(folder)
    paths = [str(p.relative_to(folder)) for imgs in ids.values() for p in imgs]
    identity_of = {str(p.relative_to(folder)): ident for ident, imgs in ids.items() for p in imgs}
    engine = make_engine(args)
    ct = embed_conditions(engine, paths, folder, key=name, conditions=conditions, progress=not args.no_progress)
    cells = condition_cells(name, {c: ct[c].templates for c in conditions}, identity_of, condition_pairs(conditions),
                            fte={c: len(ct[c].failures) for c in conditions})
    pop = next((c for c in cells if c.conditions == (FULL, FULL)), cells[0])
    table = ct[pop.conditions[0]]
    cal = build_calibration(cells, model=engine.model_id, name=name, required_fmr=args.fmr)
    before = shipped_calibration(engine.model_id)
    if args.combine_shipped:
        for p in cal.points:
            try:
                p.threshold = max(p.threshold, before.threshold_for(p.fmr))
            except Exception:
                pass
    cal.save(args.out)
    rows = []
    for fmr in OPERATING_FMRS:
        row = {"fmr": fmr}
        for label, c in (("before", before), ("after", cal)):
            try:
                thr = c.threshold_for(fmr)
            except Exception:
                row[label] = None
                continue
            row[label] = {"threshold": thr, "fmr": float((pop.impostor >= thr).mean()),
                          "fnmr": float((pop.genuine < thr).mean()) if len(pop.genuine) else None}
        rows.append(row)
    summary = {"calibration": args.out, "population": pop.summary(), "fte_list": table.failures, "table": rows,
               "conditions": conditions, "cells": {k: {kk: v[kk] for kk in ("n_impostor", "n_genuine", "fmr_at", "fnmr_at", "decides")}
                                                    for k, v in {**cal.populations, **cal.cells}.items()}}
    if args.json:
        print(json.dumps(summary, indent=1))
        return EXIT_OK
    s = pop.summary()
    print(f"{s['identities']} identities, {s['images']} images ({s['fte_images']} failed to enrol), "
          f"{s['n_genuine']:,} genuine and {s['n_impostor']:,} impostor comparisons")
    print(f"{'target FMR':>10} | {'before: thr':>11} {'FMR':>9} {'FNMR':>8} | {'after: thr':>10} {'FMR':>9} {'FNMR':>8}")
    for r in rows:
        cells = []
        for label in ("before", "after"):
            v = r[label]
            cells.append(" " * 30 if v is None else
                         f"{v['threshold']:>11.4f} {100 * v['fmr']:>8.4f}% {100 * (v['fnmr'] or 0):>7.2f}%")
        print(f"{r['fmr']:>10g} | {cells[0]} | {cells[1]}")
    print(f"wrote {args.out}")
    return EXIT_OK
