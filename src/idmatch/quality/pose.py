"""Head pose (yaw, pitch, roll in degrees) from the five detector landmarks, in closed form.

* roll: the angle of the line through the eyes.
* yaw: after undoing roll, the nose tip's horizontal offset from the face's midline (the line
  through the eye and mouth midpoints) over the inter-eye distance. The nose tip stands
  ``NOSE_DEPTH`` inter-eye distances in front of the eye/mouth plane, so a yaw of t moves it
  by ``depth * sin t`` while the eye distance shrinks by ``cos t``: ``t = atan(offset / depth)``.
* pitch: the nose tip's height between the eye line and the mouth line (0 = eyes, 1 = mouth),
  against the frontal value ``FRONTAL_NOSE_HEIGHT`` measured for YuNet landmarks (median over
  an LFW sample); the same geometry gives ``t = atan(dh * L / depth)``. Positive = chin down.

Five points cannot tell much more: these are estimates good to roughly 5-10 degrees near
frontal. Pitch is the weakest -- gaze up with little head motion (eyes raised, head still)
moves none of the five points. ``docs/quality.md`` lists what was measured.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NOSE_DEPTH = 0.50           # nose tip in front of the eye/mouth plane, in inter-eye distances
FRONTAL_NOSE_HEIGHT = 0.555  # YuNet nose tip between eye line (0) and mouth line (1), frontal face


@dataclass(frozen=True)
class HeadPose:
    yaw: float     # + = nose towards image right
    pitch: float   # + = chin down
    roll: float    # + = clockwise in the image (subject's left eye lower)

    def to_dict(self) -> dict:
        return {"yaw": round(self.yaw, 1), "pitch": round(self.pitch, 1), "roll": round(self.roll, 1)}


def estimate_head_pose(landmarks: np.ndarray) -> HeadPose | None:
    """Pose of the face, or None when the landmarks are degenerate (cannot be assessed)."""
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    if not np.all(np.isfinite(pts)):
        return None
    re, le, nose, rm, lm = pts
    d = le - re
    ied = float(np.hypot(*d))
    if ied < 2.0:
        return None
    roll = math.degrees(math.atan2(d[1], d[0]))
    c, s = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rot = np.array([[c, -s], [s, c]])
    eye_mid = (re + le) / 2.0
    q = (pts - eye_mid) @ rot.T          # roll undone, eye midpoint at the origin
    mouth_mid = (q[3] + q[4]) / 2.0
    eye_to_mouth = float(mouth_mid[1])
    if eye_to_mouth <= 1e-6:
        return None                      # mouth above the eyes: not an upright face layout
    nose_q = q[2]
    t = nose_q[1] / eye_to_mouth
    midline_x = mouth_mid[0] * t         # face midline at the nose's height
    yaw = math.degrees(math.atan2(nose_q[0] - midline_x, NOSE_DEPTH * ied))
    pitch = math.degrees(math.atan2((t - FRONTAL_NOSE_HEIGHT) * eye_to_mouth, NOSE_DEPTH * ied))
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll)
