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


PROBLEM_SCHEMA = {
    "title": "Problem", "type": "object", "required": ["type", "title", "status", "detail", "code"],
    "description": "RFC 9457 problem details; switch on `code`",
    "properties": {
        "type": {"type": "string", "format": "uri"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "code": {"type": "string", "description": "stable, machine-readable"},
        "instance": {"type": "string"}, "details": {"type": "object"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "validation_error: what failed"},
    },
}

_DESCRIPTIONS = {
    400: "the body cannot be parsed at all (`bad_request`: not JSON / not decodable form data)",
    401: "no, unknown or revoked API key (`unauthorized`); sent before any request body is read",
    403: "the key's role may not call this endpoint (`forbidden`)",
    404: "no such session / key (`session_not_found` -- also another store scope's session to a clerk key, "
         "`key_not_found`, `not_found`)",
    408: "the request body did not arrive in time (`request_timeout`)",
    409: "the state does not allow it (`session_decided`, `portrait_missing`, `not_in_review`, ...)",
    410: "the session or its challenge expired (`session_expired`, `challenge_expired`)",
    413: "body, image or frame count over a limit (`request_too_large`, `image_too_large`, `too_many_frames`)",
    415: "not multipart/form-data, or an upload that is not an image type (`unsupported_media_type`)",
    422: "the request does not validate (`validation_error`, `bad_image`, `no_face`, `challenge_mismatch`, "
         "`calibration_insufficient_data`, `fmr_out_of_range`, `scope_not_allowed`, `bad_scope`, ...)",
    429: "rate limit for this key (`rate_limited`, with Retry-After)",
    503: "image analysis at capacity (`server_busy`, with Retry-After)",
}

#: every /v1 operation (and /metrics unless IDMATCH_METRICS_PUBLIC=1) takes an API key as a bearer token
SECURITY_SCHEMES = {"apiKey": {"type": "http", "scheme": "bearer",
                               "description": "an API key (`Authorization: Bearer <secret>`); its role decides the endpoints"}}
#: problem statuses the path alone does not imply: an id in the body that may name nothing
_EXTRA_STATUSES = {("/v1/erasures", "post"): {404}}


# form fields the handlers require (they are declared optional so that a missing one is the
# `missing_image` / `challenge_mismatch` problem rather than a generic validation error)
REQUIRED_FORM_FIELDS = ("image", "frames", "nonce", "id_image", "live_image")


def _mark_required_uploads(spec: dict, media: dict | None) -> None:
    ref = (media or {}).get("schema", {}).get("$ref", "")
    schema = spec.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1]) if ref else None
    if not schema:
        return
    need = [f for f in REQUIRED_FORM_FIELDS if f in schema.get("properties", {})]
    if need:
        schema["required"] = sorted(set(schema.get("required", [])) | set(need))


def _document_problems(app: FastAPI) -> None:
    """Add the problem responses every /v1 operation can give to the OpenAPI document."""
    base_openapi = app.openapi

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        spec = base_openapi()
        spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        spec["components"]["securitySchemes"] = SECURITY_SCHEMES
        ref = {"$ref": "#/components/schemas/Problem"}
        _document_ops_routes(spec, ref)
        for path, ops in spec.get("paths", {}).items():
            if not path.startswith("/v1/"):
                continue
            for method, op in ops.items():
                op["security"] = [{"apiKey": []}]
                body = op.get("requestBody", {}).get("content", {})
                statuses = {401, 403, 422, 429} | _EXTRA_STATUSES.get((path, method), set())
                if "{" in path:
                    statuses |= {404}
                if method in ("post", "put", "delete"):
                    statuses |= {409}
                if body:
                    statuses |= {400, 408, 413}
                if "multipart/form-data" in body:
                    statuses |= {415, 503}
                if path.startswith("/v1/sessions/"):
                    statuses |= {410}
                _mark_required_uploads(spec, body.get("multipart/form-data"))
                if "multipart/form-data" in body:
                    # the handlers need their upload fields: a request without a body is not valid (it is 415)
                    op["requestBody"]["required"] = True
                responses = op.setdefault("responses", {})
                for st in sorted(statuses):
                    responses[str(st)] = {"description": _DESCRIPTIONS[st],
                                          "content": {MEDIA_TYPE: {"schema": ref}}}
        app.openapi_schema = spec
        return spec

    def _document_ops_routes(spec: dict, ref: dict) -> None:
        """/readyz answers 503 `not_ready`; /metrics is Prometheus text, behind a key unless made public."""
        paths = spec.get("paths", {})
        if "get" in paths.get("/readyz", {}):
            paths["/readyz"]["get"]["responses"]["503"] = {
                "description": "not ready (`not_ready`, with the failing `checks`)", "content": {MEDIA_TYPE: {"schema": ref}}}
        op = paths.get("/metrics", {}).get("get")
        if op is None:
            return
        op["responses"]["200"] = {"description": "Prometheus text exposition format",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}
        if not getattr(app.state.settings, "metrics_public", False):
            op["security"] = [{"apiKey": []}]
            for st in (401, 403, 429):
                op["responses"][str(st)] = {"description": _DESCRIPTIONS[st], "content": {MEDIA_TYPE: {"schema": ref}}}

    app.openapi = openapi  # type: ignore[method-assign]


def allowed_methods(app, scope) -> list[str]:
    """Every method served at this path, for `Allow` on a 405. Starlette's 405 names only the first route
    that matched the path, but RFC 9110 wants all of them (GET and POST /v1/keys are two routes). Read from
    the OpenAPI paths; a fixed path is its own resource, so /v1/sessions/from-document is POST only although
    GET /v1/sessions/{sid} would take it as a session id (and answer 404)."""
    from starlette.routing import Match, compile_path

    path = scope.get("path", "")
    static: set[str] = set()
    templated: set[str] = set()
    for template, ops in app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(path):
            (templated if "{" in template else static).update(m.upper() for m in ops)
    if static or templated:
        return sorted(static or templated)
    # a route outside the OpenAPI document (the web pages): whichever routes take the path
    return sorted(m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
                  if any(r.matches({**scope, "method": m})[0] == Match.FULL for r in app.router.routes))


def install(app: FastAPI) -> None:
    _document_problems(app)

    @app.exception_handler(IdmatchError)
    async def _idmatch(request: Request, exc: IdmatchError):
        extra = {"details": exc.details} if exc.details else None
        return problem(exc.http_status, exc.code, exc.message, instance=request.url.path, extra=extra,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        return problem(exc.status_code, code, str(exc.detail), instance=request.url.path, headers=headers or None)

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
