"""Appearance continuity between consecutive frames: a cut between two photos is abrupt, a head is not.

A flipbook attacker (several photos of the victim, each page shown when its pose fits the prompt)
can swap pages *in place*, so the face does not jump (``face_jump``) and the pose steps through
intermediate pages. What a swap cannot fake is continuity: between two consecutive frames of a
live person, everything around the face -- the face itself, hair, collar, the room behind -- is
the previous frame moved a little (the head by its own motion, the room not at all). Between two
different photos the content itself changes: other lighting, hair, clothes, the photo's own
background.

So for each pair of consecutive frames with a face, a square region around the face (``REGION``
face sizes, both frames cropped at the same image coordinates, ``SIDE`` px, grey at the work size
the frames were observed at) is explained by two motion hypotheses, each refined by dense optical
flow (Farnebäck): (1) the region is still (the room; flow from zero) and (2) it moves with the face
(flow started from the similarity that carries the five landmarks of the first frame onto the
second's, so a fast real turn -- measured: the head moving half a face in 0.1 s on clip d12 -- is
compensated). Each pixel keeps the better hypothesis; the **change** is the mean remaining absolute
difference (0-255 grey) after removing the global brightness change (camera exposure). Frames without
a face are bridged (the pair is the faces on either side), so a swap made while the sheet is pulled
out of view is compared too.

Computed only inside each turn's start-to-peak window (``check._continuous_parallax``), where the 3-D
evidence is measured: the window is split at the cuts and the depth must show within one continuous
piece of it -- optical flow carried across a cut between two photos reads as depth. Only there,
because the attack benchmark's bona fide applicants are spliced from a clip's rest frames and its
moves (a splice is a cut a live capture never has), and because only there does a cut buy the
attacker anything the other checks do not see: nods and moving closer have no depth check.

Measured (``benchmarks/flipbook_continuity.py``): real consecutive frames at most 14.8 (SadTalker,
talking; the hamilton stage clip with camera zoom 14.7; d12's fast turn, the head moving half a face
in 0.1 s, 7.2); two LFW photos of one person swapped in place 44 (the unit test).

Cost: two 64x64 Farnebäck flows per pair, well under 1 ms each.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

SIDE = 64            # the region is resampled to SIDE x SIDE px
REGION = 2.2         # region side, in face sizes (the larger of the two frames' face boxes)
BORDER = 6           # px of the resampled region left out (flow is unreliable at the edge)


@dataclass(frozen=True)
class PairChange:
    """Appearance change between frames ``a`` and ``b``: consecutive frames with a face (``b > a + 1``
    when the frames between have none -- a page swapped while the sheet is out of view)."""
    a: int
    b: int
    change: float

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "change": round(self.change, 2)}


def _region(oa, ob) -> tuple[int, int, int, int] | None:
    """Work-size pixel box around both frames' faces (same coordinates in both frames)."""
    s = oa.scale
    xa, ya, wa, ha = (v * s for v in oa.face.box)
    xb, yb, wb, hb = (v * s for v in ob.face.box)
    cx, cy = (xa + wa / 2 + xb + wb / 2) / 2, (ya + ha / 2 + yb + hb / 2) / 2
    half = REGION * max(wa, ha, wb, hb) / 2
    g = oa.gray
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    x1, y1 = int(min(g.shape[1], cx + half)), int(min(g.shape[0], cy + half))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return x0, y0, x1, y1


def _warp_residual(A: np.ndarray, B: np.ndarray, init: np.ndarray | None) -> np.ndarray:
    flags = cv2.OPTFLOW_USE_INITIAL_FLOW if init is not None else 0
    flow = cv2.calcOpticalFlowFarneback(A, B, None if init is None else init.copy(), 0.5, 3, 9, 3, 5, 1.1, flags)
    gx, gy = np.meshgrid(np.arange(A.shape[1], dtype=np.float32), np.arange(A.shape[0], dtype=np.float32))
    Bw = cv2.remap(B.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    return A.astype(np.float32) - Bw


def pair_change(oa, ob) -> float | None:
    """The change between two consecutive observed frames (``FrameObservation`` with a face and the
    same work scale); None when the region cannot be cut out."""
    box = _region(oa, ob)
    if box is None or oa.gray.shape != ob.gray.shape:
        return None
    x0, y0, x1, y1 = box
    sx, sy = SIDE / (x1 - x0), SIDE / (y1 - y0)
    A = cv2.resize(oa.gray[y0:y1, x0:x1], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    B = cv2.resize(ob.gray[y0:y1, x0:x1], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    # hypothesis 2: the region moves with the face (five landmarks, a -> b, in region pixels)
    la = (np.asarray(oa.face.landmarks, np.float32).reshape(-1, 2) * oa.scale - [x0, y0]) * [sx, sy]
    lb = (np.asarray(ob.face.landmarks, np.float32).reshape(-1, 2) * ob.scale - [x0, y0]) * [sx, sy]
    m, _ = cv2.estimateAffinePartial2D(la.astype(np.float32), lb.astype(np.float32), method=cv2.LMEDS)
    res = [_warp_residual(A, B, None)]
    if m is not None:
        gx, gy = np.meshgrid(np.arange(SIDE, dtype=np.float32), np.arange(SIDE, dtype=np.float32))
        init = np.stack([m[0, 0] * gx + m[0, 1] * gy + m[0, 2] - gx, m[1, 0] * gx + m[1, 1] * gy + m[1, 2] - gy],
                        axis=-1).astype(np.float32)
        res.append(_warp_residual(A, B, init))
    b = BORDER
    diffs = [r[b:-b, b:-b] for r in res]
    diffs = [d - float(np.median(d)) for d in diffs]          # the camera's exposure change is no cut
    return float(np.mean(np.min(np.abs(np.stack(diffs)), axis=0)))


def changes(observations: Sequence, lo: int = 0, hi: int | None = None) -> list[PairChange]:
    """:func:`pair_change` of every pair of consecutive frames with a face among frames lo..hi
    (inclusive): frames without a face in between are bridged, so a swap hidden by a frame or two
    without a face (the sheet pulled out of view) is still compared."""
    hi = len(observations) - 1 if hi is None else min(hi, len(observations) - 1)
    faced = [k for k in range(max(lo, 0), hi + 1) if observations[k].face is not None]
    out = []
    for a, b in zip(faced[:-1], faced[1:]):
        c = pair_change(observations[a], observations[b])
        if c is not None:
            out.append(PairChange(a, b, c))
    return out


def continuous_pieces(start: int, end: int, cuts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Split frames start..end (inclusive) at the cuts, pairs (a, b) of frames: the continuous
    pieces, as (first, last) frame indices (frames strictly between a and b belong to none)."""
    pieces, first = [], start
    for a, b in sorted(c for c in cuts if start <= c[0] and c[1] <= end):
        pieces.append((first, a))
        first = b
    pieces.append((first, end))
    return pieces
