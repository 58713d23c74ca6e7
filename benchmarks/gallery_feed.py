"""Decisions per second through the duplicate-face gallery with the change feed, two service instances on
one PostgreSQL (issue 14), and missed duplicates counted.

Each instance opens its own ``Store`` and ``StoreGallery`` (exact-int8 in process, as a ``serve --workers 2``
worker does). ``--faces`` synthetic faces are each registered ``--repeats`` times under different documents,
in random order, by ``--threads`` threads per instance; a "decision" is the part the gallery serialises:
one transaction that writes the approved-or-review session with its encrypted templates, takes the gallery
lock (which applies the feed), searches, and enrols an approval. Face analysis is not included (it runs
before the transaction, in parallel). Expected: exactly one approval per face.

    python benchmarks/gallery_feed.py --faces 100 --repeats 4 --threads 2
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2, help="per instance")
    ap.add_argument("--database-url", help="an existing PostgreSQL (default: a throw-away pgserver)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()

    from idmatch.fraud.dedup import check_duplicate
    from idmatch.service.ports import StoreGallery
    from idmatch.settings import Settings
    from idmatch.store.models import RegSession, Template, utcnow
    from idmatch.store.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="gallery-feed-"))
    srv = None
    url = a.database_url
    if url is None:
        import pgserver

        srv = pgserver.get_server(str(tmp / "pg"), cleanup_mode="stop")
        url = "postgresql+psycopg://" + srv.get_uri().split("://", 1)[1]
    settings = Settings(data_dir=tmp / "data", database_url=url, dedup_backend="exact-int8", dedup_feed_poll_s=0)
    stores = [Store(settings), Store(settings)]
    galleries = [StoreGallery.open(s, settings) for s in stores]

    rng = np.random.default_rng(0)
    faces = rng.standard_normal((a.faces, 128)).astype(np.float32)
    jobs = [(f, r) for f in range(a.faces) for r in range(a.repeats)]
    random.Random(0).shuffle(jobs)
    lock = threading.Lock()
    outcomes: dict[int, list[str]] = {}
    lat: list[float] = []

    def decide(i: int, job: tuple[int, int]) -> None:
        f, r = job
        store, gallery = stores[i % 2], galleries[i % 2]
        tpl = faces[f] + 0.05 * np.random.default_rng(i + 1).standard_normal(128).astype(np.float32)
        tpl /= np.linalg.norm(tpl)
        sid, h = str(uuid.uuid4()), uuid.uuid4().hex
        t0 = time.perf_counter()
        with store.session() as db, db.begin():
            now = utcnow()
            db.add(RegSession(id=sid, status="awaiting_live", doc_type="resident_id", id_hash=h, consent_version="v",
                              consent_at=now, consent_channel="bench", challenge={}, api_key_id="bench",
                              expires_at=now + dt.timedelta(hours=1)))
            for kind in ("portrait", "live"):
                db.add(store.seal(Template(session_id=sid, kind=kind, frame=0, model="sface"), tpl.tobytes()))
            db.flush()
            gallery.lock(db)
            res = check_duplicate(gallery.index, [tpl], h, gallery.policy)
            decision = "review" if res.decision == "review" else "approved"
            db.get(RegSession, sid).status = decision
            if decision == "approved":
                gallery.enrol(db, sid, h, tpl)
        with lock:
            lat.append(time.perf_counter() - t0)
            outcomes.setdefault(f, []).append(decision)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(2 * a.threads) as pool:
        list(pool.map(decide, range(len(jobs)), jobs))
    wall = time.perf_counter() - t0
    for g in galleries:
        g.sync()
    approvals = [o.count("approved") for o in outcomes.values()]
    out = {"decisions": len(jobs), "instances": 2, "threads_per_instance": a.threads, "wall_s": round(wall, 2),
           "decisions_per_s": round(len(jobs) / wall, 1),
           "latency_ms_p50": round(1e3 * float(np.percentile(lat, 50)), 1),
           "latency_ms_p99": round(1e3 * float(np.percentile(lat, 99)), 1),
           "faces": a.faces, "faces_approved_once": sum(n == 1 for n in approvals),
           "faces_approved_more_than_once": sum(n > 1 for n in approvals),
           "index_sizes": [len(g.index) for g in galleries]}
    print(json.dumps(out, indent=1))
    if a.out:
        a.out.write_text(json.dumps(out, indent=1) + "\n")
    for s in stores:
        s.close()
    if srv is not None:
        import pgserver

        pgserver.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=srv.pgdata, user=srv.system_user)


if __name__ == "__main__":
    main()
