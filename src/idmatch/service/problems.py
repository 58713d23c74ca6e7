"""RFC 9457 problem details. Every error body has a stable ``code`` clients switch on."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import IdmatchError

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://idmatch.dev/problems/"
MEDIA_TYPE = "application/problem+json"

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
               409: "conflict", 410: "gone", 413: "request_too_large", 415: "unsupported_media_type",
               422: "validation_error", 429: "rate_limited", 500: "internal_error", 501: "not_implemented",
               503: "not_ready"}


class ApiError(IdmatchError):
    """An error raised by the service layer itself, with an explicit status."""

    def __init__(self, status: int, code: str, message: str, *, details: dict | None = None, headers: dict | None = None):
        super().__init__(message, code=code, details=details)
        self.http_status = status
        self.headers = headers or {}


def problem(status: int, code: str, detail: str, *, instance: str | None = None, extra: dict | None = None,
            headers: dict | None = None) -> JSONResponse:
    body = {"type": PROBLEM_BASE + code, "title": code.replace("_", " "), "status": status, "detail": detail, "code": code}
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(IdmatchError)
    async def _idmatch(request: Request, exc: IdmatchError):
        extra = {"details": exc.details} if exc.details else None
        return problem(exc.http_status, exc.code, exc.message, instance=request.url.path, extra=extra,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail), instance=request.url.path, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
        return problem(422, "validation_error", "the request does not match the schema", instance=request.url.path,
                       extra={"errors": errors})

    from sqlalchemy.exc import DataError

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError):
        # the database refused a value (PostgreSQL: NUL in text, out-of-range number, bad encoding): the
        # request's fault, after the boundary validators missed it — a 422, and the keep-alive survives
        log.warning("database refused a value on %s %s: %s", request.method, request.url.path,
                    type(getattr(exc, "orig", exc)).__name__)
        return problem(422, "invalid_value", "a value in the request cannot be stored", instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "internal error; see the server log", instance=request.url.path)
