"""Read frames from a short video at a fixed sampling rate (for clients that send a clip)."""
from __future__ import annotations

import os

import cv2
import numpy as np

from ..errors import BadImageError

MAX_FRAMES = 300


def sample_frames(path: str | os.PathLike, fps: float = 5.0, max_frames: int = MAX_FRAMES
                  ) -> tuple[list[np.ndarray], list[float]]:
    """BGR frames sampled every ``1/fps`` seconds, and their timestamps in seconds from the start."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise BadImageError(f"cannot open video: {path}", code="bad_video")
    src_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    step = 1.0 / fps
    frames: list[np.ndarray] = []
    times: list[float] = []
    next_t, i = 0.0, 0
    try:
        while len(frames) < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            t = i / src_fps
            if t + 1e-6 >= next_t:
                frames.append(frame)
                times.append(t)
                next_t += step
            i += 1
    finally:
        cap.release()
    if not frames:
        raise BadImageError(f"no frames decoded from video: {path}", code="bad_video")
    return frames, times
