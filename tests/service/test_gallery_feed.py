"""Issue 14, "several workers are correct by construction": two service instances on one database, each with
its own in-process duplicate-face index (exact-int8), as two ``serve --workers 2`` workers have. The
``gallery_changes`` feed keeps both current: one face under many documents decided in parallel, spread over
both instances, is approved exactly once; an erasure through one instance leaves the other's index.

Before the feed each worker's index held only its own enrolments: the race below approved the face once per
instance (the control test switches the feed off and shows exactly that)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from idmatch.service.auth import Principal
from idmatch.store.models import GalleryChange

from .conftest import BACKENDS, make_svc, new_number

N = 8


def _second_instance(svc, engine, **settings_kw):
    """Another app on the same database and data dir (same keys), with a gallery of its own."""
    from fastapi.testclient import TestClient

    from idmatch.service.app import create_app
    from idmatch.settings import Settings
    from idmatch.store.store import Store

    settings = Settings(data_dir=svc.settings.data_dir, database_url=svc.settings.database_url,
                        liveness_mode="passive", **settings_kw)
    store = Store(settings)
    app = create_app(settings, engine=engine, store=store)
    return app, store, TestClient(app)


@pytest.fixture(params=BACKENDS)
def pair(request, tmp_path, engine, images):
    kw = {"dedup_backend": "exact-int8", "dedup_feed_poll_s": 0.2}
    a = make_svc(request.param, request, tmp_path, engine, images, advisory=("quality",), **kw)
    app_b, store_b, client_b = _second_instance(a, engine, **kw)
    yield a, app_b
    client_b.close()
    store_b.close()
    a.client.close()
    a.store.close()


def _gallery(app):
    return next(st for st in app.state.sessions.decision_policy.stages if st.name == "duplicate_face").gallery


def _principal(store, secret) -> Principal:
    key = store.lookup_key(secret)
    return Principal(key.id, key.role, key.label)


def _race(a, app_b, monkeypatch) -> list[dict]:
    """N sessions of one face under N documents; live captures decided at once, alternately on each instance,
    every thread held at one barrier once its reasons outside the transaction are computed."""
    sessions = []
    for _ in range(N):
        r = a.create(new_number())
        assert r.status_code == 201, r.text
        s = r.json()
        assert a.portrait(s["id"], a.images["same_a"]).status_code == 200
        sessions.append(s)
    barrier = threading.Barrier(N, timeout=180)
    services = [a.app.state.sessions, app_b.state.sessions]
    for service in services:
        on_live = service.decision_policy.on_live

        def on_live_then_wait(ctx, _on_live=on_live):
            out = _on_live(ctx)
            barrier.wait()
            return out

        monkeypatch.setattr(service.decision_policy, "on_live", on_live_then_wait)
    p = _principal(a.store, a.keys["clerk"])
    with ThreadPoolExecutor(N) as pool:
        futs = [pool.submit(services[i % 2].attach_live, s["id"], [a.images["same_b"]], s["challenge"]["nonce"], p, None)
                for i, s in enumerate(sessions)]
        return [f.result() for f in futs]


def test_one_face_under_many_documents_on_two_instances_is_approved_once(pair, monkeypatch):
    a, app_b = pair
    ga, gb = _gallery(a.app), _gallery(app_b)
    assert ga.index.kind == gb.index.kind == "exact-int8" and ga.index is not gb.index
    t0 = time.perf_counter()
    out = _race(a, app_b, monkeypatch)
    elapsed = time.perf_counter() - t0
    decisions = sorted(o["decision"] for o in out)
    assert decisions == ["approved"] + ["review"] * (N - 1), decisions      # 0 missed duplicates
    first = next(o for o in out if o["decision"] == "approved")
    for o in out:
        seen = a.client.get(f"/v1/sessions/{o['id']}", headers=a.h("reviewer")).json()   # with the refs
        dup = next(x for x in seen["reasons"] if x["stage"] == "duplicate_face")
        if o["id"] == first["id"]:
            assert dup["code"] == "no_duplicate"
        else:
            assert dup["code"] == "duplicate_face" and first["id"] in {h["ref"] for h in dup["details"]["hits"]}
    # both indexes hold the one approval, learnt from the feed (one add row, nothing else)
    ga.sync(), gb.sync()
    assert first["id"] in ga.index and first["id"] in gb.index and len(ga.index) == len(gb.index) == 1
    assert a.count(GalleryChange) == 1 and a.count(GalleryChange, op="add", ref_id=first["id"]) == 1
    print(f"\n{a.backend}: {N} racing decisions on 2 instances in {elapsed:.1f} s")


def test_without_the_feed_the_race_approves_once_per_instance(pair, monkeypatch):
    """Control: the same race with the feed switched off (each index sees only its own enrolments, as before
    the feed) approves the face on both instances, so the test above can tell the difference."""
    a, app_b = pair
    for g in (_gallery(a.app), _gallery(app_b)):
        monkeypatch.setattr(g, "sync", lambda tx=None: 0)
    # ...but each instance does learn its own enrolments, as the old in-process index did
    for g in (_gallery(a.app), _gallery(app_b)):
        enrol = g.enrol

        def enrol_locally(tx, ref, id_hash, template, _g=g, _enrol=enrol):
            _enrol(tx, ref, id_hash, template)
            _g.index.add(ref, id_hash, template)

        monkeypatch.setattr(g, "enrol", enrol_locally)
    out = _race(a, app_b, monkeypatch)
    assert sorted(o["decision"] for o in out) == ["approved"] * 2 + ["review"] * (N - 2)


def test_erasure_on_one_instance_leaves_the_other_instances_index(pair):
    a, app_b = pair
    ga, gb = _gallery(a.app), _gallery(app_b)
    from fastapi.testclient import TestClient

    client_b = TestClient(app_b)
    num = new_number()
    s1, r1 = a.register(a.images["same_a"], [a.images["same_b"]], number=num)
    assert r1.json()["decision"] == "approved", r1.json()["reasons"]
    ref = s1["id"]

    def register_on_b():
        r = client_b.post("/v1/sessions", headers=a.h("clerk"), json={
            "document": {"type": "resident_id", "number": new_number()},
            "consent": {"text_version": "consent-2025-01", "given_at": "2026-01-01T10:00:00Z", "channel": "store"}})
        s = r.json()
        assert client_b.put(f"/v1/sessions/{s['id']}/portrait", headers=a.h("clerk"),
                            files={"image": ("id.jpg", a.images["same_a"], "image/jpeg")}).status_code == 200
        rl = client_b.post(f"/v1/sessions/{s['id']}/live", headers=a.h("clerk"),
                           files=[("frames", ("f0.jpg", a.images["same_b"], "image/jpeg"))],
                           data={"nonce": s["challenge"]["nonce"]})
        assert rl.status_code == 200, rl.text
        return client_b.get(f"/v1/sessions/{s['id']}", headers=a.h("reviewer")).json()

    # B found A's enrolment through the feed
    seen = register_on_b()
    dup = next(x for x in seen["reasons"] if x["stage"] == "duplicate_face")
    assert seen["decision"] == "review" and [h["ref"] for h in dup["details"]["hits"]] == [ref]
    assert ref in gb.index
    # erased through A: gone from A's index at its commit; from B's (idle meanwhile) by B's feed poll on
    # PostgreSQL, by B's next sync on SQLite (no poller: one worker there; every search syncs first)
    assert a.store.erase_subject("resident_id", num)["sessions"] == 1
    assert ref not in ga.index
    if a.backend == "postgres":
        deadline = time.monotonic() + 30
        while ref in gb.index and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ref not in gb.index, "B's poller did not apply the erasure"
    else:
        assert ref in gb.index and gb.sync() == 1 and ref not in gb.index
    # and B's search no longer finds it: the same face under yet another document is approved
    seen = register_on_b()
    assert seen["decision"] == "approved", seen["reasons"]
    assert next(x for x in seen["reasons"] if x["stage"] == "duplicate_face")["code"] == "no_duplicate"
    assert a.count(GalleryChange, op="remove", ref_id=ref) == 1
    client_b.close()


def test_a_rolled_back_decision_enrols_nothing_and_a_restart_follows_the_feed(pair):
    """The index changes only from committed feed rows; a new instance starts at the feed's head."""
    a, app_b = pair
    ga = _gallery(a.app)
    ga.stop_polling()     # the counts below are of this test's syncs, not the PostgreSQL poller's
    import numpy as np

    from idmatch.service.ports import StoreGallery
    from idmatch.store.models import RegSession

    tpl = np.random.default_rng(1).standard_normal(128).astype(np.float32)
    with a.store.session() as db:
        with pytest.raises(RuntimeError):
            with db.begin():
                ga.lock(db)
                ga.enrol(db, "rolled-back", "h", tpl)
                raise RuntimeError("the decision failed after enrolling")
    ga.sync()
    assert "rolled-back" not in ga.index and a.count(GalleryChange) == 0
    s1, r1 = a.register(a.images["same_a"], [a.images["same_b"]])
    assert r1.json()["decision"] == "approved"
    # the approving instance has its own enrolment at its commit; the feed row changes nothing more
    assert s1["id"] in ga.index and ga.sync() == 1 and s1["id"] in ga.index and len(ga.index) == 1
    fresh = StoreGallery.open(a.store, a.settings)
    fresh.stop_polling()
    assert s1["id"] in fresh.index and fresh.applied == ga.applied and fresh.applied > 0 and fresh.sync() == 0
    assert a.count(RegSession, status="approved") == len(fresh.index) == 1


