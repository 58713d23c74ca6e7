"""PAI species ``print_curved``: the frontal print bent round a vertical cylinder (radius 110 mm,
convex towards the camera, like a print wrapped on a bottle or a mask-like curl) and rotated
20-50° about the vertical axis for turns; nods and move_closer as for the planar print.

Not modelled: curvature changing during the move, horizontal (chin-to-forehead) curvature.
"""
from __future__ import annotations

import numpy as np

from .print_planar import REST_TILT, Z0, nod_and_closer_candidates
from .render import SheetPose
from .sheet import SheetPerformer, Target, calibrate, make_sheet, sheet_scene

SPECIES = "print_curved"
RADIUS_MM = 110.0


def build(subject, engine, rng: np.random.Generator) -> SheetPerformer:
    bg, shake = sheet_scene(rng)
    sheet = make_sheet(subject.frontal, rng, surface="cylinder")
    perf = SheetPerformer(SPECIES, [sheet], SheetPose(tilt=REST_TILT, z=Z0, bend=RADIUS_MM), rng, bg, shake)
    cands = {"turn_left": [Target({"yaw": sg * a}) for a in (20.0, 30.0, 40.0, 50.0) for sg in (1, -1)],
             "turn_right": [Target({"yaw": sg * a}) for a in (20.0, 30.0, 40.0, 50.0) for sg in (-1, 1)],
             **nod_and_closer_candidates()}
    perf.calibration = calibrate(perf, engine, cands)  # type: ignore[attr-defined]
    return perf
