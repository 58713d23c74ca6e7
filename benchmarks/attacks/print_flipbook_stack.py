"""PAI species ``print_flipbook_stack``: the flipbook of :mod:`.print_flipbook` as a careful
fraudster performs it.

* The pages are a stack printed together (one paper, one printer setting, the same hand grip):
  swapping them is pulling the top page away to reveal the next one *in place* -- no frame with the
  sheet displaced, so the face does not jump (``swap_shift_mm=0``).
* On the way to the turned page the attacker shows an intermediate-pose page when the subject has
  one (a photo whose yaw, or pitch for nods, lies between the frontal one's and the turned one's,
  at least ``MIN_STEP_DEG`` from both), so the pose read by the library does not jump from frontal
  to the peak in one frame.

Everything else (rest on the most frontal photo, calibration of each action against the library's
pose reading, planar rotation/tilt added when a page alone is not enough) is the flipbook's.
"""
from __future__ import annotations

import numpy as np

from .print_flipbook import pages_by_action
from .print_planar import REST_TILT, Z0
from .render import SheetPose
from .sheet import SheetPerformer, Target, calibrate, make_sheet, sheet_scene, turn_sign

SPECIES = "print_flipbook_stack"
MIN_STEP_DEG = 4.0     # an intermediate page must differ from both neighbours by at least this much


def intermediate(photos, rest: int, final: int, axis: str) -> tuple[int, ...]:
    """The page whose pose (``axis``: yaw or pitch) is closest to halfway between the rest page and
    the final one, strictly between them; () when the subject has none."""
    a, b = getattr(photos[rest], axis), getattr(photos[final], axis)
    lo, hi = min(a, b) + MIN_STEP_DEG, max(a, b) - MIN_STEP_DEG
    cands = [i for i, p in enumerate(photos) if i not in (rest, final) and lo <= getattr(p, axis) <= hi]
    if not cands:
        return ()
    mid = (a + b) / 2
    return (min(cands, key=lambda i: abs(getattr(photos[i], axis) - mid)),)


def build(subject, engine, rng: np.random.Generator) -> SheetPerformer:
    bg, shake = sheet_scene(rng)
    photos = subject.photos
    print_seed = int(rng.integers(2**32))
    # printed together: the same paper, ink and grip on every page
    sheets = [make_sheet(p, np.random.default_rng(print_seed)) for p in photos]
    rest_page = photos.index(subject.frontal)
    perf = SheetPerformer(SPECIES, sheets, SheetPose(tilt=REST_TILT, z=Z0), rng, bg, shake,
                          swap_band=0.2, rest_page=rest_page, swap_shift_mm=0.0)
    s = turn_sign(perf, engine, {"yaw": 40.0})
    by = pages_by_action(photos)
    axis = {"turn_left": "yaw", "turn_right": "yaw", "look_up": "pitch", "look_down": "pitch"}
    extra = {"turn_left": [{}, {"yaw": s * 20.0}, {"yaw": s * 35.0}],
             "turn_right": [{}, {"yaw": -s * 20.0}, {"yaw": -s * 35.0}],
             "look_up": [{}, {"tilt": 20.0}, {"tilt": 35.0}],
             "look_down": [{}, {"tilt": -15.0}, {"tilt": -25.0}]}
    cands = {a: [Target(dict(d), page=i, via=intermediate(photos, rest_page, i, axis[a]) if i != rest_page else ())
                 for d in extra[a] for i in by[a][:2]] for a in by}
    cands["move_closer"] = [Target({"z": -Z0 * (1 - 1 / r)}, page=rest_page) for r in (1.35, 1.5)]
    perf.calibration = calibrate(perf, engine, cands)  # type: ignore[attr-defined]
    for a, tg in perf.targets.items():
        if isinstance(perf.calibration.get(a), dict) and tg.via:
            perf.calibration[a]["via"] = list(tg.via)
    return perf
