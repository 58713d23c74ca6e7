"""Decoding untrusted bytes: formats, orientation, alpha, and every way an upload can be bad."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from idmatch.errors import BadImageError, ImageTooLargeError
from idmatch.imaging import DEFAULT_LIMITS, ImageLimits, _decode_jpeg_cv, _decode_pil, _pil_to_bgr, decode_image

LFW_IMG = "verification/lfw_deepfunneled/images/Abel_Pacheco/Abel_Pacheco_0001.jpg"


def _reencode(path, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    Image.open(path).save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP"])
def test_decodes_common_formats_to_bgr(shared_data, fmt):
    img = decode_image(_reencode(shared_data / LFW_IMG, fmt))
    assert img.shape == (250, 250, 3) and img.dtype == np.uint8
    ref = np.asarray(Image.open(shared_data / LFW_IMG).convert("RGB"))[:, :, ::-1]
    # lossless formats reproduce the pixels exactly (BGR order); lossy ones stay close
    err = np.abs(img.astype(int) - ref.astype(int)).mean()
    assert err == 0 if fmt in ("PNG", "BMP") else err < 6


def test_rgba_png_is_composited(shared_data):
    img = decode_image(shared_data / "quality/face_recognition/32bit.png")
    assert img.ndim == 3 and img.shape[2] == 3


def test_grayscale_becomes_three_channels(shared_data):
    buf = io.BytesIO()
    Image.open(shared_data / LFW_IMG).convert("L").save(buf, format="PNG")
    img = decode_image(buf.getvalue())
    assert img.shape == (250, 250, 3)
    assert (img[:, :, 0] == img[:, :, 2]).all()


def test_exif_orientation_is_applied():
    arr = np.zeros((40, 80, 3), dtype=np.uint8)
    arr[:, :40] = 255  # left half white
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    buf = io.BytesIO()
    im.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    img = decode_image(buf.getvalue())
    assert img.shape[:2] == (80, 40)  # portrait after transpose
    assert img[:20].mean() > 200 and img[60:].mean() < 50  # white half now on top


@pytest.mark.parametrize("side", [None, 320, 160, 100])
def test_jpeg_fast_path_gives_pillows_pixels(shared_data, side):
    """The OpenCV decode of a plain colour JPEG (liveness frames, most uploads) is the Pillow path's
    raster, bit for bit, at full size and at each DCT scale ``decode_work`` picks."""
    import cv2

    frame = cv2.resize(cv2.imread(str(shared_data / LFW_IMG)), (640, 480))
    for data in ((shared_data / LFW_IMG).read_bytes(), cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()):
        fast = _decode_jpeg_cv(data, DEFAULT_LIMITS, draft_side=side)
        assert fast is not None
        pil, full_side = _decode_pil(data, DEFAULT_LIMITS, draft_side=side)
        assert fast[1] == full_side and np.array_equal(fast[0], _pil_to_bgr(pil))


def test_jpeg_fast_path_leaves_the_odd_cases_to_pillow(shared_data):
    data = (shared_data / LFW_IMG).read_bytes()
    grey = io.BytesIO()
    Image.open(shared_data / LFW_IMG).convert("L").save(grey, format="JPEG")
    rotated = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(shared_data / LFW_IMG).save(rotated, format="JPEG", exif=exif.tobytes())
    for odd in (data[: len(data) // 2], grey.getvalue(), rotated.getvalue(), _reencode(shared_data / LFW_IMG, "PNG")):
        assert _decode_jpeg_cv(odd, DEFAULT_LIMITS) is None
    assert _decode_jpeg_cv(data, ImageLimits(work_max_pixels=10_000)) is None   # Pillow reduces it


def test_truncated_jpeg_is_bad_image(shared_data):
    data = (shared_data / LFW_IMG).read_bytes()
    with pytest.raises(BadImageError) as ei:
        decode_image(data[: len(data) // 2])
    assert ei.value.code == "bad_image"


def test_not_an_image(shared_data):
    with pytest.raises(BadImageError) as ei:
        decode_image((shared_data / "SOURCES.md").read_bytes())
    assert ei.value.code == "bad_image"


def test_empty_upload():
    with pytest.raises(BadImageError) as ei:
        decode_image(b"")
    assert ei.value.code == "empty_image"


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_huge_declared_dimensions_refused_before_decoding():
    with pytest.raises(ImageTooLargeError) as ei:
        decode_image(_png_header_only(50_000, 50_000))
    assert ei.value.code == "image_too_large"
    assert "pixels" in ei.value.message


def test_over_our_pixel_limit_reports_dimensions():
    with pytest.raises(ImageTooLargeError) as ei:
        decode_image(_png_header_only(9000, 6000))  # 54 MP: under PIL's bomb guard, over ours
    assert ei.value.details["width"] == 9000 and ei.value.details["height"] == 6000


def test_byte_limit(shared_data):
    with pytest.raises(ImageTooLargeError):
        decode_image(shared_data / LFW_IMG, ImageLimits(max_bytes=1000))


def test_missing_file():
    with pytest.raises(BadImageError) as ei:
        decode_image("/nonexistent/face.jpg")
    assert ei.value.code == "file_not_found"


def test_unsupported_format_refused():
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, format="GIF")
    with pytest.raises(BadImageError) as ei:
        decode_image(buf.getvalue())
    assert ei.value.code == "unsupported_format"
