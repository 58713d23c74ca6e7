"""`idmatch quality IMAGE [--profile live|portrait] [--json]`: can this image be compared, and if not, why.

Exit 0 when the image passes the profile, 1 when it is rejected (the reasons are printed), 2 on
bad input.
"""
from __future__ import annotations

import json

from . import EXIT_NO_MATCH, EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("quality", help="face image quality with what to fix (exit 0 pass, 1 rejected, 2 bad input)")
    p.add_argument("image", help="image file: a live capture or an ID portrait")
    p.add_argument("--profile", choices=["live", "portrait"], default="live",
                   help="thresholds for a live capture (default) or an ID portrait (small chip photos pass)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..pipeline import FaceEngine
    from ..quality import assess

    report = assess(FaceEngine(), args.image, profile=args.profile)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
        return EXIT_OK if report.passed else EXIT_NO_MATCH
    verdict = "PASS" if report.passed else "REJECTED"
    print(f"{verdict}: overall quality {report.overall:.0f}/100 (profile {report.profile})")
    for fb in report.feedback:
        print(f"  [{fb.code}] {fb.message}")
    for m in report.measures:
        if m.assessed:
            mark = {True: "ok ", False: "BAD", None: "   "}[m.passed]
            rng = m.detail.get("range")
            thr = f" (threshold {m.threshold:g})" if m.threshold is not None else (
                f" (range {rng[0]:g}-{rng[1]:g})" if rng and None not in rng else "")
            print(f"  {mark} {m.name:24s} {m.raw:10.3f} {m.unit:11s} component {m.component:3d}{thr}")
        else:
            print(f"  n/a {m.name:24s} not assessed: {m.reason}")
    return EXIT_OK if report.passed else EXIT_NO_MATCH
