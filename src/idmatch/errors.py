"""One exception family with stable, machine-readable error codes.

The CLI maps every :class:`IdmatchError` to exit code 2; the service maps it to an
RFC 9457 problem document whose ``code`` member is :attr:`IdmatchError.code`.
"""
from __future__ import annotations


class IdmatchError(Exception):
    """Base of every error idmatch raises on purpose.

    ``code`` is stable (clients switch on it); ``message`` is for people;
    ``http_status`` is what the service answers with.
    """

    code: str = "idmatch_error"
    http_status: int = 400

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, **({"details": self.details} if self.details else {})}


class BadImageError(IdmatchError):
    """Bytes that are not a decodable image (corrupt, truncated, wrong type, empty)."""

    code = "bad_image"
    http_status = 422


class ImageTooLargeError(IdmatchError):
    """An upload over the byte or pixel limit (decompression-bomb guard)."""

    code = "image_too_large"
    http_status = 413


class NoFaceError(IdmatchError):
    code = "no_face"
    http_status = 422


class QualityTooLowError(IdmatchError):
    code = "quality_too_low"
    http_status = 422


class ModelNotFoundError(IdmatchError):
    """A model weight file is missing: names the package that provides it. Never downloads."""

    code = "model_not_found"
    http_status = 500


class CalibrationError(IdmatchError):
    code = "calibration_error"
    http_status = 500


class CalibrationInsufficientDataError(CalibrationError):
    """A target FMR the calibration data cannot resolve (fewer than 10/FMR impostor comparisons in a
    population that decides): refused rather than extrapolated. A client error: ask for a looser FMR."""

    code = "calibration_insufficient_data"
    http_status = 422


class PolicyValueError(IdmatchError):
    """A policy value the service cannot run with (e.g. an FMR outside the calibration's range)."""

    code = "policy_invalid"
    http_status = 422


class ConfigError(IdmatchError):
    code = "config_error"
    http_status = 500
