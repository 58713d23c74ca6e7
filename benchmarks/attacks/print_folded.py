"""PAI species ``print_folded``: the frontal print folded vertically down the nose line, ridge
towards the camera (the attack that passes today's challenge up to 94 %). At rest the fold is a
slight 8° per half; for a turn the attacker bends each half 20-40° back from the flat sheet while rotating it 20-30° (35° when needed), tilting its top edge away by up to 35° so that
the narrowed face does not read as looking down about the fold
line (dynamic bending), which slides the printed nose off the eye/mouth midline exactly like a
head turn. At rest the attacker turns the folded sheet slightly until the
frame-check reads it frontal (the printed photo's own yaw cancelled). Nods and move_closer as for the planar print (a vertical fold cannot nod).

Not modelled: a crease's own highlight, paper springing back unevenly, horizontal folds.
"""
from __future__ import annotations

import numpy as np

from .print_planar import REST_TILT, Z0, nod_and_closer_candidates
from .render import SheetPose
from .sheet import SheetPerformer, Target, calibrate, make_sheet, sheet_scene, turn_sign

SPECIES = "print_folded"
REST_FOLD = 8.0


def build(subject, engine, rng: np.random.Generator) -> SheetPerformer:
    bg, shake = sheet_scene(rng)
    sheet = make_sheet(subject.frontal, rng, surface="fold")
    perf = SheetPerformer(SPECIES, [sheet], SheetPose(tilt=REST_TILT, z=Z0, bend=REST_FOLD), rng, bg, shake)
    s = turn_sign(perf, engine, {"yaw": 25.0, "bend": 20.0})
    # folding narrows the face, which reads as looking down: tilt the top edge away to compensate
    grid = sorted(((f, a, tl) for f in (20.0, 25.0, 30.0, 35.0) for a in (25.0, 30.0, 35.0) for tl in (0.0, 20.0, 35.0)),
                  key=lambda x: (x[0] + x[1] + 0.5 * x[2], x[1]))
    # the sign probe decides which way to rotate; a quarter of the grid is tried the other way after it
    grid2 = [(sg, g) for g in grid for sg in (1,)] + [(-1, g) for g in grid[::4]]
    cands = {"turn_left": [Target({"yaw": sg * s * a, "bend": f - REST_FOLD, "tilt": tl}) for sg, (f, a, tl) in grid2],
             "turn_right": [Target({"yaw": -sg * s * a, "bend": f - REST_FOLD, "tilt": tl}) for sg, (f, a, tl) in grid2],
             **nod_and_closer_candidates()}
    perf.calibration = calibrate(perf, engine, cands, trim=[{"yaw": a} for a in (-16.0, -8.0, 8.0, 16.0)])  # type: ignore[attr-defined]
    return perf
