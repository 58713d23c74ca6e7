"""Sensor-noise measurements (benchmarks.sensor_noise): the estimator reads known noise, and on real
data it responds to sensor noise and denoising -- but the real clips read less noise than an
injected (digitally warped) photo, which is why no ``no_sensor_noise`` reason ships
(reports/injected_frames.md)."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # benchmarks.attacks

from benchmarks.sensor_noise import immerkaer_sigma, temporal_residual


def _scene() -> np.ndarray:
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float32)
    return 60.0 + 0.3 * xx + 0.2 * yy


def test_immerkaer_reads_gaussian_noise():
    rng = np.random.default_rng(0)
    img = _scene() + rng.normal(0, 3.0, (240, 320)).astype(np.float32)
    assert immerkaer_sigma(img) == pytest.approx(3.0, rel=0.1)
    assert immerkaer_sigma(img, flat=True) == pytest.approx(3.0, rel=0.25)
    assert immerkaer_sigma(_scene()) < 0.05          # smooth structure is cancelled


def test_temporal_residual_of_a_static_scene():
    rng = np.random.default_rng(1)
    a = _scene() + rng.normal(0, 2.0, (240, 320)).astype(np.float32)
    b = _scene() + rng.normal(0, 2.0, (240, 320)).astype(np.float32)
    assert temporal_residual(a, b, quantile=0.5) == pytest.approx(2.0 * np.sqrt(2.0), rel=0.1)
    assert temporal_residual(a, a) == 0.0


def _jpeg(img: np.ndarray) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1], cv2.IMREAD_COLOR)


def _clip_frame(shared_data, engine, name: str) -> np.ndarray:
    from benchmarks.attacks.clips import to_camera
    from idmatch.liveness.video import sample_frames

    raw, _ = sample_frames(shared_data / "video/liveportrait" / f"{name}.mp4", 10.0, max_frames=1)
    return to_camera(raw[0], None, encode=False)


def test_real_frame_responds_to_noise_and_denoising(shared_data, engine):
    frame = _clip_frame(shared_data, engine, "d10")
    rng = np.random.default_rng(2)
    noisy = np.clip(frame + rng.normal(0, 2.5, frame.shape), 0, 255).astype(np.uint8)
    base = immerkaer_sigma(_jpeg(frame), flat=True)
    assert immerkaer_sigma(_jpeg(noisy), flat=True) > base + 0.05
    assert immerkaer_sigma(_jpeg(cv2.bilateralFilter(frame, 7, 30, 5)), flat=True) <= base


def test_a_real_clip_reads_less_noise_than_an_injected_photo(shared_data, engine):
    """The measured reason not to ship a noise floor: real clip d18 (a real person) reads less
    flat-region noise than the victim's photo warped digitally with no camera at all."""
    from benchmarks.attacks.injected import WarpPerformer
    from benchmarks.attacks.subjects import load_photo

    real = immerkaer_sigma(_jpeg(_clip_frame(shared_data, engine, "d18")), flat=True)
    photo = load_photo(engine, shared_data, "verification/lfw_deepfunneled/images/Tony_Blair/Tony_Blair_0018.jpg")
    assert photo is not None
    warp = WarpPerformer.from_photo(photo, np.random.default_rng(3))
    injected = immerkaer_sigma(_jpeg(warp.frame("turn_left", 0.5, 1.0)), flat=True)
    assert real < injected
