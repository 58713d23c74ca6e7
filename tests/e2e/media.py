"""Test media made at test time from ``../shared/data/video``: fake-camera .y4m files and ID portraits.

* camera: LivePortrait clip ``d12`` at its own speed (25 frames/s): a man with glasses who faces the
  camera, turns to his left at 1.4-2.0 s, to his right at 3.1-3.7 s and to his left again at 6.5-6.9 s
  (read off with idmatch's pose estimator; tests/test_liveness_active.py uses the same clip), then a
  frontal tail (his frontal 4.2-5.9 s played forward and back), 10.7 s in all, looped by Chromium.
  The seeded challenge of the e2e server (seeded_app.py) prompts those very movements at 0.9, 2.6
  and 6.0 s. Each frame carries its number in the loop as a row of black/white 16-px squares in the
  top-left corner (``MARK_*``), so a test can start the capture on the loop's first frame;
* genuine ID portrait: a frame of the same clip at 5.5 s, cropped like a chip photo; impostor
  portrait: another person (clip ``d9``), cropped the same way;
* still-photo "camera": one frontal frame of ``d12`` repeated;
* guidance "camera": the same clip, 2.5 s too dark, then 2.5 s with the face far away (small).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .y4m import frame_at, read_clip, write_y4m

CAMERA_CLIP = "video/liveportrait/d12.mp4"
CAMERA_TAIL = (4.2, 5.9)          # frontal part of the clip, played forward and back after it
MARK_BITS, MARK_BLOCK, MARK_X, MARK_Y = 9, 16, 4, 4
PORTRAIT_AT_S = 5.5
IMPOSTOR_CLIP = "video/liveportrait/d9.mp4"
IMPOSTOR_AT_S = 1.0
STILL_AT_S = 0.3


def chip_crop(img: np.ndarray, out_w: int = 240) -> np.ndarray:
    """Crop around the one face like an ID-card chip photo (3:4 portrait, head and shoulders)."""
    from idmatch.models import get_detector
    from idmatch.detect import select_face

    sel = select_face(img, get_detector())
    x, y, w, h = [float(v) for v in sel.face.box[:4]]
    cx, cy = x + w / 2, y + h / 2 + 0.05 * h
    cw = 1.9 * w
    ch = cw * 4 / 3
    x0, y0 = int(max(0, cx - cw / 2)), int(max(0, cy - ch / 2))
    x1, y1 = int(min(img.shape[1], cx + cw / 2)), int(min(img.shape[0], cy + ch / 2))
    crop = img[y0:y1, x0:x1]
    out_h = int(round(out_w * crop.shape[0] / crop.shape[1]))
    return cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA)


def far_away(img: np.ndarray, scale: float = 0.3) -> np.ndarray:
    """The same scene seen from much further away: shrunk into a plain grey frame of the same size."""
    out = np.full_like(img, 128)
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    y0, x0 = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    out[y0:y0 + h, x0:x0 + w] = small
    return out


def mark(img: np.ndarray, n: int) -> np.ndarray:
    """Write ``n`` into the frame's top-left corner: bit b is the square at x = MARK_X + b * MARK_BLOCK."""
    out = img.copy()
    for b in range(MARK_BITS):
        x0 = MARK_X + b * MARK_BLOCK
        out[MARK_Y:MARK_Y + MARK_BLOCK, x0:x0 + MARK_BLOCK] = 255 if (n >> b) & 1 else 0
    return out


def camera_loop(shared: Path) -> tuple[list[np.ndarray], float]:
    clip, fps = read_clip(shared / CAMERA_CLIP)
    tail, _ = read_clip(shared / CAMERA_CLIP, *CAMERA_TAIL)
    frames = clip + tail + tail[::-1]
    assert len(frames) < 2 ** MARK_BITS
    return [mark(f, i) for i, f in enumerate(frames)], fps


def make_media(shared: Path, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    frames, fps = camera_loop(shared)
    paths = {"camera": out / "camera_d12.y4m", "still": out / "still_d12.y4m", "guidance": out / "guidance_d12.y4m",
             "portrait": out / "portrait_d12.jpg", "impostor": out / "portrait_d9.jpg"}
    write_y4m(paths["camera"], frames, fps=int(round(fps)))
    still = frame_at(shared / CAMERA_CLIP, STILL_AT_S)
    write_y4m(paths["still"], [still] * 50, fps=25)
    five, _ = read_clip(shared / CAMERA_CLIP, 0.0, 5.0)
    half = int(round(2.5 * fps))
    dark = [(f.astype(np.float32) * 0.22).astype(np.uint8) for f in five[:half]]
    write_y4m(paths["guidance"], dark + [far_away(f) for f in five[half:2 * half]], fps=int(round(fps)))
    cv2.imwrite(str(paths["portrait"]), chip_crop(frame_at(shared / CAMERA_CLIP, PORTRAIT_AT_S)), [cv2.IMWRITE_JPEG_QUALITY, 92])
    cv2.imwrite(str(paths["impostor"]), chip_crop(frame_at(shared / IMPOSTOR_CLIP, IMPOSTOR_AT_S)), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return paths
