"""`idmatch liveness IMAGE`: passive presentation-attack check of one face image."""
from __future__ import annotations

import json

from . import EXIT_NO_MATCH, EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("liveness", help="passive liveness (print/screen attack) check of one image "
                                        "(exit 0 live, 1 spoof suspected, 2 bad input)")
    p.add_argument("image", help="photo with one face (a live capture)")
    p.add_argument("--threshold", type=float, default=None, help="override the shipped threshold (0..1, higher = stricter)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..liveness import PassiveLiveness

    result = PassiveLiveness(threshold=args.threshold).score(args.image)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        verdict = "LIVE" if result.is_live else "SPOOF SUSPECTED"
        print(f"{verdict}: score {result.score:.4f} vs threshold {result.threshold:.4f} (model {result.model})")
    return EXIT_OK if result.is_live else EXIT_NO_MATCH
