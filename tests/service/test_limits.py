"""Issue 14, finding 1: request bodies are bounded while they stream and nobody without a key gets one
byte of theirs read; slow uploads and slow headers time out. The app is driven at the ASGI level with a
``receive`` that counts what was pulled, so "not read" is measured, not assumed (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import threading
import time

import pytest

CHUNK = b"x" * (1024 * 1024)
SID = "00000000-0000-0000-0000-000000000000"


class Body:
    """An endless (or ``total``-byte) chunked body that records how much of it the app pulled."""

    def __init__(self, total: int | None = None, delay: float = 0.0, prefix: bytes = b""):
        self.total, self.delay, self.prefix = total, delay, prefix
        self.sent = 0
        self.calls = 0

    async def receive(self):
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.calls == 1 and self.prefix:
            self.sent += len(self.prefix)
            return {"type": "http.request", "body": self.prefix, "more_body": True}
        if self.total is not None and self.sent >= self.total:
            await asyncio.sleep(3600)          # a client that stops sending
        n = len(CHUNK) if self.total is None else min(len(CHUNK), self.total - self.sent)
        self.sent += n
        more = self.total is None or self.sent < self.total
        return {"type": "http.request", "body": CHUNK[:n], "more_body": more}


def call(app, method: str, path: str, headers: dict, body: Body, query: bytes = b"") -> tuple[int, dict, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": query,
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": {}}
    out: dict = {"status": None, "headers": {}, "body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
            out["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    # in a thread of its own: a browser test earlier in the session (Playwright's sync API) leaves an
    # event loop running in this thread, where asyncio.run() refuses to start
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(app(scope, body.receive, send), 60)).result()
    return out["status"], out["headers"], out["body"]


MULTIPART = {"Content-Type": "multipart/form-data; boundary=xyz", "Transfer-Encoding": "chunked"}
# a well-formed start of a file part, then its endless content
PART = b'--xyz\r\nContent-Disposition: form-data; name="frames"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
JSON = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}


def _code(body: bytes) -> str:
    return json.loads(body)["code"]


@pytest.mark.parametrize("path", [f"/v1/sessions/{SID}/live", "/v1/verify", "/v1/sessions", "/nowhere"])
@pytest.mark.parametrize("auth", [None, "Bearer idm_000000000000_wrong"])
def test_body_without_a_valid_key_is_not_read(svc, path, auth):
    body = Body()                                         # endless chunked upload
    headers = dict(MULTIPART if path != "/v1/sessions" else JSON)
    if auth:
        headers["Authorization"] = auth
    status, h, raw = call(svc.app, "POST", path, headers, body)
    assert status == 401 and _code(raw) == "unauthorized" and h["www-authenticate"] == "Bearer"
    assert h["content-type"].startswith("application/problem+json") and h["connection"] == "close"
    assert body.calls == 0 and body.sent == 0             # not one chunk pulled


def test_chunked_multipart_over_the_limit_with_a_key_is_413(svc):
    body = Body(prefix=PART)
    status, h, raw = call(svc.app, "POST", f"/v1/sessions/{SID}/live", {**MULTIPART, **svc.h("clerk")}, body)
    assert status == 413 and _code(raw) == "request_too_large" and h["connection"] == "close"
    limit = svc.settings.max_request_bytes
    assert limit < body.sent <= limit + len(CHUNK)         # stopped at the limit, not read to the end


def test_chunked_json_over_its_limit_is_413(svc):
    body = Body()
    status, _, raw = call(svc.app, "POST", "/v1/sessions", {**JSON, **svc.h("clerk")}, body)
    assert status == 413 and _code(raw) == "request_too_large"
    assert body.sent <= 2 * len(CHUNK)                     # JSON limit: 1 MiB


def test_declared_length_over_the_limit_is_413_unread(svc):
    body = Body()
    headers = {"Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(10 ** 12), **svc.h("clerk")}
    status, _, raw = call(svc.app, "PUT", f"/v1/sessions/{SID}/portrait", headers, body)
    assert status == 413 and _code(raw) == "request_too_large" and body.calls == 0
    status, _, raw = call(svc.app, "POST", "/v1/sessions", {"Content-Type": "application/json",
                                                             "Content-Length": str(2 * 1024 * 1024), **svc.h("clerk")}, Body())
    assert status == 413


def test_unread_body_of_a_keyed_request_closes_the_connection(svc):
    body = Body()                                          # endless, to a path that never reads it
    status, h, _ = call(svc.app, "POST", "/v1/no-such-route", {**JSON, **svc.h("clerk")}, body)
    assert status in (404, 405) and h["connection"] == "close" and body.sent <= len(CHUNK)


def test_small_chunked_json_with_a_key_still_works(svc):
    from .conftest import new_number

    doc = json.dumps({"document": {"type": "resident_id", "number": new_number()},
                      "consent": {"text_version": "v1", "given_at": "2026-01-01T10:00:00Z", "channel": "store"}}).encode()

    class One(Body):
        async def receive(self):
            self.calls += 1
            if self.calls == 1:
                return {"type": "http.request", "body": doc, "more_body": False}
            await asyncio.sleep(3600)

    status, h, raw = call(svc.app, "POST", "/v1/sessions", {**JSON, **svc.h("clerk")}, One())
    assert status == 201, raw
    assert "connection" not in h                           # a fully read request keeps its connection


def test_slow_upload_times_out_408(svc):
    from idmatch.service.limits import RequestGuard

    svc.client.get("/healthz")                             # the middleware stack is built on first use
    guard, app = None, svc.app.middleware_stack
    while guard is None and app is not None:
        guard = app if isinstance(app, RequestGuard) else None
        app = getattr(app, "app", None)
    assert guard is not None
    before, guard.body_timeout = guard.body_timeout, 0.3
    try:
        body = Body(delay=0.2, prefix=PART)                # 1 MiB every 0.2 s, for ever
        t0 = time.monotonic()
        status, _, raw = call(svc.app, "POST", f"/v1/sessions/{SID}/live", {**MULTIPART, **svc.h("clerk")}, body)
    finally:
        guard.body_timeout = before
    assert status == 408 and _code(raw) == "request_timeout", raw
    assert time.monotonic() - t0 < 5


def test_nul_in_path_or_query_is_422(svc):
    r = svc.client.get("/v1/audit/events?session_id=a%00b", headers=svc.h("auditor"))
    assert r.status_code == 422 and r.json()["code"] == "validation_error"
    r = svc.client.get("/v1/sessions/abc%00def", headers=svc.h("clerk"))
    assert r.status_code == 422 and r.json()["code"] == "validation_error"


# -- against a real server on 127.0.0.1 ---------------------------------------------------------------
@pytest.fixture(scope="module")
def live_server(request, tmp_path_factory, engine, images):
    import uvicorn

    from idmatch.service.limits import guarded_h11_protocol

    from .conftest import make_svc

    svc = make_svc("sqlite", request, tmp_path_factory.mktemp("live"), engine, images)
    config = uvicorn.Config(svc.app, host="127.0.0.1", port=0, log_level="warning", timeout_keep_alive=2,
                            http=guarded_h11_protocol(0.5), lifespan="off")
    server = uvicorn.Server(config)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield svc, port
    server.should_exit = True
    t.join(10)
    svc.store.close()


def _read_until_closed(s: socket.socket, limit_s: float) -> tuple[bytes, float]:
    s.settimeout(limit_s)
    t0, data = time.monotonic(), b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (socket.timeout, ConnectionResetError):
        pass
    return data, time.monotonic() - t0


def test_trickled_headers_are_cut_off(live_server):
    _, port = live_server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        closed = False
        for _ in range(20):                                # a header line every 0.2 s, never the blank line
            time.sleep(0.2)
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
        if not closed:
            data, _ = _read_until_closed(s, 2)
            closed = data == b""
        assert closed and time.monotonic() - t0 < 3


def _get(s: socket.socket) -> bytes:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        b = s.recv(65536)
        if not b:
            break
        data += b
    return data


def test_idle_keep_alive_is_not_cut_by_the_header_deadline(live_server):
    """Header deadline 0.5 s, keep-alive 2 s: a connection idle for 1 s between requests is reused, and
    the second request's trickled headers are still cut off."""
    _, port = live_server
    with socket.create_connection(("127.0.0.1", port)) as s:
        assert _get(s).startswith(b"HTTP/1.1 200")
        time.sleep(1.0)
        assert _get(s).startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(0.3)
        s.sendall(b"X-Slow: 1\r\n")
        data, waited = _read_until_closed(s, 3)
        assert data == b"" and waited < 2


def test_chunked_upload_without_key_is_answered_while_still_sending(live_server):
    svc, port = live_server
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")            # headers only: no body byte sent yet
        t0 = time.monotonic()
        data, _ = _read_until_closed(s, 5)                  # answered, and the server closes: no draining
        closed_after = time.monotonic() - t0
        try:                                                # and it takes no more of the body
            for _ in range(50):
                s.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            refused = False
        except OSError:
            refused = True
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 401") and b"unauthorized" in body and closed_after < 4 and refused
    r = svc.client.get("/healthz")                          # and the service is fine
    assert r.status_code == 200
