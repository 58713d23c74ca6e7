"""Head pose from dlib's 68 landmarks and a 3-D mean face (``cv2.solvePnP``): an alternative to
the five-point :func:`idmatch.pose.estimate_pose`, NOT used by the liveness check or quality -- a
measurement tool of the benchmarks, kept out of the package (the library has one pose estimator).

Why it exists: the five-point estimator has no 3-D model, so a mirrored frame reads 4-8° (up to
13°) different yaw and a real 20-25° turn reads 10-12° of spurious pitch (issue 12 item 6).
``benchmarks/pose_error.py`` measures both on real faces (``reports/pose_error.md``); the lead
decides from those numbers whether a release swaps them (every liveness figure depends on it).
Measured at the 320-px work size: mirror error (median / p90) on 162 LFW photos yaw 1.7 / 4.1°
(five points: 3.1 / 8.8°), pitch 0.75 / 2.3° (3.7 / 8.1°); on 296 real-clip frames yaw 1.4 / 4.7°
(3.0 / 7.1°), pitch 0.6 / 2.3° (2.5 / 6.4°). Against it: single-frame outliers up to 16-25° of
yaw mirror error (the predictor losing a turned face), a noisier pitch on talking frontal faces
(median std 3.6° vs 2.6°: the chin and mouth corners move) and 5.1 ms of CPU a frame against
0.3 ms (about +0.45 s on a 2 s, 86-frame challenge). On the six labelled strong-pose InspireFace
images it reads the labelled direction on 3 (five points: 5, though its "look up" and "look down"
read only -2° and -3.5° of pitch): near profile or chin down the predictor's landmarks fail. Better
near frontal, where the challenge's turns and nods live; not a drop-in replacement.

The 3-D model: the six-point generic face of S. Mallick, "Head Pose Estimation using OpenCV and
Dlib" (LearnOpenCV, 2016) -- nose tip (0, 0, 0), chin (0, -330, -65), the outer eye corners
(∓225, 170, -135), the mouth corners (∓150, -150, -125), arbitrary units, y up, z towards the
viewer -- here with y and z flipped into the camera's axes (y down, z away), matched to the
iBUG 68-point indices 30, 8, 36, 45, 48, 54. Camera: focal length = image width, principal point
at the centre, no distortion. Landmarks: ``face_recognition_models``' 68-point dlib shape
predictor, run in the detector's box (squared). Same sign convention as :mod:`idmatch.pose`
(yaw > 0: the subject's left; pitch > 0: up; roll > 0: clockwise in the image); angles are the
head's rotation in the camera frame, pitch with the model's frontal offset (the mean face looks
slightly down) left in -- compare pitch changes, not values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from idmatch.pose import HeadPose

LANDMARKS = (30, 8, 36, 45, 48, 54)   # nose tip, chin, outer eye corners (image left, right), mouth corners
MODEL = np.array([[0.0, 0.0, 0.0], [0.0, 330.0, 65.0], [-225.0, -170.0, 135.0], [225.0, -170.0, 135.0],
                  [-150.0, 150.0, 125.0], [150.0, 150.0, 125.0]], np.float64)   # camera axes: x right, y down, z away


@lru_cache(maxsize=1)
def _predictor():
    import dlib
    import face_recognition_models

    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


@dataclass(frozen=True)
class DensePose:
    pose: HeadPose
    landmarks: np.ndarray     # (68, 2) image pixels


def landmarks68(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """dlib's 68 points (image pixels) in the detector's ``box`` (x, y, w, h), squared on its centre."""
    import dlib

    x, y, w, h = box
    side = max(w, h)
    cx, cy = x + w / 2.0, y + h / 2.0
    rect = dlib.rectangle(int(round(cx - side / 2)), int(round(cy - side / 2)),
                          int(round(cx + side / 2)), int(round(cy + side / 2)))
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    shape = _predictor()(np.ascontiguousarray(grey), rect)
    return np.array([[p.x, p.y] for p in shape.parts()], np.float64)


def pose_from_landmarks(pts68: np.ndarray, image_size: tuple[int, int], mirrored: bool = False) -> HeadPose | None:
    """Yaw, pitch, roll (degrees) of the 3-D model fitted to ``pts68`` (68, 2); ``image_size`` is
    (width, height). None when solvePnP fails or lands in the flipped (upside-down) solution."""
    w, h = image_size
    cam = np.array([[w, 0, w / 2.0], [0, w, h / 2.0], [0, 0, 1]], np.float64)
    img_pts = np.asarray(pts68, np.float64)[list(LANDMARKS)]
    if not np.all(np.isfinite(img_pts)):
        return None
    # start from a frontal head at the distance the eye corners imply: six points admit a second,
    # flipped solution (roll near 180°) that an unguided solve sometimes lands in
    z = w * 450.0 / max(float(np.linalg.norm(img_pts[3] - img_pts[2])), 1.0)
    tvec0 = np.array([[(img_pts[0, 0] - w / 2.0) * z / w], [(img_pts[0, 1] - h / 2.0) * z / w], [z]])
    ok, rvec, tvec = cv2.solvePnP(MODEL, img_pts, cam, None, np.zeros((3, 1)), tvec0, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    rot, _ = cv2.Rodrigues(rvec)
    if rot[1, 1] < 0:
        return None   # still upside down (the flipped solution): no usable pose
    n = rot @ np.array([0.0, 0.0, -1.0])          # the face's forward direction (towards the camera when frontal)
    yaw = math.degrees(math.atan2(n[0], -n[2]))
    pitch = math.degrees(math.atan2(-n[1], math.hypot(n[0], n[2])))
    ex = rot @ np.array([1.0, 0.0, 0.0])
    roll = math.degrees(math.atan2(ex[1], ex[0]))
    eye = float(np.linalg.norm(pts68[45] - pts68[36]))
    size = (0.5 * eye + float(np.linalg.norm((pts68[48] + pts68[54]) / 2 - (pts68[36] + pts68[45]) / 2))) / 2.0
    if mirrored:
        yaw, roll = -yaw, -roll
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll, size=size)


def estimate_pose_dense(image: np.ndarray, box: tuple[float, float, float, float],
                        mirrored: bool = False) -> DensePose | None:
    """The pose of the face in ``box`` (detector box, image pixels) of ``image`` (BGR or grey)."""
    pts = landmarks68(image, box)
    p = pose_from_landmarks(pts, (image.shape[1], image.shape[0]), mirrored=mirrored)
    return None if p is None else DensePose(p, pts)
