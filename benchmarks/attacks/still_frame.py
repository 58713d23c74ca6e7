"""PAI species ``still_frame``: one camera frame of the victim's print, sent again and again
(a frozen camera, or a still image injected in place of the stream): every frame byte-identical.

Not modelled: a still with noise added per frame or small synthetic jitter (which the planar
print with hand shake covers physically).
"""
from __future__ import annotations

import numpy as np

from .performance import CachedPerformance
from .render import SheetPose
from .sheet import SheetPerformer, make_sheet, sheet_scene

SPECIES = "still_frame"


def frame(subject, rng: np.random.Generator) -> np.ndarray:
    bg, shake = sheet_scene(rng)
    perf = SheetPerformer(SPECIES, [make_sheet(subject.frontal, rng)], SheetPose(z=450.0), rng, bg, shake)
    return perf.frame(None, 0.0, None)


def build(subject, engine, passive, rng: np.random.Generator) -> CachedPerformance:
    from .analysis import analyze_pool

    pool = analyze_pool(engine, [frame(subject, rng)], passive, name=f"{subject.name}/{SPECIES}")
    return CachedPerformance(SPECIES, subject.name, rest=[(pool, 0)], frames_analysed=1, analysis_ms=pool.ms)
