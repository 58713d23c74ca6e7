"""Write a YUV4MPEG2 (.y4m) file for Chromium's fake camera (``--use-file-for-fake-video-capture``).

The format is a text header ``YUV4MPEG2 W<w> H<h> F<num>:<den> Ip A1:1 C420jpeg`` and, per frame,
``FRAME`` plus the I420 planes (Y full size, then U and V at half size each way). Chromium loops the
file, so a clip of a few seconds is enough.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np


def write_y4m(path: Path, frames: Iterable[np.ndarray], fps: int = 25) -> int:
    """Write BGR frames (all the same even size) to ``path``; returns the number of frames."""
    n = 0
    with open(path, "wb") as f:
        for img in frames:
            h, w = img.shape[:2]
            if n == 0:
                if w % 2 or h % 2:
                    raise ValueError(f"y4m frames need even sizes, got {w}x{h}")
                size = (w, h)
                f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
            elif (w, h) != size:
                raise ValueError(f"frame {n} is {w}x{h}, expected {size[0]}x{size[1]}")
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).tobytes())
            n += 1
    if n == 0:
        raise ValueError("no frames to write")
    return n


def read_clip(path: Path, start_s: float = 0.0, end_s: float | None = None) -> tuple[list[np.ndarray], float]:
    """BGR frames of a video between two times, and its frame rate."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames: list[np.ndarray] = []
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            t = i / fps
            i += 1
            if t < start_s:
                continue
            if end_s is not None and t >= end_s:
                break
            frames.append(frame)
    finally:
        cap.release()
    return frames, fps


def frame_at(path: Path, t_s: float) -> np.ndarray:
    frames, _ = read_clip(path, t_s, t_s + 0.2)
    if not frames:
        raise ValueError(f"{path} has no frame at {t_s} s")
    return frames[0]
