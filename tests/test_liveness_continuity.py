"""Appearance continuity (``idmatch.liveness.continuity``) on real data: a real head's consecutive
frames, fast turn included, are continuous; a page of a flipbook swapped *in place* for another
real photo of the same person is a cut. Skips when ../shared/data is absent (conftest)."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from idmatch.liveness import ChallengeConfig, observe_frame
from idmatch.liveness.continuity import changes, continuous_pieces

CFG = ChallengeConfig()
LFW_PERSON = "Colin_Powell"     # an LFW person with many photos, not one of the attack benchmark's subjects


@pytest.fixture(scope="module")
def d12_obs(engine, shared_data):
    from idmatch.liveness.video import sample_frames

    frames, _ = sample_frames(shared_data / "video" / "liveportrait" / "d12.mp4", 10.0)
    return [observe_frame(engine, f, CFG) for f in frames]


def test_real_clip_with_a_fast_turn_has_no_cut(d12_obs):
    """d12 at 10 frames/s: +18° in about 0.2 s and the head moving half a face between two frames."""
    ch = changes(d12_obs)
    assert len(ch) >= 60
    worst = max(ch, key=lambda c: c.change)
    assert worst.change <= CFG.max_cut_change, worst
    yaws = [o.pose.yaw for o in d12_obs if o.pose is not None]
    assert max(yaws) - min(yaws) > 30     # the clip really turns both ways


def _photo(engine, path):
    """The photo and its five landmarks; None unless exactly one face is found (LFW photos often
    show other people too)."""
    from idmatch.detect import find_faces

    img = cv2.imread(str(path))
    found, _ = find_faces(img, engine.detector, engine.config.detection)
    if img is None or len(found) != 1:
        return None
    return img, np.asarray(found[0].landmarks, np.float32).reshape(5, 2)


def _in_place_flipbook(engine, shared_data, n_before: int = 5, n_after: int = 5) -> list[np.ndarray]:
    """Two real photos of one person, the second warped so its eyes, nose and mouth land exactly where
    the first one's are (a stack of pages printed at the same face size, swapped in place), in a
    640x480 frame, held by a slowly drifting hand (1-2 px a frame)."""
    paths = sorted((shared_data / "verification" / "lfw_deepfunneled" / "images" / LFW_PERSON).glob("*.jpg"))
    photos = [p for p in (_photo(engine, path) for path in paths[:12]) if p is not None]
    if len(photos) < 2:
        pytest.skip(f"{LFW_PERSON} has fewer than 2 single-face photos in ../shared/data")
    (a, la), (b, lb) = photos[:2]
    m, _ = cv2.estimateAffinePartial2D(lb, la, method=cv2.LMEDS)
    b = cv2.warpAffine(b, m, (a.shape[1], a.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    frames = []
    for k, page in enumerate([a] * n_before + [b] * n_after):
        up = cv2.resize(page, None, fx=1.8, fy=1.8, interpolation=cv2.INTER_CUBIC)
        canvas = np.full((480, 640, 3), 128, np.uint8)
        y0, x0 = (480 - up.shape[0]) // 2, (640 - up.shape[1]) // 2
        canvas[y0:y0 + up.shape[0], x0:x0 + up.shape[1]] = up
        shift = np.float32([[1, 0, 1.5 * k], [0, 1, 0.8 * k]])
        frame = cv2.warpAffine(canvas, shift, (640, 480), borderMode=cv2.BORDER_REPLICATE)
        frames.append(cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1], cv2.IMREAD_COLOR))
    return frames


def test_page_swapped_in_place_is_a_cut(engine, shared_data):
    frames = _in_place_flipbook(engine, shared_data)
    obs = [observe_frame(engine, f, CFG) for f in frames]
    assert all(o.face is not None for o in obs)
    # in place: the face box moves less than real heads' boxes do (face_jump: real clips up to 0.62 face
    # widths in 0.1 s, the limit 1.0); the eyes, nose and mouth do not move at all
    a, b = obs[4].face, obs[5].face
    assert np.hypot(a.center[0] - b.center[0], a.center[1] - b.center[1]) / a.box[2] < 0.5
    ch = {(c.a, c.b): c.change for c in changes(obs)}
    assert ch[4, 5] > CFG.max_cut_change, ch
    assert all(v <= CFG.max_cut_change for k, v in ch.items() if k != (4, 5)), ch
    cuts = [k for k, v in ch.items() if v > CFG.max_cut_change]
    assert continuous_pieces(0, 9, cuts) == [(0, 4), (5, 9)]
    # the swap hidden by frames without a face (the sheet pulled out of view) is still compared
    hidden = obs[:4] + [replace(o, face=None, pose=None) for o in obs[4:6]] + obs[6:]
    ch = {(c.a, c.b): c.change for c in changes(hidden)}
    assert ch[3, 6] > CFG.max_cut_change, ch
    assert continuous_pieces(0, 9, [(3, 6)]) == [(0, 3), (6, 9)]
