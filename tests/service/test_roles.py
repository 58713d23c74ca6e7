"""Role matrix in the negative: every role against every endpoint it must not reach gets 403 (and
no key gets 401) — on SQLite and PostgreSQL. The table must list every /v1 route the app serves."""
from __future__ import annotations

import pytest

ROLES = ("clerk", "reviewer", "auditor", "admin")
SID = "00000000-0000-0000-0000-000000000000"

# (method, path, roles allowed)
ENDPOINTS = [
    ("POST", "/v1/sessions", {"clerk"}),
    ("GET", "/v1/sessions/{sid}", {"clerk", "reviewer"}),
    ("PUT", "/v1/sessions/{sid}/portrait", {"clerk"}),
    ("POST", "/v1/sessions/{sid}/live", {"clerk"}),
    ("POST", "/v1/sessions/{sid}/challenge", {"clerk"}),   # renew a lapsing challenge (issue 12)
    ("GET", "/v1/review", {"reviewer"}),
    ("POST", "/v1/review/{sid}", {"reviewer"}),
    ("GET", "/v1/review/{sid}/images", {"reviewer"}),   # review desk: retained images (issue 8, idmatch.web)
    ("POST", "/v1/verify", {"clerk"}),
    ("POST", "/v1/quality", {"clerk"}),
    ("POST", "/v1/liveness", {"clerk"}),
    ("POST", "/v1/frame-check", {"clerk"}),      # web terminal pacing (issue 8, idmatch.web)
    ("POST", "/v1/keys", {"admin"}),
    ("GET", "/v1/keys", {"admin"}),
    ("DELETE", "/v1/keys/{kid}", {"admin"}),
    ("GET", "/v1/policy", {"admin"}),
    ("PUT", "/v1/policy", {"admin"}),
    ("POST", "/v1/erasures", {"admin"}),
    ("POST", "/v1/sessions/{sid}/document", {"clerk"}),       # document input (service/routes/documents.py)
    ("POST", "/v1/sessions/from-document", {"clerk"}),
    ("POST", "/v1/subject-requests/lines", {"admin"}),   # data-subject request (service/routes/subjects.py)
    ("GET", "/v1/audit/events", {"auditor"}),
    ("GET", "/v1/audit/verify", {"auditor"}),
]

FORBIDDEN = [(m, p, role) for m, p, allowed in ENDPOINTS for role in ROLES if role not in allowed]


def test_table_covers_every_route(svc):
    paths = svc.app.openapi()["paths"]
    served = {(m.upper(), p) for p, ops in paths.items() if p.startswith("/v1") for m in ops}
    assert served == {(m, p) for m, p, _ in ENDPOINTS}


def _call(svc, method, path, headers):
    url = path.format(sid=SID, kid="key_000000000000")
    kw: dict = {"headers": headers}
    if method in ("POST", "PUT"):
        if path.endswith(("portrait", "live", "verify", "quality", "liveness", "frame-check")):
            kw["files"] = {"image": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")}
        else:
            kw["json"] = {}
    return svc.client.request(method, url, **kw)


@pytest.mark.parametrize("method,path,role", FORBIDDEN, ids=[f"{r}-{m}-{p}" for m, p, r in FORBIDDEN])
def test_forbidden_role_gets_403(svc, method, path, role):
    r = _call(svc, method, path, svc.h(role))
    assert r.status_code == 403, (role, method, path, r.text)
    assert r.json()["code"] == "forbidden"


@pytest.mark.parametrize("method,path", [(m, p) for m, p, _ in ENDPOINTS])
def test_no_key_gets_401(svc, method, path):
    r = _call(svc, method, path, {})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


BODY_ENDPOINTS = [(m, p) for m, p, _ in ENDPOINTS if m in ("POST", "PUT")]
# a request that announces no body (no Content-Length, no Transfer-Encoding) but a body type the parser cannot
# use: FastAPI parses the body before it resolves `require`, so this was 400 "Missing boundary" without a key
UNPARSEABLE_TYPES = ["multipart/form-data", "multipart/form-data; boundary=", "application/x-www-form-urlencoded",
                     "application/json"]


@pytest.mark.parametrize("ctype", UNPARSEABLE_TYPES)
@pytest.mark.parametrize("method,path", BODY_ENDPOINTS)
def test_no_key_401_before_body_parsing(svc, method, path, ctype):
    """Issue 14: without a valid key the answer is 401 before any body is read or parsed -- also when the
    request announces no body at all (found by the OpenAPI fuzz job: 400 on the multipart operations)."""
    url = path.format(sid=SID, kid="key_000000000000")
    for headers in ({}, {"Authorization": "Bearer not-a-key"}):
        r = svc.client.request(method, url, headers={**headers, "Content-Type": ctype})
        assert r.status_code == 401, (method, path, ctype, headers, r.text)
        assert r.json()["code"] == "unauthorized" and r.headers["www-authenticate"] == "Bearer"


FORBIDDEN_BODY = [(m, p, role) for m, p, role in FORBIDDEN if m in ("POST", "PUT")]


@pytest.mark.parametrize("method,path,role", FORBIDDEN_BODY, ids=[f"{r}-{m}-{p}" for m, p, r in FORBIDDEN_BODY])
def test_wrong_role_403_before_body_parsing(svc, method, path, role):
    """A valid key of the wrong role with a body the parser cannot use: 403 (it may not call the route),
    not 400/422 about the body -- the role is checked before the body is parsed."""
    url = path.format(sid=SID, kid="key_000000000000")
    r = svc.client.request(method, url, headers={**svc.h(role), "Content-Type": "multipart/form-data"})
    assert r.status_code == 403, (role, method, path, r.text)
    assert r.json()["code"] == "forbidden"


def test_every_body_route_checks_its_key_first(svc):
    """Each /v1 route that takes a body uses KeyBeforeBodyRoute (a router added without it would parse first)."""
    from fastapi.routing import APIRoute

    from idmatch.service.auth import KeyBeforeBodyRoute, _requires_key
    from idmatch.service.routes import ROUTERS
    from idmatch.web.api import router as web_router

    body_routes = [r for router in (*ROUTERS, web_router) for r in router.routes
                   if isinstance(r, APIRoute) and r.body_field is not None]
    assert len(body_routes) > 10
    plain = [r.path for r in body_routes if not isinstance(r, KeyBeforeBodyRoute) or not _requires_key(r.dependant)]
    assert not plain, plain
