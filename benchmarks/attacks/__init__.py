"""Physical presentation attacks on the active challenge, one generator module per PAI species.

Sheet species (rendered frame by frame by :mod:`.render`, calibrated by :mod:`.sheet`):
``print_planar``, ``print_folded``, ``print_curved``, ``print_flipbook``, ``print_flipbook_stack``
(pages swapped in place, intermediate poses), ``replay_screen``.
Frame species: ``still_frame``. Clip species (a real person's clip, :mod:`.clips`):
``face_swap``, ``morph_bridge``, and the bona fide "cooperative applicant".

Run them with ``benchmarks/liveness_attacks.py``; see its docstring.
"""
from __future__ import annotations

from . import print_curved, print_flipbook, print_flipbook_stack, print_folded, print_planar, replay_screen

SHEET_SPECIES = {m.SPECIES: m for m in (print_planar, print_folded, print_curved, print_flipbook,
                                         print_flipbook_stack, replay_screen)}
CLIP_SPECIES = ("face_swap", "morph_bridge")
ALL_SPECIES = (*SHEET_SPECIES, "still_frame", *CLIP_SPECIES)
