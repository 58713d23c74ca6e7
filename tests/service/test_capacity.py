"""Issue 14, finding 2: decodes and analyses are admitted through a semaphore with a pixel budget (503
``server_busy`` with Retry-After when full), and large images are decoded at a reduced size."""
from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from idmatch.imaging import ImageLimits, decode_image, reduction_factor
from idmatch.service.capacity import DecodeLimiter, header_pixels
from idmatch.service.problems import ApiError


def _jpeg(w, h, orientation: int | None = None) -> bytes:
    img = Image.new("RGB", (w, h), (40, 80, 120))
    img.paste((200, 10, 10), (0, 0, w // 4, h // 8))      # a marker in the top-left corner
    buf = io.BytesIO()
    kw = {}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw["exif"] = exif.tobytes()
    img.save(buf, format="JPEG", quality=80, **kw)
    return buf.getvalue()


def test_reduction_factor():
    assert reduction_factor(4000, 3000, 12_000_000) == 1
    assert reduction_factor(11999, 3333, 12_000_000) == 2
    assert reduction_factor(8000, 5000, 12_000_000) == 2
    assert reduction_factor(8000, 5000, 3_000_000) == 4
    assert reduction_factor(8000, 5000, None) == 1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_large_image_decoded_reduced_and_upright(fmt):
    if fmt == "JPEG":
        data = _jpeg(8000, 5000, orientation=6)           # 40 MP, "rotate 90° clockwise to view"
    else:
        img = Image.new("RGB", (8000, 5000), (40, 80, 120))
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        data = buf.getvalue()
    out = decode_image(data, ImageLimits(work_max_pixels=12_000_000))
    assert out.shape[0] * out.shape[1] <= 12_000_000
    if fmt == "JPEG":
        assert out.shape[:2] == (4000, 2500)             # half size, and turned upright (portrait)
    else:
        assert out.shape[:2] == (2500, 4000)
    assert decode_image(data, ImageLimits()).shape[:2] == ((8000, 5000) if fmt == "JPEG" else (5000, 8000))


def test_small_image_unchanged(images):
    a = decode_image(images["same_a"], ImageLimits(work_max_pixels=12_000_000))
    b = decode_image(images["same_a"], ImageLimits())
    assert np.array_equal(a, b)


def test_header_pixels():
    assert header_pixels(_jpeg(640, 480)) == 640 * 480
    assert header_pixels(b"not an image") == 1_000_000
    assert header_pixels(np.zeros((10, 20, 3), np.uint8)) == 200


def _hold(limiter: DecodeLimiter, pixels: int, release: threading.Event, entered: threading.Event):
    with limiter.admit(pixels):
        entered.set()
        release.wait(10)


def test_pixel_budget_lets_small_images_past_a_large_one():
    lim = DecodeLimiter(slots=2, pixel_budget=48_000_000, max_waiting=4, queue_timeout_s=0.3)
    release, entered = threading.Event(), threading.Event()
    t = threading.Thread(target=_hold, args=(lim, 40_000_000, release, entered))
    t.start()
    assert entered.wait(5)
    try:
        with lim.admit(300_000):                          # a normal photo beside the 40 MP one: admitted
            assert lim.active == 2
        t0 = time.monotonic()
        with pytest.raises(ApiError) as e:                # a second 40 MP one waits, then 503
            with lim.admit(40_000_000):
                pass
        assert 0.25 < time.monotonic() - t0 < 3
        assert e.value.http_status == 503 and e.value.code == "server_busy" and int(e.value.headers["Retry-After"]) >= 1
    finally:
        release.set()
        t.join()
    with lim.admit(40_000_000):                           # and once the first is done, it gets in
        pass
    assert lim.stats()["active"] == 0 and lim.stats()["pixels"] == 0


def test_slots_and_queue_bound():
    lim = DecodeLimiter(slots=1, pixel_budget=10 ** 9, max_waiting=0, queue_timeout_s=5)
    release, entered = threading.Event(), threading.Event()
    t = threading.Thread(target=_hold, args=(lim, 1000, release, entered))
    t.start()
    assert entered.wait(5)
    try:
        t0 = time.monotonic()
        with pytest.raises(ApiError) as e:                # no queue allowed: refused at once
            with lim.admit(1000):
                pass
        assert time.monotonic() - t0 < 1 and e.value.code == "server_busy"
    finally:
        release.set()
        t.join()


def test_service_answers_503_with_retry_after_when_full(svc, images):
    eng = svc.app.state.engine
    from idmatch.pipeline import FaceEngine
    from idmatch.service.capacity import GuardedEngine

    assert isinstance(eng, GuardedEngine) and isinstance(eng, FaceEngine) and svc.app.state.sessions.engine is eng
    saved = eng.limiter
    eng.limiter = DecodeLimiter(slots=1, pixel_budget=10 ** 9, max_waiting=0, queue_timeout_s=1)
    release, entered = threading.Event(), threading.Event()
    t = threading.Thread(target=_hold, args=(eng.limiter, 1000, release, entered))
    t.start()
    try:
        assert entered.wait(5)
        files = {"id_image": ("a.jpg", images["same_a"], "image/jpeg"), "live_image": ("b.jpg", images["same_b"], "image/jpeg")}
        r = svc.client.post("/v1/verify", files=files, headers=svc.h("clerk"))
        assert r.status_code == 503 and r.json()["code"] == "server_busy" and int(r.headers["retry-after"]) >= 1
        s = svc.create().json()
        r = svc.portrait(s["id"], images["same_a"])
        assert r.status_code == 503 and r.json()["code"] == "server_busy"
    finally:
        release.set()
        t.join()
        eng.limiter = saved
    files = {"id_image": ("a.jpg", images["same_a"], "image/jpeg"), "live_image": ("b.jpg", images["same_b"], "image/jpeg")}
    assert svc.client.post("/v1/verify", files=files, headers=svc.h("clerk")).status_code == 200


def test_admission_is_reentrant_on_one_thread():
    lim = DecodeLimiter(slots=1, pixel_budget=10, max_waiting=0, queue_timeout_s=0.1)
    with lim.admit(5):
        with lim.admit(5):                                  # analyze → decode on the same thread
            assert lim.active == 1
    assert lim.active == 0 and lim.pixels == 0
