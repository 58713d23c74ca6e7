"""Reading image uploads with byte limits and content-type checks (the pixel limit is in decoding)."""
from __future__ import annotations

from fastapi import Request, UploadFile

from .problems import ApiError

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff"})


def require_multipart(request: Request) -> None:
    ct = request.headers.get("content-type", "")
    if not ct.lower().startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", f"send images as multipart/form-data, not {ct or 'no content type'}")


def read_image(upload: UploadFile | None, field: str, max_bytes: int) -> bytes:
    if upload is None:
        raise ApiError(422, "missing_image", f"form field {field!r} with an image is required")
    ct = (upload.content_type or "").split(";")[0].strip().lower()
    if ct not in IMAGE_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       f"{field}: content type {ct or 'none'!r} is not an image type ({', '.join(sorted(IMAGE_TYPES))})")
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "image_too_large", f"{field}: over the {max_bytes}-byte upload limit",
                       details={"limit": max_bytes})
    if not data:
        raise ApiError(422, "empty_image", f"{field}: the upload is empty (0 bytes)")
    return data
