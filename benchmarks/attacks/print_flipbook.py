"""PAI species ``print_flipbook``: several real photos of the same person, printed at the same
face size, shown one after another. The attacker reads each photo's pose with the library's
estimator, rests on the most frontal one and, at each prompt, swaps in (the hand pulls one page
down and the next one up: 1-3 frames with the sheet displaced) the photo whose pose best matches
the step, adding a planar rotation/tilt of the page if that photo alone is not enough.

Not modelled: pages with different paper or lighting (all printed together), photos of different
ages/hairstyles beyond what LFW/CASIA hold.
"""
from __future__ import annotations

import numpy as np

from .print_planar import REST_TILT, Z0
from .render import SheetPose
from .sheet import SheetPerformer, Target, calibrate, make_sheet, sheet_scene, turn_sign

SPECIES = "print_flipbook"


def pages_by_action(photos) -> dict[str, list[int]]:
    """Per pose action, the photos' indices from the one that goes furthest that way."""
    n = range(len(photos))
    return {"turn_left": sorted(n, key=lambda i: -photos[i].yaw),
            "turn_right": sorted(n, key=lambda i: photos[i].yaw),
            "look_up": sorted(n, key=lambda i: -photos[i].pitch),
            "look_down": sorted(n, key=lambda i: photos[i].pitch)}


def build(subject, engine, rng: np.random.Generator) -> SheetPerformer:
    bg, shake = sheet_scene(rng)
    photos = subject.photos
    sheets = [make_sheet(p, rng) for p in photos]
    rest_page = photos.index(subject.frontal)
    perf = SheetPerformer(SPECIES, sheets, SheetPose(tilt=REST_TILT, z=Z0), rng, bg, shake,
                          swap_band=0.2, rest_page=rest_page)
    s = turn_sign(perf, engine, {"yaw": 40.0})
    by = pages_by_action(photos)
    extra = {"turn_left": [{}, {"yaw": s * 20.0}, {"yaw": s * 35.0}],
             "turn_right": [{}, {"yaw": -s * 20.0}, {"yaw": -s * 35.0}],
             "look_up": [{}, {"tilt": 20.0}, {"tilt": 35.0}],
             "look_down": [{}, {"tilt": -15.0}, {"tilt": -25.0}]}
    cands = {a: [Target(dict(d), page=i) for d in extra[a] for i in by[a][:2]] for a in by}
    cands["move_closer"] = [Target({"z": -Z0 * (1 - 1 / r)}, page=rest_page) for r in (1.35, 1.5)]
    perf.calibration = calibrate(perf, engine, cands)  # type: ignore[attr-defined]
    return perf
