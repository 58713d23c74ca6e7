"""Request guards that run before FastAPI reads anything: a pure ASGI middleware.

* **Authentication before the body.** A request that carries a body (any ``Content-Length`` > 0, or
  ``Transfer-Encoding``) must present a valid, unrevoked API key *before* one byte of it is read:
  without one the answer is 401 and the body is never received, parsed or spooled to disk, and the
  connection is closed. The route's ``require`` dependency still checks the key again (revoked
  meanwhile?), its role and the rate limit.
* **Byte-counted body limits, while streaming.** ``Content-Length`` over the limit → 413 at once;
  a chunked (or lying) body is counted as it arrives and stopped at the limit with 413
  ``request_too_large`` — the same for every content type. Multipart uploads get
  ``max_request_bytes``; every other body (JSON) a much smaller ``max_json_bytes``, since a
  parsed JSON document costs many times its size in memory.
* **A body-read deadline.** The whole body must arrive within ``body_timeout_s`` of the request's
  start (a slow-upload / trickle guard) → 408 ``request_timeout``.
* **No NUL characters** in the path or query string (PostgreSQL cannot store them in text) → 422.

Header and idle timeouts are the server's: see :class:`GuardedH11Protocol`.
"""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import unquote_to_bytes

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..settings import Settings
from .problems import problem

log = logging.getLogger(__name__)

# an answer sent before (or instead of) reading the whole body closes the connection: otherwise the server
# keeps receiving and discarding the rest of the upload to reuse the connection
CLOSE = {"Connection": "close"}
SCOPE_KEY = "idmatch.api_key"        # the ApiKey row the guard found (for logging; auth.require looks up again)

DEFAULT_MAX_JSON_BYTES = Settings.model_fields["max_json_bytes"].default
DEFAULT_BODY_TIMEOUT_S = Settings.model_fields["body_timeout_s"].default


def secret_from_headers(headers) -> str | None:
    h = headers.get("authorization", "")
    if h.lower().startswith("bearer "):
        return h[7:].strip() or None
    return headers.get("x-api-key") or None


