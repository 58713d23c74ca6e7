"""Decode untrusted image bytes into a BGR ``uint8`` array, safely.

Handles JPEG/PNG/BMP/WebP/TIFF, EXIF orientation, grayscale, palette and alpha
(composited on white), and refuses oversized uploads *before* decoding pixels
(a 50-megapixel PNG or a forged header never reaches the allocator).
"""
from __future__ import annotations

import io
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadImageError, ImageTooLargeError

log = logging.getLogger(__name__)

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF", "MPO"})


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 40_000_000  # 40 MP: any phone photo, not a bomb
    max_side: int = 12_000
    min_side: int = 16
    # decode images above this many pixels at a reduced size (an integer factor: JPEG through libjpeg's
    # DCT scaling, so the full-size raster never exists; other formats reduced right after decoding).
    # None: full size. The service sets it (the face pipeline works at 640 px for detection and a
    # 112 px crop; 12 MP keeps every phone photo as it is).
    work_max_pixels: int | None = None


DEFAULT_LIMITS = ImageLimits()


def read_bytes(source: str | os.PathLike | bytes, limits: ImageLimits = DEFAULT_LIMITS) -> bytes:
    """Return the raw bytes of a path or pass bytes through, enforcing the byte limit."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise BadImageError(f"image file not found: {path}", code="file_not_found")
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise ImageTooLargeError(
                f"image file is {size} bytes, over the {limits.max_bytes}-byte limit",
                details={"bytes": size, "limit": limits.max_bytes},
            )
        data = path.read_bytes()
    if len(data) == 0:
        raise BadImageError("the image is empty (0 bytes)", code="empty_image")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"image is {len(data)} bytes, over the {limits.max_bytes}-byte limit",
            details={"bytes": len(data), "limit": limits.max_bytes},
        )
    return data


def decode_image(source: str | os.PathLike | bytes | np.ndarray, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Decode to a contiguous BGR uint8 array (H, W, 3), upright per EXIF.

    Raises :class:`BadImageError` for anything that is not a complete, supported
    image and :class:`ImageTooLargeError` for byte/pixel/side limits.
    """
    if isinstance(source, np.ndarray):
        return _normalise_array(source)
    data = read_bytes(source, limits)
    fast = _decode_jpeg_cv(data, limits)
    if fast is not None:
        return fast[0]
    return _pil_to_bgr(_decode_pil(data, limits)[0])


def decode_work(source: str | os.PathLike | bytes | np.ndarray, side: int,
                limits: ImageLimits = DEFAULT_LIMITS) -> tuple[np.ndarray, float]:
    """Decode at most ``side`` pixels on the longer side, cheaply: a JPEG through libjpeg's DCT
    scaling (1/2, 1/4, 1/8), so the full-size raster is never built, then resized to ``side``.
    Returns the BGR array and its scale relative to the full-size image (work / full, <= 1).
    The same checks as :func:`decode_image`; used where many frames are only detected (liveness)."""
    import cv2

    if isinstance(source, np.ndarray):
        full = _normalise_array(source)
        full_side = max(full.shape[:2])
        img = full
    else:
        data = read_bytes(source, limits)
        fast = _decode_jpeg_cv(data, limits, draft_side=side)
        if fast is not None:
            img, full_side = fast
        else:
            pil, full_side = _decode_pil(data, limits, draft_side=side)
            img = _pil_to_bgr(pil)
    s = min(1.0, side / max(img.shape[:2]))
    if s < 1.0:
        img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    return img, max(img.shape[:2]) / float(full_side)


