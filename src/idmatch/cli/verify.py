"""`idmatch verify ID_IMAGE LIVE_IMAGE`: 1:1 check with a calibrated threshold, decided by the same
policy stages as ``POST /v1/verify`` and a registration session (those that need no storage)."""
from __future__ import annotations

import json

from . import EXIT_NO_MATCH, EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("verify", help="compare an ID portrait with a live capture (exit 0 match, 1 no match, 2 bad input)")
    p.add_argument("id_image", help="ID portrait: chip photo or a photo/scan of the document")
    p.add_argument("live_image", help="live capture of the applicant")
    p.add_argument("--fmr", type=float, default=None, help="target false-match rate (default: the policy's, 1e-4)")
    p.add_argument("--calibration", help="calibration JSON written by `idmatch calibrate` (default: shipped)")
    add_engine_args(p)
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--no-quality-gate", action="store_true",
                   help="compare even when an image fails the quality check (default: refuse, exit 2, with the reasons)")
    p.set_defaults(func=run)


def add_engine_args(p) -> None:
    p.add_argument("--flip", action="store_true",
                   help="accurate mode: also embed the mirrored face (+0.07 pt LFW accuracy, ~1.8x the time)")


def make_engine(args):
    from ..match import Calibration
    from ..pipeline import EngineConfig, FaceEngine

    cal = Calibration.load(args.calibration) if getattr(args, "calibration", None) else None
    return FaceEngine(EngineConfig(flip_augment=getattr(args, "flip", False)), calibration=cal)


def run(args) -> int:
    from ..decision import Policy, stateless_policy
    from ..quality.gate import gate_error
    from ..settings import Settings

    engine = make_engine(args)
    id_a = engine.analyze(args.id_image, role="portrait")
    live = engine.analyze(args.live_image, role="live")
    policy = Policy.defaults(Settings())
    policy = policy.model_copy(update={"fmr": args.fmr or policy.fmr,
                                       "advisory_stages": ["quality"] if args.no_quality_gate else []})
    ctx, outcome, reasons = stateless_policy(engine).decide_pair(policy, engine, id_a, live)
    if any(r.code == "quality_too_low" and r.outcome == "review" for r in reasons):
        # below the floor the comparison is not trustworthy: refused, with each image's reasons
        err = gate_error({"id": ctx.quality["portrait"], "live": ctx.quality["live"]})
        if err is not None:
            err.details.update(outcome=outcome, reasons=[r.to_dict() for r in reasons])
            raise err
    result = engine.verify_analyses(id_a, live, fmr=policy.fmr)
    if args.json:
        print(json.dumps({**result.to_dict(), "outcome": outcome, "reasons": [r.to_dict() for r in reasons]}, indent=1))
    else:
        verdict = "MATCH" if result.match else "NO MATCH"
        print(f"{verdict}: score {result.score:.4f} vs threshold {result.threshold:.4f} "
              f"(FMR {result.fmr:g}, calibration {result.calibration}); policy outcome {outcome}")
    return EXIT_OK if result.match else EXIT_NO_MATCH
