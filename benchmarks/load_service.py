"""Bounded loopback load test of the service: stateless verify and full registration sessions.

Starts ``idmatch serve --workers N`` on 127.0.0.1 with a fresh data dir (SQLite by default, or a
throw-away PostgreSQL from the pgserver wheel with ``--backend postgres``), sends a fixed number of
requests from a few client threads, and reports throughput, p50/p99 latency, errors and the RSS of
each worker process. Nothing leaves the machine.

    .venv/bin/python benchmarks/load_service.py --verify 120 --sessions 40 --concurrency 4 --workers 1
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import psutil
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IDMATCH_SHARED_DATA", REPO.parent / "shared" / "data"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_pairs(n: int) -> list[tuple[bytes, bytes]]:
    rows = list(csv.DictReader(open(DATA / "verification/lfw_deepfunneled/pairs.csv")))[: n]
    return [((DATA / r["img1"]).read_bytes(), (DATA / r["img2"]).read_bytes()) for r in rows]


def start(args, data_dir: Path, db_url: str | None, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "import sys; from idmatch.cli import main; sys.exit(main())", "serve",
           "--port", str(port), "--workers", str(args.workers), "--data-dir", str(data_dir), "--log-level", "info"]
    if db_url:
        cmd += ["--database-url", db_url]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(data_dir / "server.log", "wb"), start_new_session=True, env=env)
    t0 = time.time()
    while time.time() - t0 < 120:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("server did not become ready; see " + str(data_dir / "server.log"))


def _resident_number(i: int) -> str:
    """A distinct resident ID number that passes GB 11643 (the service rejects any other)."""
    from stdnum.cn import ric

    import datetime as dt

    k = i + int.from_bytes(os.urandom(3), "big")
    born = dt.date(1990, 1, 1) + dt.timedelta(days=(k // 1000) % 9000)
    body = f"330106{born:%Y%m%d}{k % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def _why(r: httpx.Response, step: str = "") -> str:
    try:
        code = r.json().get("code", "")
    except ValueError:
        code = ""
    return f"{step + ':' if step else ''}{r.status_code}:{code}"


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak: dict[int, int] = {}
        self.stop = threading.Event()

    def workers(self) -> list[psutil.Process]:
        kids = [p for p in self.root.children(recursive=True) if "resource_tracker" not in " ".join(p.cmdline())]
        return kids or [self.root]

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for p in self.workers():
                    self.peak[p.pid] = max(self.peak.get(p.pid, 0), p.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.5)


def run_load(name: str, n: int, concurrency: int, fn) -> dict:
    lat: list[float] = []
    errors = 0
    error_kinds: dict[str, int] = {}
    lock = threading.Lock()
    it = iter(range(n))
    bar = tqdm(total=n, desc=name, unit="req")

    def worker(wid: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=60) as c:
            while True:
                with lock:
                    i = next(it, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                ok = False
                try:
                    ok = fn(c, i)
                except httpx.HTTPError as exc:
                    ok = type(exc).__name__
                kind = None
                if ok is not True:
                    kind = ok if isinstance(ok, str) else "failed"
                    ok = False
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
                    errors += 0 if ok else 1
                    if kind:
                        error_kinds[kind] = error_kinds.get(kind, 0) + 1
                    bar.update(1)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    bar.close()
    a = np.array(lat) * 1e3
    return {"scenario": name, "requests": n, "concurrency": concurrency, "wall_s": round(wall, 2),
            "throughput_per_s": round(n / wall, 2), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p99_ms": round(float(np.percentile(a, 99)), 1), "mean_ms": round(float(a.mean()), 1), "errors": errors,
            **({"error_kinds": error_kinds} if error_kinds else {})}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--verify", type=int, default=120, help="stateless /v1/verify requests")
    ap.add_argument("--sessions", type=int, default=40, help="full sessions (create + portrait + live/decision)")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--workers", type=int, default=None,
                    help="default 2 on PostgreSQL, 1 on SQLite (serve refuses several workers on SQLite)")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--out", help="write the results as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dir (server log, database)")
    args = ap.parse_args()
    if args.workers is None:
        args.workers = 2 if args.backend == "postgres" else 1

    from idmatch.settings import Settings
    from idmatch.store.store import bootstrap

    tmp = Path(tempfile.mkdtemp(prefix="idmatch-load-"))
    pg = None
    db_url = None
    if args.backend == "postgres":
        import pgserver

        pg = pgserver.get_server(str(tmp / "pg"), cleanup_mode="stop")
        db_url = pg.get_uri()
    data_dir = tmp / "data"
    store, _ = bootstrap(Settings(data_dir=data_dir, database_url=db_url))
    clerk = store.create_key("clerk", "load test").secret
    store.close()
    pairs = load_pairs(40)
    direct_ms = []
    if args.verify:  # in-process baseline, same machine, same moment: what HTTP + multipart + workers add
        from idmatch.pipeline import FaceEngine

        eng = FaceEngine()
        eng.verify(*pairs[0])
        for a, b in pairs[:10]:
            t0 = time.perf_counter()
            eng.verify(a, b)
            direct_ms.append((time.perf_counter() - t0) * 1e3)
        del eng
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hdr = {"Authorization": f"Bearer {clerk}"}
    proc = start(args, data_dir, db_url, port)
    sampler = RssSampler(proc.pid)
    sampler.start()
    results = []
    try:
        def verify(c: httpx.Client, i: int) -> bool:
            a, b = pairs[i % len(pairs)]
            r = c.post(base + "/v1/verify", headers=hdr, files={"id_image": ("a.jpg", a, "image/jpeg"), "live_image": ("b.jpg", b, "image/jpeg")})
            return True if r.status_code == 200 else _why(r)

        def session(c: httpx.Client, i: int) -> bool:
            a, b = pairs[i % len(pairs)]
            r = c.post(base + "/v1/sessions", headers=hdr, json={
                "document": {"type": "resident_id", "number": _resident_number(i)},
                "consent": {"text_version": "v1", "given_at": "2026-01-01T00:00:00Z", "channel": "store"}})
            if r.status_code != 201:
                return _why(r, "create")
            sid, nonce = r.json()["id"], r.json()["challenge"]["nonce"]
            rp = c.put(f"{base}/v1/sessions/{sid}/portrait", headers=hdr, files={"image": ("a.jpg", a, "image/jpeg")})
            if rp.status_code != 200:
                return _why(rp, "portrait")
            r = c.post(f"{base}/v1/sessions/{sid}/live", headers=hdr, files=[("frames", ("b.jpg", b, "image/jpeg"))], data={"nonce": nonce})
            if r.status_code != 200:
                return _why(r, "live")
            return r.json()["decision"] in ("approved", "rejected", "review")

        run_load("warmup", 2 * args.workers * 2, args.concurrency, verify)
        if args.verify:
            results.append(run_load("verify_c1", max(10, args.verify // 6), 1, verify))
            results.append(run_load("verify", args.verify, args.concurrency, verify))
        if args.sessions:
            results.append(run_load("session", args.sessions, args.concurrency, session))
    finally:
        sampler.stop.set()
        sampler.join(2)
        rss = sorted(round(v / 2**20) for v in sampler.peak.values())
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        if pg is not None:
            pg.cleanup()
    extra = {}
    if direct_ms:
        c1 = next(r for r in results if r["scenario"] == "verify_c1")
        extra = {"direct_engine_verify_p50_ms": round(float(np.median(direct_ms)), 1),
                 "http_c1_over_direct_p50_ratio": round(c1["p50_ms"] / float(np.median(direct_ms)), 2)}
    log_text = (data_dir / "server.log").read_text(errors="replace")
    extra["worker_restarts"] = log_text.count("] died")
    report = {"backend": args.backend, **extra, "workers": args.workers, "cpus": os.cpu_count(),
              "load_avg_1m_at_end": round(os.getloadavg()[0], 2), "peak_rss_mib_per_process": rss, "results": results}
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
