"""Bounded image decoding and analysis (issue 14, finding 2).

A 113 KiB PNG of 40 MP costs ~400 MB to decode and analyse; the thread pool would run 40 of them at
once. Every decode/analysis in the service goes through :class:`DecodeLimiter`:

* at most ``slots`` at a time (default: the CPU count — more only queue for the same cores);
* a **pixel budget**: the images being decoded may hold at most ``pixel_budget`` header pixels
  together (default 1.2 × the 40 MP limit: one maximum-size image at a time, with room for normal
  photos beside it, so ordinary requests are still answered while a large one decodes);
* waiting is bounded: at most ``max_waiting`` requests queue, each for at most ``queue_timeout_s``;
  beyond that the answer is 503 ``server_busy`` with ``Retry-After``.

The pixel count is read from the image header before anything is decoded. :class:`GuardedEngine`
wraps a :class:`~idmatch.pipeline.FaceEngine` so that ``analyze``, ``decode`` and ``verify`` are
admitted through the limiter; everything else is passed through. Large images are also decoded at
a reduced size (``ImageLimits.work_max_pixels``, JPEG via libjpeg's DCT scaling), see
:func:`idmatch.imaging.decode_image`.

Tuning (``Settings``: ``IDMATCH_DECODE_SLOTS``, ``IDMATCH_DECODE_PIXEL_BUDGET``,
``IDMATCH_DECODE_MAX_WAITING``, ``IDMATCH_DECODE_QUEUE_TIMEOUT_S``, ``IDMATCH_WORK_MAX_PIXELS``).
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from contextlib import contextmanager

import numpy as np

from .problems import ApiError

log = logging.getLogger(__name__)

# Settings.work_max_pixels (12 MP by default): a 12 MP phone photo is decoded as it is; larger ones reduced
_TRIM_ABOVE = 8_000_000                   # give freed heap back to the OS after images this large


def _malloc_trim():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):      # not glibc
        return None


_TRIM = _malloc_trim()


class DecodeLimiter:
    def __init__(self, slots: int, pixel_budget: int, *, max_waiting: int, queue_timeout_s: float):
        self.slots = max(1, int(slots))
        self.pixel_budget = max(1, int(pixel_budget))
        self.max_waiting = max(0, int(max_waiting))
        self.queue_timeout_s = float(queue_timeout_s)
        self._cond = threading.Condition()
        self._held = threading.local()
        self.active = 0
        self.pixels = 0
        self.waiting = 0
        self.peak_active = 0
        self.rejected = 0

    @classmethod
    def for_settings(cls, settings) -> "DecodeLimiter":
        slots = settings.decode_slots or os.cpu_count() or 2
        budget = settings.decode_pixel_budget if settings.decode_pixel_budget is not None else 1.2 * settings.max_pixels
        waiting = settings.decode_max_waiting if settings.decode_max_waiting is not None else 4 * slots
        return cls(slots=slots, pixel_budget=int(budget), max_waiting=waiting, queue_timeout_s=settings.decode_queue_timeout_s)

    def _busy(self, why: str) -> ApiError:
        self.rejected += 1
        retry = max(1, int(round(self.queue_timeout_s / 4)))
        return ApiError(503, "server_busy", f"image analysis is at capacity ({why}); retry shortly",
                        headers={"Retry-After": str(retry)})

    @contextmanager
    def admit(self, pixels: int):
        if getattr(self._held, "depth", 0):   # already admitted on this thread (analyze → decode): no second ticket
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        cost = min(max(1, int(pixels)), self.pixel_budget)   # one image larger than the budget runs alone
        with self._cond:
            if not self._fits(cost):
                if self.waiting >= self.max_waiting:
                    raise self._busy("queue full")
                self.waiting += 1
                deadline = time.monotonic() + self.queue_timeout_s
                try:
                    while not self._fits(cost):
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            raise self._busy(f"waited {self.queue_timeout_s:g} s")
                        self._cond.wait(remaining)
                finally:
                    self.waiting -= 1
            self.active += 1
            self.pixels += cost
            self.peak_active = max(self.peak_active, self.active)
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            with self._cond:
                self.active -= 1
                self.pixels -= cost
                self._cond.notify_all()
            if cost >= _TRIM_ABOVE and _TRIM is not None:
                _TRIM(0)                  # large numpy/PIL buffers freed: hand the heap back

    def _fits(self, cost: int) -> bool:
        return self.active < self.slots and self.pixels + cost <= self.pixel_budget

    def stats(self) -> dict:
        with self._cond:
            return {"active": self.active, "pixels": self.pixels, "waiting": self.waiting, "slots": self.slots,
                    "pixel_budget": self.pixel_budget, "peak_active": self.peak_active, "rejected": self.rejected}


def header_pixels(source) -> int:
    """Pixels an upload declares (from its header, nothing decoded); 1 MP when it cannot be read
    (decoding will then refuse it quickly)."""
    if isinstance(source, np.ndarray):
        return int(source.shape[0] * source.shape[1]) if source.ndim >= 2 else 1
    if isinstance(source, (bytes, bytearray, memoryview)):
        import io

        from PIL import Image

        try:
            with Image.open(io.BytesIO(source)) as img:
                w, h = img.size
            return int(w) * int(h)
        except Exception:
            return 1_000_000
    return 1_000_000


def _guarded_engine_class():
    from ..pipeline import FaceEngine

    class GuardedEngine(FaceEngine):
        """A FaceEngine (same models, same calibration) whose ``decode`` and ``analyze`` — and so
        ``verify`` and every plugin calling them — are admitted through a :class:`DecodeLimiter`.
        A subclass rather than a proxy: quality and liveness check ``isinstance(engine, FaceEngine)``."""

        def __init__(self, engine, limiter: DecodeLimiter):   # shares the wrapped engine's state, loads nothing
            self.__dict__.update(engine.__dict__)
            self.unguarded = engine
            self.limiter = limiter

        def analyze(self, source, role="live"):
            with self.limiter.admit(header_pixels(source)):
                return super().analyze(source, role=role)

        def decode(self, source):
            with self.limiter.admit(header_pixels(source)):
                return super().decode(source)

        def decode_work(self, source, side):
            with self.limiter.admit(header_pixels(source)):
                return super().decode_work(source, side)

    return GuardedEngine


def __getattr__(name):
    if name == "GuardedEngine":            # built on first use: importing the pipeline loads OpenCV
        globals()[name] = cls = _guarded_engine_class()
        return cls
    raise AttributeError(name)


def guard_engine(engine, settings):
    cls = __getattr__("GuardedEngine") if "GuardedEngine" not in globals() else globals()["GuardedEngine"]
    if isinstance(engine, cls):
        return engine
    return cls(engine, DecodeLimiter.for_settings(settings))
