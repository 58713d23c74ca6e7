"""The decision layer's ports (:mod:`idmatch.decision.ports`) over the service's ``Store``."""
from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from typing import Iterable

import numpy as np
from sqlalchemy import event, func, insert, select, text

from ..fraud.dedup import DedupPolicy, DedupResult, check_duplicate, dedup_policy, enrolment_template
from ..fraud.gallery import GalleryIndex, Row
from ..fraud.select import make_index
from ..store.models import GalleryChange, LineActivation, RegSession, Template, utcnow
from ..store.store import Store

log = logging.getLogger(__name__)

# PostgreSQL advisory-lock namespaces (the two-int4 key space; the migration lock uses the bigint one)
_PG_LOCK_IDENTITY = 74202
_PG_LOCK_GALLERY = 74203
# a worker whose last read of the change feed is older than this reloads the whole gallery instead: the
# purge deletes feed rows after FEED_KEEP_DAYS (store.py), and the rows it missed may be among them
FEED_STALE_S = 24 * 3600.0


def _pg_xact_lock(tx, namespace: int, key: int) -> None:
    """A PostgreSQL transaction-level advisory lock (released at commit or rollback). On SQLite every write
    transaction already holds the database's one write lock from its first statement (``BEGIN IMMEDIATE``,
    store/db.py), which serialises decisions the same way."""
    if tx.get_bind().dialect.name == "postgresql":
        tx.execute(text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": namespace, "key": key})


class StoreLines:
    """:class:`~idmatch.decision.ports.LineRegister` on the ``line_activations`` table."""

    def __init__(self, store: Store):
        self.store = store

    def lock_identity(self, tx, id_hash: str) -> None:
        # keyed by the document's keyed hash: decisions for other documents do not wait
        key = int.from_bytes(hashlib.sha256(id_hash.encode()).digest()[:4], "big", signed=True)
        _pg_xact_lock(tx, _PG_LOCK_IDENTITY, key)

    def count_active_lines(self, id_hash: str, tx=None) -> int:
        q = select(func.count()).select_from(LineActivation).where(
            LineActivation.id_hash == id_hash, LineActivation.deactivated_at.is_(None))
        if tx is not None:
            return int(tx.execute(q).scalar_one())
        with self.store.session() as db:
            return int(db.execute(q).scalar_one())

    def activate_line(self, tx, id_hash: str, session_id: str) -> None:
        s = tx.get(RegSession, session_id)      # locked and loaded by the decision's transaction
        tx.add(LineActivation(id_hash=id_hash, session_id=session_id, channel_label=s.channel_label if s else ""))


class StoreGallery:
    """:class:`~idmatch.decision.ports.FaceGallery`: pgvector inside the service's database, or an in-process
    index (exact / exact-int8) kept current by the ``gallery_changes`` feed.

    The in-process index is loaded from the approved sessions' encrypted templates at start-up and then follows
    the feed: every enrolment and removal writes a row under the gallery lock (so ``seq`` order is commit order),
    and :meth:`lock` applies the rows above the last applied ``seq`` before the decision searches. Several
    workers (or hosts) each hold the whole gallery and none misses another's approval or erasure. The index
    changes only after a commit, never ahead of one: a decision that rolls back leaves nothing behind. After
    its own commit a worker applies its own change at once (:meth:`_after_commit`); an idle worker polls every
    ``dedup_feed_poll_s`` on PostgreSQL, so an erased face leaves every worker's memory."""

    def __init__(self, store: Store, index: GalleryIndex, policy: DedupPolicy):
        self.store, self.index, self.policy = store, index, policy
        self.in_db = index.kind == "pgvector"
        self.applied = 0                     # the highest feed seq this index reflects
        self.synced_at = time.monotonic()    # when the feed was last read to its end (or the gallery loaded)
        self._apply = threading.Lock()       # the index and ``applied`` change together
        self._ahead: set[str] = set()        # erased refs removed here before the feed's row was applied
        self._info = f"gallery_feed_{id(self)}"
        self._poller: threading.Thread | None = None
        self._stop_polling = threading.Event()
        if not self.in_db:
            event.listen(store.sessionmaker, "after_commit", self._after_commit)

    @classmethod
    def open(cls, store: Store, settings) -> "StoreGallery":
        """The gallery the settings ask for (``dedup_backend``, ``dedup_gallery_size``, ``dedup_fpir``, ``dedup_threads``)."""
        index = make_index(settings.dedup_backend, settings.dedup_gallery_size, engine=store.engine,  # type: ignore[arg-type]
                           threads=settings.dedup_threads)
        g = cls(store, index, dedup_policy(settings.dedup_gallery_size, settings.dedup_fpir))
        if not g.in_db:
            n = g.load()
            if hasattr(index, "freeze"):
                index.freeze()          # the int8 snapshot before the first request, not during it
            log.info("duplicate-face gallery (%s) loaded with %d approved registrations, feed at %d", index.kind, n, g.applied)
            poll = float(getattr(settings, "dedup_feed_poll_s", 0) or 0)
            if store.dialect == "postgresql" and poll > 0:
                g.start_polling(poll)
        return g

    # -- the change feed --------------------------------------------------------------------------
    def load(self) -> int:
        """Start-up: every approved registration, and the feed position to follow from. The position is read
        first: a change committed while the rows are read is applied again later, which changes nothing (an
        ``add`` is resolved against the session as it is then, a ``remove`` of an absent ref is a no-op)."""
        with self.store.session() as db:
            w = int(db.execute(select(func.coalesce(func.max(GalleryChange.seq), 0))).scalar_one())
        rows = approved_rows(self.store)
        with self._apply:
            n = self.index.rebuild(rows)
            self.applied, self._ahead = w, set()
            self.synced_at = time.monotonic()
        return n

    def sync(self, tx=None) -> int:
        """Apply the feed rows above :attr:`applied` (read in ``tx`` if given, else in a session of its own).
        Returns how many rows were applied."""
        if self.in_db:
            return 0
        if tx is not None:
            return self._sync_in(tx)
        with self.store.session() as db:
            return self._sync_in(db)

    def _sync_in(self, db) -> int:
        if time.monotonic() - self.synced_at > FEED_STALE_S:
            # the purge may have deleted rows this worker never read: start again from the approved sessions
            log.info("duplicate-face gallery: feed not read for %.0f h, reloading", (time.monotonic() - self.synced_at) / 3600)
            return self.load()
        since = self.applied
        started = time.monotonic()
        rows = list(db.execute(select(GalleryChange.seq, GalleryChange.op, GalleryChange.ref_id)
                               .where(GalleryChange.seq > since).order_by(GalleryChange.seq)))
        if not rows:
            self.synced_at = started
            return 0
        want = {ref for _, op, ref in rows if op == "add" and ref not in self.index}
        found = {sid: (h, t) for sid, h, t in approved_rows(self.store, want, db)} if want else {}
        n = 0
        with self._apply:
            for seq, op, ref in rows:
                if seq <= self.applied:       # another thread of this worker applied it meanwhile
                    continue
                if op == "add":
                    if ref in found and ref not in self._ahead:
                        self.index.add(ref, *found[ref])
                    # not found: no longer approved (erased since); the feed's later remove row says so too
                else:
                    self.index.remove(ref)
                    self._ahead.discard(ref)
                self.applied = seq
                n += 1
            self.synced_at = started
        return n

    def _mine(self, tx) -> dict:
        return tx.info.setdefault(self._info, {"add": [], "remove": []})

    def _after_commit(self, db) -> None:
        """This worker's own changes, applied right after its commit. A removal leaves memory at once, marked so
        an older ``add`` read by a concurrent sync cannot bring it back. An enrolment is added from the template
        in hand only if no sync has passed its row yet: one that has resolved it against the database then (an
        erasure committed in between would otherwise leave it behind)."""
        mine = db.info.pop(self._info, None)
        if not mine:
            return
        with self._apply:
            for ref, id_hash, template, seq in mine["add"]:
                if self.applied < seq and ref not in self._ahead:
                    self.index.add(ref, id_hash, template)
            for ref in mine["remove"]:
                self.index.remove(ref)
                self._ahead.add(ref)

    def start_polling(self, interval_s: float) -> None:
        """A daemon thread applying the feed every ``interval_s`` while the store is open (an idle worker
        still forgets an erased face)."""
        ref = weakref.ref(self)
        stop = self._stop_polling = threading.Event()

        def run() -> None:
            while not stop.wait(interval_s):
                g = ref()
                if g is None or g.store.closed:
                    return
                try:
                    g.sync()
                except Exception as exc:     # the database away for a moment: the next poll or search retries
                    log.warning("duplicate-face gallery feed poll failed: %s", type(exc).__name__)
                del g

        self._poller = threading.Thread(target=run, name="gallery-feed", daemon=True)
        self._poller.start()

    def stop_polling(self) -> None:
        """Stop the feed poller (if one runs) and wait for its last poll to end."""
        self._stop_polling.set()
        if self._poller is not None:
            self._poller.join()
            self._poller = None

    # -- FaceGallery --------------------------------------------------------------------------------
    def lock(self, tx) -> None:
        """The gallery lock (PostgreSQL: an advisory transaction lock; SQLite: the transaction's write lock),
        then the feed: every change committed before it is in the index when the decision searches."""
        _pg_xact_lock(tx, _PG_LOCK_GALLERY, 0)
        self.sync(tx)

    def search(self, template: np.ndarray, id_hash: str) -> DedupResult:
        return check_duplicate(self.index, [template], id_hash, self.policy)

    def confirm(self, refs: list[str], tx=None) -> set[str]:
        if self.in_db:   # the gallery is a table of the same database: nothing can be stale
            return set(refs)
        q = select(RegSession.id).where(RegSession.id.in_(refs), RegSession.status == "approved")
        if tx is not None:   # inside the decision (SQLite: a second session would wait for this one's write lock)
            ok = set(tx.execute(q).scalars())
        else:
            with self.store.session() as db:
                ok = set(db.execute(q).scalars())
        with self._apply:
            for ref in set(refs) - ok:
                self.index.remove(ref)
        return ok

    def enrol(self, tx, ref: str, id_hash: str, template: np.ndarray) -> None:
        if self.in_db:
            self.index.add(ref, id_hash, template, conn=tx.connection())   # type: ignore[call-arg]
        else:   # the index learns it once committed (a rolled-back decision enrols nothing); the caller holds the lock
            seq = tx.execute(insert(GalleryChange).values(op="add", ref_id=ref, created_at=utcnow())
                             .returning(GalleryChange.seq)).scalar_one()
            self._mine(tx)["add"].append((ref, id_hash, np.asarray(template, dtype=np.float32), seq))

    def erase(self, tx, refs: Iterable[str]) -> None:
        refs = list(refs)
        if self.in_db:
            for ref in refs:
                self.index.remove(ref, conn=tx.connection())   # type: ignore[call-arg]
        elif refs:
            _pg_xact_lock(tx, _PG_LOCK_GALLERY, 0)     # feed rows only under the lock: seq order = commit order
            tx.execute(insert(GalleryChange), [{"op": "remove", "ref_id": r, "created_at": utcnow()} for r in refs])
            self._mine(tx)["remove"].extend(refs)


def approved_rows(store: Store, refs: Iterable[str] | None = None, db=None) -> list[Row]:
    """(session id, id_hash, registration template) for every approved session (or those of ``refs``), decrypted."""
    if refs is not None:
        refs = list(refs)
        if not refs:
            return []
    if db is None:
        with store.session() as own:
            return approved_rows(store, refs, own)
    q = (select(RegSession.id_hash, Template).join(Template, Template.session_id == RegSession.id)
         .where(RegSession.status == "approved"))
    chunks = [None] if refs is None else [refs[i:i + 500] for i in range(0, len(refs), 500)]
    by: dict[str, dict] = {}
    for chunk in chunks:
        for h, row in db.execute(q if chunk is None else q.where(RegSession.id.in_(chunk))):
            e = by.setdefault(row.session_id, {"h": h, "portrait": [], "live": []})
            e["portrait" if row.kind == "portrait" else "live"].append(np.frombuffer(store.unseal(row), dtype=np.float32))
    return [(sid, e["h"], enrolment_template([e["portrait"][0], enrolment_template(e["live"])]))
            for sid, e in by.items() if e["portrait"] and e["live"]]
