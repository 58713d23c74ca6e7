"""Issue 14 figures, against a real `idmatch serve` on 127.0.0.1 (bounded, stops by itself).

0. **Trickled headers** (``--parts trickle``): 300 connections that never finish their headers.
1. **Unauthenticated chunked body**: a 1 GB chunked multipart upload without a key, streamed from a
   generator over a raw socket (the client reads the answer while it sends). Reports the time to the
   401, how many bytes the client got to send before the server closed, and the server's RSS growth.
   The same with a valid key (413 at the byte limit).
2. **Concurrent 40 MP uploads**: 8 clients each POST /v1/verify with a 11999x3333 PNG (113 KiB, just
   under the 40 MP limit) while one client keeps sending a normal LFW verify; reports the server's
   peak RSS, the status codes, and the normal requests' latencies. ``--baseline`` runs the same storm
   with the guards switched off through the environment (no decode limit, full-size decode).

    nice .venv/bin/python benchmarks/service_hardening.py --parts chunked,storm,baseline --out reports/service_hardening.json
"""
from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IDMATCH_SHARED_DATA", REPO.parent / "shared" / "data"))
LFW = DATA / "verification/lfw_deepfunneled/images"
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env: dict | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="idm-harden-"))
        self.port = free_port()
        cmd = [sys.executable, "-c", "import sys; from idmatch.cli import main; sys.exit(main())", "serve",
               "--port", str(self.port), "--data-dir", str(self.dir / "data"), "--log-level", "warning"]
        full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.dir / "server.log", "wb"),
                                     start_new_session=True, env=full_env)
        self.url = f"http://127.0.0.1:{self.port}"
        t0 = time.time()
        while time.time() - t0 < 120:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            self.stop()
            raise SystemExit("server did not become ready; see " + str(self.dir / "server.log"))
        admin = (self.dir / "data" / "first-admin-key").read_text().strip()
        r = httpx.post(self.url + "/v1/keys", json={"role": "clerk", "label": "bench"},
                       headers={"Authorization": f"Bearer {admin}"})
        r.raise_for_status()
        self.clerk = r.json()["key"]
        self.ps = psutil.Process(self.proc.pid)

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


class Peak(threading.Thread):
    def __init__(self, server: Server, every: float = 0.05):
        super().__init__(daemon=True)
        self.server, self.every = server, every
        self.peak = server.rss()
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                self.peak = max(self.peak, self.server.rss())
            except psutil.Error:
                return
            time.sleep(self.every)


