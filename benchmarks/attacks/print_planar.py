"""PAI species ``print_planar``: a flat life-size print of the victim's most frontal photo, held
by both thumbs ~45 cm from the camera with hand shake. Turns: the sheet is rotated about its
vertical axis (30-60°); nods: tilted about its horizontal axis (the sheet rests 10° tilted back); move_closer: brought
1.35-1.5x closer.

Not modelled: paper sag, the attacker's fingers moving, prints cut out around the face.
"""
from __future__ import annotations

import numpy as np

from .render import SheetPose
from .sheet import SheetPerformer, Target, calibrate, make_sheet, sheet_scene

SPECIES = "print_planar"
Z0 = 450.0
REST_TILT = 10.0


def nod_and_closer_candidates(z0: float = Z0) -> dict[str, list[Target]]:
    return {
        "look_up": [Target({"tilt": a}) for a in (25.0, 35.0, 45.0, 55.0)],
        "look_down": [Target({"tilt": -a}) for a in (20.0, 30.0, 40.0)],  # top edge towards the camera
        "move_closer": [Target({"z": -z0 * (1 - 1 / r)}) for r in (1.35, 1.5, 1.7)],
    }


def build(subject, engine, rng: np.random.Generator, medium: str = "print", species: str = SPECIES) -> SheetPerformer:
    bg, shake = sheet_scene(rng)
    sheet = make_sheet(subject.frontal, rng, medium=medium, surface="plane")
    perf = SheetPerformer(species, [sheet], SheetPose(tilt=REST_TILT, z=Z0), rng, bg, shake)
    cands = {"turn_left": [Target({"yaw": sg * a}) for a in (30.0, 40.0, 50.0, 60.0, 70.0) for sg in (1, -1)],
             "turn_right": [Target({"yaw": sg * a}) for a in (30.0, 40.0, 50.0, 60.0, 70.0) for sg in (-1, 1)],
             **nod_and_closer_candidates()}
    perf.calibration = calibrate(perf, engine, cands)  # type: ignore[attr-defined]
    return perf