def _decode_pil(data: bytes, limits: ImageLimits, draft_side: int | None = None) -> tuple[Image.Image, int]:
    """The upright PIL image and the full-size image's longer side (before any reduction)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format
            if fmt not in ALLOWED_FORMATS:
                raise BadImageError(f"unsupported image format {fmt!r}; use JPEG, PNG, BMP or WebP", code="unsupported_format")
            w, h = img.size
            _check_dimensions(w, h, limits)
            factor = reduction_factor(w, h, limits.work_max_pixels)
            if draft_side and fmt in ("JPEG", "MPO") and max(w, h) > draft_side:
                k = draft_side / max(w, h)
                img.draft(None, (math.ceil(w * k), math.ceil(h * k)))   # the smallest DCT scale >= draft_side
            elif factor > 1 and fmt in ("JPEG", "MPO"):
                img.draft(None, (-(-w // factor), -(-h // factor)))   # DCT scaling: 1/2, 1/4 or 1/8
            img.load()  # full decode: truncated files fail here
            factor = reduction_factor(*img.size, limits.work_max_pixels)
            if factor > 1:
                img = _reduce(img, factor)
    except (ImageTooLargeError, BadImageError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image declares too many pixels: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImageError(f"not a readable image ({type(exc).__name__}: {exc})") from exc
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # malformed EXIF must not make a good image unusable
        log.debug("ignoring malformed EXIF orientation")
    return img, max(w, h)


_CV_REDUCED = {1: "IMREAD_COLOR", 2: "IMREAD_REDUCED_COLOR_2", 4: "IMREAD_REDUCED_COLOR_4", 8: "IMREAD_REDUCED_COLOR_8"}


def _decode_jpeg_cv(data: bytes, limits: ImageLimits, draft_side: int | None = None) -> tuple[np.ndarray, int] | None:
    """The common case of :func:`_decode_pil` + :func:`_pil_to_bgr` in one libjpeg-turbo call: a
    complete colour (YCbCr) JPEG with no EXIF rotation and no ``work_max_pixels`` reduction, decoded
    by OpenCV straight to BGR at the DCT scale Pillow's ``draft`` picks. The pixels are the same
    (both are libjpeg-turbo with its defaults; tests/test_imaging.py checks it) for about half the
    CPU: no RGB raster, no copy, no colour swap -- it matters where a liveness capture decodes ~100
    frames. Pillow still parses the header first, so the format, size and bomb checks are the same;
    anything else (other formats, grey/CMYK, EXIF orientation, a stream without its end marker,
    a decoder failure) returns None and takes the Pillow path, which decodes or raises as before."""
    import cv2

    if not data.startswith(b"\xff\xd8") or not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.format != "JPEG" or img.mode != "RGB":
                return None
            w, h = img.size
            _check_dimensions(w, h, limits)
            if reduction_factor(w, h, limits.work_max_pixels) > 1 or img.getexif().get(0x0112, 1) != 1:
                return None
            if draft_side and max(w, h) > draft_side:
                k = draft_side / max(w, h)
                img.draft(None, (math.ceil(w * k), math.ceil(h * k)))   # the same DCT scale as _decode_pil
            factor = w // img.size[0]
    except Exception:  # noqa: BLE001 - the Pillow path decides (and raises the right error)
        return None
    flag = _CV_REDUCED.get(factor)
    if flag is None:
        return None
    out = cv2.imdecode(np.frombuffer(data, np.uint8), getattr(cv2, flag) | cv2.IMREAD_IGNORE_ORIENTATION)
    if out is None or out.ndim != 3 or (out.shape[1], out.shape[0]) != img.size:
        return None
    return out, max(w, h)


def reduction_factor(w: int, h: int, work_max_pixels: int | None) -> int:
    """The smallest integer factor that brings ``w x h`` within ``work_max_pixels`` (1: none needed)."""
    if not work_max_pixels or w * h <= work_max_pixels:
        return 1
    k = 2
    while (w // k) * (h // k) > work_max_pixels:
        k += 1
    return k


def _reduce(img: Image.Image, factor: int) -> Image.Image:
    info = dict(img.info)
    try:
        out = img.reduce(factor)
    except ValueError:            # modes reduce() does not handle (P, 1, I;16 ...)
        out = img.convert("RGBA" if "transparency" in img.info or img.mode in ("PA", "LA") else "RGB").reduce(factor)
    out.info.update(info)         # keep EXIF (orientation) for exif_transpose
    return out


def _check_dimensions(w: int, h: int, limits: ImageLimits) -> None:
    if w * h > limits.max_pixels or max(w, h) > limits.max_side:
        raise ImageTooLargeError(
            f"image is {w}x{h} ({w * h / 1e6:.1f} MP), over the {limits.max_pixels / 1e6:.0f} MP / "
            f"{limits.max_side}px limit",
            details={"width": w, "height": h, "max_pixels": limits.max_pixels},
        )
    if min(w, h) < limits.min_side:
        raise BadImageError(f"image is {w}x{h}, too small to hold a face", code="image_too_small")


def _pil_to_bgr(img: Image.Image) -> np.ndarray:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode in ("I;16", "I;16B", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        arr = (255 * (arr - arr.min()) / max(np.ptp(arr), 1e-9)).astype(np.uint8)
        img = Image.fromarray(arr)
    import cv2

    rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)  # no needless copy
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)   # a contiguous copy, several times faster than [..., ::-1]


def _normalise_array(arr: np.ndarray) -> np.ndarray:
    if arr.dtype != np.uint8:
        raise BadImageError(f"image array must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise BadImageError(f"image array must be HxW, HxWx3 or HxWx4, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def encode_jpeg(img_bgr: np.ndarray, quality: int = 90) -> bytes:
    """Encode a BGR array as JPEG bytes (used for chip-size simulation and retention)."""
    import cv2

    ok, buf = cv2.imencode(".jpg", img_bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise BadImageError("could not encode image as JPEG")
    return buf.tobytes()