class BodyLimitExceeded(StarletteHTTPException):
    """Raised from ``receive`` when the streamed body passes the limit; FastAPI re-raises HTTP
    exceptions from body parsing, so it reaches the problem handler as 413 ``request_too_large``."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body over {limit} bytes")
        self.limit = limit


class BodyTimeout(StarletteHTTPException):
    def __init__(self, seconds: float):
        super().__init__(408, f"the request body did not arrive within {seconds:g} s")


class RequestGuard:
    def __init__(self, app, *, store, max_body_bytes: int, max_json_bytes: int | None = None,
                 body_timeout_s: float | None = None):
        self.app = app
        self.store = store
        self.max_body = int(max_body_bytes)
        self.max_json = int(max_json_bytes if max_json_bytes is not None else DEFAULT_MAX_JSON_BYTES)
        self.body_timeout = float(body_timeout_s if body_timeout_s is not None else DEFAULT_BODY_TIMEOUT_S)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        qs = scope.get("query_string", b"") or b""
        if "\x00" in path or b"\x00" in unquote_to_bytes(qs):
            return await problem(422, "validation_error", "NUL characters are not accepted in the path or query",
                                 instance=path)(scope, receive, send)
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        has_body = "transfer-encoding" in headers or (length is not None and length.strip() not in ("", "0"))
        if not has_body:
            return await self.app(scope, receive, send)

        # 1. who is calling — before one byte of the body is read
        secret = secret_from_headers(headers)
        if not secret:
            return await self._unauthorized("an API key is required (Authorization: Bearer <key>)", scope, receive, send)
        key = await run_in_threadpool(self.store.lookup_key, secret)
        if key is None:
            return await self._unauthorized("unknown or revoked API key", scope, receive, send)
        scope.setdefault("state", {})[SCOPE_KEY] = key

        # 2. how much may come
        ctype = headers.get("content-type", "").lower()
        limit = self.max_body if ctype.startswith("multipart/form-data") else self.max_json
        if length is not None and length.strip().isdigit() and int(length) > limit:
            return await problem(413, "request_too_large", f"request body over {limit} bytes", instance=path,
                                 extra={"details": {"limit": limit}}, headers=CLOSE)(scope, receive, send)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        state = {"received": 0, "done": False, "started": False, "exceeded": None}

        async def guarded_receive():
            if state["done"]:
                return await receive()           # after the body: disconnect listening, untouched
            remaining = deadline - loop.time()
            if remaining <= 0:
                state["exceeded"] = BodyTimeout(self.body_timeout)
                raise state["exceeded"]
            try:
                message = await asyncio.wait_for(receive(), remaining)
            except asyncio.TimeoutError:
                state["exceeded"] = BodyTimeout(self.body_timeout)
                raise state["exceeded"] from None
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["exceeded"] = BodyLimitExceeded(limit)
                    raise state["exceeded"]
                if not message.get("more_body", False):
                    state["done"] = True
            else:
                state["done"] = True
            return message

        async def guarded_send(message):
            if message["type"] == "http.response.start":
                state["started"] = True
                if state["exceeded"] is not None or not state["done"]:
                    # answered before the whole body was read (over a limit, or a route that never reads it,
                    # e.g. 404): the rest is not wanted, so close rather than let the server drain it
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except (BodyLimitExceeded, BodyTimeout) as exc:
            # raised where no problem handler caught it (outside FastAPI's body parsing)
            if state["started"]:
                return
            code = "request_too_large" if exc.status_code == 413 else "request_timeout"
            await problem(exc.status_code, code, str(exc.detail), instance=path, headers=CLOSE)(scope, receive, send)
        if state["exceeded"] is not None:
            log.warning("%s %s: %s after %d bytes", scope.get("method"), path, state["exceeded"].detail, state["received"])

    @staticmethod
    async def _unauthorized(detail: str, scope, receive, send):
        await problem(401, "unauthorized", detail, instance=scope.get("path"),
                      headers={"WWW-Authenticate": "Bearer", **CLOSE})(scope, receive, send)


def install(app, settings, store) -> None:
    """Register the guard (call where the old Content-Length middleware was: inside the metrics one)."""
    app.add_middleware(RequestGuard, store=store, max_body_bytes=settings.max_request_bytes,
                       max_json_bytes=settings.max_json_bytes, body_timeout_s=settings.body_timeout_s)


# -- server side: header and idle timeouts -----------------------------------------------------------
def guarded_h11_protocol(header_timeout_s: float | None = None):
    """uvicorn's h11 protocol with a deadline for the request *headers*: uvicorn arms its keep-alive
    timer only between requests and cancels it on the first byte, so a client that opens a connection
    and trickles a header line every few seconds holds it for ever. Here a new connection, and each
    request from its first byte, must deliver complete headers within ``header_timeout_s`` (default
    ``Settings.header_timeout_s``, ``IDMATCH_HEADER_TIMEOUT_S``, 10 s) or the connection is closed; idle keep-alive is unchanged. Without an argument the module-level class is returned (picklable,
    as uvicorn's multi-worker supervisor needs)."""
    if header_timeout_s is None:
        return GuardedH11Protocol
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout_s": float(header_timeout_s)})


try:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol
except ImportError:  # pragma: no cover - the service extra brings both
    H11Protocol = object  # type: ignore[assignment,misc]


class GuardedH11Protocol(H11Protocol):  # type: ignore[misc,valid-type]
    # None: Settings().header_timeout_s, read once per process when the first connection arrives (each uvicorn
    # worker builds its own from the environment and IDMATCH_CONFIG, as it builds its app)
    header_timeout_s: float | None = None
    _header_timer = None

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        if self.header_timeout_s is None:
            type(self).header_timeout_s = Settings().header_timeout_s
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_deadline)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("closing a connection that sent no complete request headers within %g s", self.header_timeout_s)
            self.transport.close()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # the first bytes of the next request on a kept-alive connection start its header clock (an idle
        # kept-alive connection is the keep-alive timer's business, not this one's)
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_timer()
