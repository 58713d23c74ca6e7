"""Head pose (yaw, pitch, roll, size) from the detector's five landmarks: ONE estimator and ONE
sign convention for quality, liveness and the web pages.

No 3-D model: the nose tip stands in front of the plane of eyes and mouth, so turning the head
slides it sideways off the face midline (the line through the eye and mouth midpoints), and
nodding slides it towards or away from the eye line. With the nose about ``NOSE_DEPTH``
inter-ocular distances in front of that plane, ``yaw = atan(dx / (NOSE_DEPTH · eye_dist))``;
pitch compares the nose's drop below the eye line (in yaw-corrected inter-ocular distances)
with its frontal value ``NOSE_DROP``. Pitch ignores the mouth points on purpose: talking and
expressions move them (measured: pitch noise on the LivePortrait clips fell from 2.6° to 1.9°
std). Angles are rough (±10°) but monotonic. Degrees, in the subject's frame for an unmirrored
camera image:

* ``yaw > 0``: the subject turned to *their* left (the nose moves to the image's right);
* ``pitch > 0``: the subject looks up (chin up; the nose moves towards the eye line);
* ``roll > 0``: the head is tilted clockwise in the image.

A mirrored (selfie-preview) frame flips the sign of yaw and roll; pass ``mirrored=True``.
Five points carry yaw well, pitch poorly (a raised gaze moves none of them); a landmark
regressor also draws a face-shaped answer on a folded print, which is why liveness takes its
3-D evidence from optical flow (:mod:`idmatch.liveness.parallax`), not from this pose.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

NOSE_DEPTH = 0.6   # nose-tip depth in front of the eye/mouth plane, in inter-ocular distances
NOSE_DROP = 0.57   # frontal nose-tip drop below the eye line, in inter-ocular distances (ArcFace template)


@dataclass(frozen=True)
class HeadPose:
    yaw: float    # degrees, + = subject's left
    pitch: float  # degrees, + = up
    roll: float   # degrees, + = head tilted clockwise in the image
    size: float   # face size in pixels: mean of eye distance and eye-to-mouth distance

    def to_dict(self) -> dict:
        return {k: round(v, 2) for k, v in asdict(self).items()}


def estimate_pose(landmarks: np.ndarray, mirrored: bool = False) -> HeadPose | None:
    """Pose from (5, 2) landmarks: right eye, left eye, nose, right mouth, left mouth (image order).
    None when the layout is degenerate (eyes on top of each other, mouth above the eyes, NaN):
    the pose cannot be assessed."""
    p = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    if not np.all(np.isfinite(p)):
        return None
    eye_vec = p[1] - p[0]
    if float(np.hypot(*eye_vec)) < 2.0:
        return None
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    # rotate into the eye-line frame so roll does not leak into yaw/pitch
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rot = np.array([[c, -s], [s, c]])
    q = (p - p[:2].mean(axis=0)) @ rot.T
    eye_r, eye_l, nose, mouth_r, mouth_l = q
    eye_dist = max(float(np.linalg.norm(eye_l - eye_r)), 1e-6)
    eye_mid, mouth_mid = (eye_r + eye_l) / 2.0, (mouth_r + mouth_l) / 2.0
    face_h = float(mouth_mid[1] - eye_mid[1])
    if face_h <= 1e-6:
        return None   # mouth above the eyes: not an upright face layout
    t = (nose[1] - eye_mid[1]) / face_h
    mid_x = eye_mid[0] + t * (mouth_mid[0] - eye_mid[0])
    yaw = math.degrees(math.atan2(nose[0] - mid_x, NOSE_DEPTH * eye_dist))
    drop = (nose[1] - eye_mid[1]) / (eye_dist / max(math.cos(math.radians(yaw)), 0.5))
    pitch = math.degrees(math.atan2(NOSE_DROP - drop, NOSE_DEPTH))
    if mirrored:
        yaw, roll = -yaw, -roll
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll, size=(eye_dist + face_h) / 2.0)
