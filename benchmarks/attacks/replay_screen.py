"""PAI species ``replay_screen``: the victim's frontal photo shown full-screen on a tablet held by
both thumbs (black bezel, backlit LCD with RGB sub-pixel stripes that the camera re-samples into
moiré, display gamma, a specular glare that moves as the tablet turns), moved like the planar
print: rotated for turns, tilted for nods, brought closer.

Not modelled: a video replay (a moving face on the screen), screen refresh banding, a phone-sized
screen held close to the lens.
"""
from __future__ import annotations

import numpy as np

from . import print_planar

SPECIES = "replay_screen"


def build(subject, engine, rng: np.random.Generator):
    return print_planar.build(subject, engine, rng, medium="screen", species=SPECIES)
