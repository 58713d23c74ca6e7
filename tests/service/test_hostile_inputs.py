"""A bounded, deterministic fuzz of every /v1 operation in the OpenAPI document (issue 14): hostile values
in every path parameter, query parameter, header, JSON field and form field, with the role that may
call the operation. Nothing may answer 5xx, and every error must be an RFC 9457 problem document
(SQLite and PostgreSQL). No new dependency: the values are a fixed list of what broke before —
NUL, non-ASCII, huge and negative numbers, wrong types, overflowing dates, oversized strings.
``PUT /v1/policy`` is fuzzed too (issue 14 #7: its values are validated)."""
from __future__ import annotations

import copy
import io
from urllib.parse import quote

import pytest
from PIL import Image

SKIP: set[tuple[str, str]] = set()

STRINGS = ["", "\x00", "a\x00b", "é", "\u202e\u0000", "x" * 5000, "../../etc/passwd", "' OR 1=1 --", "%00",
           "9999999999999999999", "-1", "1e309", "NaN", "null", "{}", "🙂" * 50]
VALUES = STRINGS + [0, -1, 2 ** 63, 2 ** 31, 10 ** 30, 1e-300, 1e308, -0.0, True, None, [], {}, ["x"], {"a": 1},
                    "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2026-02-30T00:00:00Z"]

FRAME_TIMES = ["[" * 5000, "[1e309]", "[NaN]", "[-1]", "[0, 0]", "[" + "0," * 20000 + "0]", '{"a": 1}', "[[1]]",
               '["x"]', "[1e-300]", "[true]", "[]", "[3601]"]

VALID_NUMBER = "11010519491231002X"      # GB 11643 sample number (passes the check character)

JSON_BODIES = {
    ("POST", "/v1/sessions"): {"document": {"type": "resident_id", "number": VALID_NUMBER},
                               "consent": {"text_version": "v1", "given_at": "2026-01-01T10:00:00Z", "channel": "store"},
                               "liveness_mode": "auto"},
    ("POST", "/v1/review/{sid}"): {"outcome": "approved", "reason": "looks fine to me"},
    ("POST", "/v1/keys"): {"role": "clerk", "label": "fuzz"},
    ("POST", "/v1/erasures"): {"session_id": "00000000-0000-0000-0000-000000000000"},
    ("PUT", "/v1/policy"): {"fmr": 1e-4, "max_lines_per_identity": 5, "liveness_threshold": 0.0,
                            "advisory_stages": ["quality", "duplicate_face"],
                            "document_outcomes": {"mrz_number_mismatch": "review"}},
    ("POST", "/v1/subject-requests/lines"): {"document": {"type": "resident_id", "number": VALID_NUMBER}},
}
ROLE_FOR = {"clerk": "clerk", "reviewer": "reviewer", "auditor": "auditor", "admin": "admin"}


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 120, 120)).save(buf, format="PNG")
    return buf.getvalue()


def _leaves(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, prefix + (k,))
    else:
        yield prefix


def _set(obj, path, value):
    obj = copy.deepcopy(obj)
    cur = obj
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return obj


def _operations(app):
    spec = app.openapi()
    from .test_roles import ENDPOINTS

    roles = {(m, p): sorted(r) for m, p, r in ENDPOINTS}
    for path, ops in spec["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, op in ops.items():
            key = (method.upper(), path)
            if key in SKIP:
                continue
            yield key, op, roles[key][0]


def _cases(app, live_sid: str):
    """(method, url, kwargs) for every hostile variation of every operation. ``live_sid``: a session
    awaiting its live capture, so that the live call reaches the nonce check."""
    png = _png()
    for (method, path), op, role in _operations(app):
        params = op.get("parameters", [])
        content = op.get("requestBody", {}).get("content", {})
        sid = live_sid if path.endswith("/live") else "00000000-0000-0000-0000-000000000000"
        base_url = path.replace("{sid}", sid).replace("{kid}", "key_000000000000")
        base: dict = {}
        if "application/json" in content:
            base["json"] = JSON_BODIES.get((method, path), {})
        if "multipart/form-data" in content:
            base["files"] = [(f, ("a.png", png, "image/png")) for f in ("image", "frames", "id_image", "live_image")]
            base["data"] = {"nonce": "abc"}
        yield role, method, base_url, base                     # the plain call
        for prm in params:
            for v in STRINGS + ["2147483648", "99999999999999999999999", "1e-9", "0.99", "1e-300"]:
                kw = copy.deepcopy(base)
                if prm["in"] == "path":
                    url = path.replace("{" + prm["name"] + "}", quote(v, safe="")).replace("{sid}", sid).replace("{kid}", "k")
                    if not v:
                        continue
                    yield role, method, url, kw
                elif prm["in"] == "query":
                    kw["params"] = {prm["name"]: v}
                    yield role, method, base_url, kw
                elif prm["in"] == "header" and v.isascii() and "\x00" not in v and v:
                    kw["headers"] = {prm["name"]: v}
                    yield role, method, base_url, kw
        if "json" in base:
            for leaf in _leaves(base["json"]):
                for v in VALUES:
                    yield role, method, base_url, {**base, "json": _set(base["json"], leaf, v)}
            for v in VALUES:                                   # the whole body replaced
                yield role, method, base_url, {**base, "json": v}
        if "data" in base:
            for v in STRINGS:
                yield role, method, base_url, {**base, "data": {"nonce": v}}
            for v in STRINGS + FRAME_TIMES:
                yield role, method, base_url, {**base, "data": {"nonce": "abc", "frame_times": v}}


@pytest.fixture(scope="module")
def fuzz_svc(request, tmp_path_factory, engine, images):
    from .conftest import make_svc

    backend = request.param
    s = make_svc(backend, request, tmp_path_factory.mktemp(f"fuzz-{backend}"), engine, images)
    yield s
    s.client.close()
    s.store.close()


@pytest.mark.parametrize("fuzz_svc", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_no_server_errors_on_hostile_inputs(fuzz_svc):
    svc = fuzz_svc
    s = svc.create().json()
    assert svc.portrait(s["id"], svc.images["same_a"]).status_code == 200
    failures = []
    n = 0
    for role, method, url, kw in _cases(svc.app, s["id"]):
        headers = {**svc.h(role), **kw.pop("headers", {})}
        try:
            r = svc.client.request(method, url, headers=headers, **kw)
        except Exception as exc:                     # the client refused to send it (e.g. a bad header)
            failures.append((method, url, str(kw)[:200], f"client: {type(exc).__name__}: {exc}"))
            continue
        n += 1
        if r.status_code >= 500 or (r.status_code >= 400 and not r.headers.get("content-type", "").startswith(
                "application/problem+json")):
            failures.append((method, url, str(kw)[:200], r.status_code, r.text[:200]))
    assert n > 500
    assert not failures, "\n".join(map(str, failures[:20]))