def chunked_upload(server: Server, total: int, key: str | None) -> dict:
    """Stream ``total`` bytes as a chunked multipart body; read the answer concurrently."""
    chunk = b"\0" * MB
    part = (b'--b\r\nContent-Disposition: form-data; name="id_image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n")
    head = (b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Transfer-Encoding: chunked\r\n" + (f"Authorization: Bearer {key}\r\n".encode() if key else b"") + b"\r\n")
    sent = {"bytes": 0, "error": None}
    rss0 = server.rss()
    peak = Peak(server, 0.02)
    peak.start()
    s = socket.create_connection(("127.0.0.1", server.port))
    t0 = time.perf_counter()

    def sender():
        try:
            s.sendall(head + b"%x\r\n%s\r\n" % (len(part), part))
            while sent["bytes"] < total:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent["bytes"] += len(chunk)
            s.sendall(b"0\r\n\r\n")
        except OSError as exc:
            sent["error"] = type(exc).__name__

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    s.settimeout(30)
    data = b""
    t_answer = None
    try:
        while b"\r\n\r\n" not in data:
            b = s.recv(65536)
            if not b:
                break
            data += b
        t_answer = time.perf_counter() - t0
    except socket.timeout:
        pass
    th.join(30)
    s.close()
    time.sleep(0.5)
    peak.halt.set()
    peak.join()
    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "none"
    return {"key": bool(key), "status": status, "answer_s": round(t_answer, 3) if t_answer else None,
            "client_bytes_sent_before_close": sent["bytes"], "client_error": sent["error"],
            "server_rss_before_mb": round(rss0 / MB), "server_rss_peak_growth_mb": round((peak.peak - rss0) / MB, 1),
            "server_rss_after_growth_mb": round((server.rss() - rss0) / MB, 1)}


def trickle(server: Server, n: int, seconds: float) -> dict:
    """``n`` connections that send a header line every second and never finish their headers, while
    /healthz is timed; reports how many the server closed, and when."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        socks.append(s)
    t0 = time.perf_counter()
    closed_at: dict[int, float] = {}
    lat: list[float] = []
    with httpx.Client(timeout=30) as c:
        while time.perf_counter() - t0 < seconds:
            for i, s in enumerate(socks):
                if i in closed_at:
                    continue
                try:
                    s.sendall(b"X-Trickle: 1\r\n")
                    if s.recv(1) == b"":
                        closed_at[i] = time.perf_counter() - t0
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[i] = time.perf_counter() - t0
            t = time.perf_counter()
            c.get(server.url + "/healthz")
            lat.append(time.perf_counter() - t)
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - t)))
    for s in socks:
        s.close()
    lat.sort()
    when = sorted(closed_at.values())
    return {"connections": n, "seconds": seconds, "closed_by_server": len(closed_at),
            "closed_after_s": {"first": round(when[0], 1), "last": round(when[-1], 1)} if when else None,
            "healthz_ms": {"median": round(1e3 * lat[len(lat) // 2], 1), "max": round(1e3 * lat[-1], 1)}}


def big_png() -> bytes:
    from PIL import Image

    img = Image.new("RGB", (11999, 3333), (90, 120, 150))
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


def storm(server: Server, n_big: int, normal_s: float) -> dict:
    png = big_png()
    a = (LFW / "Akhmed_Zakayev/Akhmed_Zakayev_0001.jpg").read_bytes()
    b = (LFW / "Akhmed_Zakayev/Akhmed_Zakayev_0003.jpg").read_bytes()
    h = {"Authorization": f"Bearer {server.clerk}"}
    with httpx.Client(timeout=120) as c:                 # warm the models first
        c.post(server.url + "/v1/verify", files={"id_image": ("a.jpg", a, "image/jpeg"),
                                                 "live_image": ("b.jpg", b, "image/jpeg")}, headers=h).raise_for_status()
    rss0 = server.rss()
    peak = Peak(server)
    peak.start()
    big: list = []
    normal: list = []
    go = threading.Event()
    done = threading.Event()

    def big_client():
        go.wait()
        t = time.perf_counter()
        try:
            with httpx.Client(timeout=300) as c:
                r = c.post(server.url + "/v1/verify", files={"id_image": ("big.png", png, "image/png"),
                                                             "live_image": ("b.jpg", b, "image/jpeg")}, headers=h)
            big.append((r.status_code, (r.json() or {}).get("code"), round(time.perf_counter() - t, 2),
                        r.headers.get("retry-after")))
        except httpx.HTTPError as exc:
            big.append((type(exc).__name__, None, round(time.perf_counter() - t, 2), None))

    def normal_client():
        go.wait()
        time.sleep(0.3)                                    # the big ones are in first
        t_end = time.perf_counter() + normal_s
        with httpx.Client(timeout=120) as c:
            while time.perf_counter() < t_end and not (done.is_set() and len(normal) >= 3):
                t = time.perf_counter()
                try:
                    r = c.post(server.url + "/v1/verify", files={"id_image": ("a.jpg", a, "image/jpeg"),
                                                                 "live_image": ("b.jpg", b, "image/jpeg")}, headers=h)
                    normal.append((r.status_code, round(time.perf_counter() - t, 2)))
                except httpx.HTTPError as exc:
                    normal.append((type(exc).__name__, round(time.perf_counter() - t, 2)))

    threads = [threading.Thread(target=big_client) for _ in range(n_big)] + [threading.Thread(target=normal_client)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    go.set()
    for t in threads[:-1]:
        t.join()
    done.set()
    threads[-1].join()
    wall = time.perf_counter() - t0
    time.sleep(1)
    peak.halt.set()
    peak.join()
    codes: dict = {}
    for st, code, _, _ in big:
        codes[f"{st}:{code}"] = codes.get(f"{st}:{code}", 0) + 1
    lat = sorted(x[1] for x in normal if x[0] == 200)
    return {"big_uploads": n_big, "big_png_bytes": len(png), "wall_s": round(wall, 1), "big_results": codes,
            "big_latency_s": sorted(x[2] for x in big),
            "retry_after": sorted({x[3] for x in big if x[3]}),
            "server_rss_before_mb": round(rss0 / MB), "server_rss_peak_mb": round(peak.peak / MB),
            "server_rss_after_mb": round(server.rss() / MB),
            "normal_requests": len(normal), "normal_ok": len(lat),
            "normal_latency_s": {"min": lat[0] if lat else None, "median": lat[len(lat) // 2] if lat else None,
                                 "max": lat[-1] if lat else None}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gigabytes", type=float, default=1.0)
    ap.add_argument("--big", type=int, default=8)
    ap.add_argument("--normal-s", type=float, default=60)
    ap.add_argument("--parts", default="chunked,storm",
                    help="comma list of chunked, trickle, storm, baseline (the storm with the decode guards switched off)")
    ap.add_argument("--out")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    report: dict = {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}
    if parts & {"chunked", "storm", "trickle"}:
        srv = Server()
        try:
            total = int(args.gigabytes * 1024 * MB)
            if "chunked" in parts:
                report["chunked_no_key"] = chunked_upload(srv, total, None)
                print(json.dumps(report["chunked_no_key"]), flush=True)
                report["chunked_with_key"] = chunked_upload(srv, total, srv.clerk)
                print(json.dumps(report["chunked_with_key"]), flush=True)
            if "trickle" in parts:
                report["trickle_headers"] = trickle(srv, 300, 20)
                print(json.dumps(report["trickle_headers"]), flush=True)
            if "storm" in parts:
                report["storm_guarded"] = storm(srv, args.big, args.normal_s)
                print(json.dumps(report["storm_guarded"]), flush=True)
        finally:
            srv.stop()
    if "baseline" in parts:
        off = {"IDMATCH_DECODE_SLOTS": "64", "IDMATCH_DECODE_PIXEL_BUDGET": "1e12", "IDMATCH_DECODE_MAX_WAITING": "64",
               "IDMATCH_WORK_MAX_PIXELS": "0"}
        srv = Server(off)
        try:
            report["storm_unguarded"] = storm(srv, args.big, args.normal_s)
            print(json.dumps(report["storm_unguarded"]), flush=True)
        finally:
            srv.stop()
    report["load_avg_end"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