def test_the_purge_compacts_the_feed_and_a_stale_worker_reloads(pair, monkeypatch):
    """The feed does not grow for ever: the purge deletes rows older than FEED_KEEP_DAYS. A worker that has not
    read the feed for FEED_STALE_S (so may have missed rows the purge deleted) reloads the whole gallery from
    the approved sessions instead of following the feed -- and so still finds every approval."""
    import datetime as dt

    from idmatch.service import ports
    from idmatch.store.store import FEED_KEEP_DAYS

    a, app_b = pair
    gb = _gallery(app_b)
    gb.stop_polling()     # B idle: on PostgreSQL its poller would otherwise read the row before the purge
    gb.sync()
    s1, r1 = a.register(a.images["same_a"], [a.images["same_b"]])
    assert r1.json()["decision"] == "approved"
    assert a.count(GalleryChange, op="add", ref_id=s1["id"]) == 1
    # a day and more later: A's purge deletes the old rows; B, idle all the while, never read them
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=FEED_KEEP_DAYS, hours=1)
    assert a.store.purge(now=later)["feed_rows_deleted"] == 1
    assert a.count(GalleryChange) == 0 and s1["id"] not in gb.index
    monkeypatch.setattr(gb, "synced_at", gb.synced_at - ports.FEED_STALE_S - 1)
    gb.sync()
    assert s1["id"] in gb.index, "the stale worker did not reload the gallery"
    # a current worker follows the feed as before (nothing to read: no reload, nothing applied)
    assert gb.sync() == 0 and s1["id"] in gb.index
