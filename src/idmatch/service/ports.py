"""The decision layer's ports (:mod:`idmatch.decision.ports`) over the service's ``Store``."""
from __future__ import annotations

import hashlib
import logging
from typing import Iterable

import numpy as np
from sqlalchemy import func, select, text

from ..fraud.dedup import DedupPolicy, DedupResult, check_duplicate, dedup_policy, enrolment_template
from ..fraud.gallery import GalleryIndex, Row
from ..fraud.select import make_index
from ..store.models import LineActivation, RegSession, Template
from ..store.store import Store

log = logging.getLogger(__name__)

# PostgreSQL advisory-lock namespaces (the two-int4 key space; the migration lock uses the bigint one)
_PG_LOCK_IDENTITY = 74202
_PG_LOCK_GALLERY = 74203


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
    """:class:`~idmatch.decision.ports.FaceGallery`: pgvector inside the service's database on
    PostgreSQL, otherwise an in-process index rebuilt from the approved sessions' encrypted templates."""

    def __init__(self, store: Store, index: GalleryIndex, policy: DedupPolicy):
        self.store, self.index, self.policy = store, index, policy
        self.in_db = index.kind == "pgvector"

    @classmethod
    def open(cls, store: Store, settings) -> "StoreGallery":
        """The gallery the settings ask for (``dedup_backend``, ``dedup_gallery_size``, ``dedup_fpir``, ``dedup_threads``)."""
        index = make_index(settings.dedup_backend, settings.dedup_gallery_size, engine=store.engine,  # type: ignore[arg-type]
                           threads=settings.dedup_threads)
        if index.kind != "pgvector":
            n = index.rebuild(approved_rows(store))
            if hasattr(index, "freeze"):
                index.freeze()          # the int8 snapshot before the first request, not during it
            log.info("duplicate-face gallery (%s) rebuilt from %d approved registrations", index.kind, n)
        return cls(store, index, dedup_policy(settings.dedup_gallery_size, settings.dedup_fpir))

    def lock(self, tx) -> None:
        _pg_xact_lock(tx, _PG_LOCK_GALLERY, 0)

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
        for ref in set(refs) - ok:
            self.index.remove(ref)
        return ok

    def enrol(self, tx, ref: str, id_hash: str, template: np.ndarray) -> None:
        if self.in_db:
            self.index.add(ref, id_hash, template, conn=tx.connection())   # type: ignore[call-arg]
        else:
            self.index.add(ref, id_hash, template)

    def erase(self, tx, refs: Iterable[str]) -> None:
        for ref in refs:
            if self.in_db:
                self.index.remove(ref, conn=tx.connection())   # type: ignore[call-arg]
            else:
                self.index.remove(ref)


def approved_rows(store: Store) -> list[Row]:
    """(session id, id_hash, registration template) for every approved session, decrypted."""
    by: dict[str, dict] = {}
    with store.session() as db:
        q = (select(RegSession.id_hash, Template).join(Template, Template.session_id == RegSession.id)
             .where(RegSession.status == "approved"))
        for h, row in db.execute(q):
            e = by.setdefault(row.session_id, {"h": h, "portrait": [], "live": []})
            e["portrait" if row.kind == "portrait" else "live"].append(np.frombuffer(store.unseal(row), dtype=np.float32))
    return [(sid, e["h"], enrolment_template([e["portrait"][0], enrolment_template(e["live"])]))
            for sid, e in by.items() if e["portrait"] and e["live"]]
