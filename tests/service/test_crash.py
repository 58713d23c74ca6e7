"""Crash test: kill -9 the server while it decides sessions under load. After the crash every decision a
client got a 2xx for is stored with its templates and audit event, nothing is half-written, the audit
chain verifies, and the restarted server serves again (SQLite and PostgreSQL)."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select, text

from idmatch.store.models import AuditEvent, RegSession, Template

from .conftest import BACKENDS, database_url_for, new_number

SERVE = [sys.executable, "-c", "import sys; from idmatch.cli import main; sys.exit(main())", "serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(settings, port: int, log_path, workers: int = 1) -> subprocess.Popen:
    args = SERVE + ["--port", str(port), "--workers", str(workers), "--data-dir", str(settings.data_dir), "--log-level", "warning"]
    if settings.database_url:
        args += ["--database-url", settings.database_url]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True, env=env)
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {open(log_path).read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError("server did not become ready")


def register(client: httpx.Client, portrait: bytes, live: bytes) -> tuple[str, httpx.Response]:
    s = client.post("/v1/sessions", json={"document": {"type": "resident_id", "number": new_number()},
                                          "consent": {"text_version": "v1", "given_at": "2026-01-01T00:00:00Z", "channel": "store"}})
    s.raise_for_status()
    sid, nonce = s.json()["id"], s.json()["challenge"]["nonce"]
    client.put(f"/v1/sessions/{sid}/portrait", files={"image": ("a.jpg", portrait, "image/jpeg")}).raise_for_status()
    return sid, client.post(f"/v1/sessions/{sid}/live", files=[("frames", ("b.jpg", live, "image/jpeg"))], data={"nonce": nonce})


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_under_load_loses_no_acknowledged_decision(backend, request, tmp_path, images):
    from idmatch.settings import Settings
    from idmatch.store.store import Store

    # zero setup: the first `idmatch serve` on an empty data dir creates it and an admin key, once
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url_for(backend, request))
    port = free_port()
    log = tmp_path / "server.log"
    proc = start_server(settings, port, log)
    admin = (settings.data_dir / "first-admin-key").read_text().strip()   # 0600 file, not the log
    assert admin.startswith("idm_") and admin not in log.read_text()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {admin}"}, timeout=30) as c:
        clerk = c.post("/v1/keys", json={"role": "clerk", "label": "crash test"}).json()["key"]
        # still photos as the live capture: passive liveness, chosen explicitly (the default is active)
        assert c.put("/v1/policy", json={"advisory_stages": ["quality", "duplicate_face"], "liveness_threshold": 0.0,
                                         "liveness_mode": "passive"}).status_code == 200
    acked: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()
    pairs = [(images["same_a"], images["same_b"]), (images["imp_a"], images["imp_b"])]

    def worker(i: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {clerk}"}, timeout=30) as c:
            n = 0
            while not stop.is_set():
                try:
                    sid, r = register(c, *pairs[(i + n) % 2])
                except httpx.HTTPError:
                    return                                   # the server is gone
                n += 1
                if r.status_code == 200:
                    with lock:
                        acked[sid] = r.json()["decision"]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    t0 = time.time()
    while len(acked) < 6 and time.time() - t0 < 120:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)                       # mid-flight: other threads are deciding
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(60)
    assert len(acked) >= 6, "load did not produce decisions before the kill"

    store = Store(settings)
    with store.session() as db:
        for sid, decision in acked.items():
            s = db.get(RegSession, sid)
            assert s is not None and s.decision == decision and s.status == decision
            assert db.execute(select(func.count()).select_from(Template).where(Template.session_id == sid, Template.kind == "live")).scalar() == 1
            assert db.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.session_id == sid, AuditEvent.type == "decision")).scalar() == 1
        # nothing half-written, acknowledged or not
        for s in db.execute(select(RegSession)).scalars():
            n_live = db.execute(select(func.count()).select_from(Template).where(Template.session_id == s.id, Template.kind == "live")).scalar()
            n_dec = db.execute(select(func.count()).select_from(AuditEvent).where(AuditEvent.session_id == s.id, AuditEvent.type == "decision")).scalar()
            assert (s.decision is not None) == (n_live == 1) == (n_dec == 1), s.id
        if backend == "sqlite":
            assert db.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    rep = store.verify_audit()
    assert rep.ok, rep.problems
    store.close()

    proc = start_server(settings, port, log)   # restarts cleanly on the crashed data ...
    assert log.read_text().count("First run: created an admin API key") == 1   # ... without a new admin key
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {clerk}"}, timeout=30) as c:
            sid, r = register(c, images["same_a"], images["same_b"])
            assert r.status_code == 200 and r.json()["decision"] == "approved"
            some = next(iter(acked))
            assert c.get(f"/v1/sessions/{some}").json()["decision"] == acked[some]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
