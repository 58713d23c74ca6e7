"""Table of what each labelled image in ../shared/data/quality/labels.csv gets from the quality
stage (live profile; portrait profile too with --portrait): overall, rejection codes, pose.

    python benchmarks/quality_labels.py [--portrait]
"""
from __future__ import annotations

import argparse
import csv

from common import DATA, require_data

from idmatch.pipeline import FaceEngine
from idmatch.quality import assess


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--portrait", action="store_true", help="also show the portrait profile's codes")
    args = ap.parse_args()
    require_data()
    engine = FaceEngine()
    head = "| image | label | overall | live codes |" + (" portrait codes |" if args.portrait else "") + " yaw/pitch/roll |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in csv.DictReader(open(DATA / "quality/labels.csv")):
        rep = assess(engine, str(DATA / r["path"]), profile="live")
        pose = "-" if not rep.pose else f"{rep.pose['yaw']:.0f}/{rep.pose['pitch']:.0f}/{rep.pose['roll']:.0f}"
        row = f"| {r['path'].split('/', 1)[1]} | {r['condition']}: {r['value']} | {rep.overall:.0f} | {', '.join(rep.codes) or 'pass'} |"
        if args.portrait:
            prep = assess(engine, str(DATA / r["path"]), profile="portrait")
            row += f" {', '.join(prep.codes) or 'pass'} |"
        print(row + f" {pose} |")


if __name__ == "__main__":
    main()
