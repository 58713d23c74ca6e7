"""The :class:`Store` facade: engine + keys + crypto, API keys, policy, retention and erasure."""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, event, func, or_, select, update
from sqlalchemy.orm import Session

from ..errors import IdmatchError
from ..settings import Settings
from . import audit
from .anchor import Anchor
from .crypto import Crypto
from .db import make_engine, make_sessionmaker, migrate
from .keys import load_or_create
from .models import (ApiKey, GalleryChange, IdempotencyRecord, LineActivation, PolicyRow, RegSession, StoredImage,
                     Template, utcnow)

log = logging.getLogger(__name__)

ROLES = ("clerk", "reviewer", "auditor", "admin")
_HEAD = "idmatch.audit_head"     # Session.info key: the last (seq, hash) this transaction appended
SYSTEM_ACTOR = "system"
# the gallery's change feed is kept this long; a worker that has not read it for a day reloads the gallery
# (service/ports.py FEED_STALE_S), so six days of margin cover clock skew and a purge run at any hour
FEED_KEEP_DAYS = 7


class NotFoundError(IdmatchError):
    code = "not_found"
    http_status = 404


class BadScopeError(IdmatchError):
    code = "bad_scope"
    http_status = 422


SCOPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
#: roles whose keys may carry a scope: a clerk works for one store; reviewers, auditors and admins see all
SCOPED_ROLES = ("clerk",)


def check_scope(role: str, scope: str | None) -> str | None:
    """A key's store/operator scope: letters, digits and ``._:-``, at most 64; clerk keys only."""
    if scope is None or scope == "":
        return None
    if role not in SCOPED_ROLES:
        raise BadScopeError(f"a {role} key is not scoped (only {', '.join(SCOPED_ROLES)} keys are)", code="scope_not_allowed")
    if not SCOPE_RE.fullmatch(scope):
        raise BadScopeError("a scope is 1-64 characters: letters, digits and . _ : - (e.g. store-0571)")
    return scope


@dataclass
class NewKey:
    id: str
    secret: str
    role: str
    label: str
    scope: str | None = None


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Store:
    def __init__(self, settings: Settings, *, run_migrations: bool = True):
        self.settings = settings
        if not settings.database_url:
            settings.ensure_data_dir()
        self.keys, self.keys_created = load_or_create(settings.effective_keys_file)
        self.erase_hooks: list = []   # callables (db, session_ids, id_hash) run inside the erasure transaction
        self.closed = False
        self.crypto = Crypto(self.keys)
        self.engine = make_engine(settings.effective_database_url)
        self.sessionmaker = make_sessionmaker(self.engine)
        # the chain head goes to a file outside the database after each commit that appended events
        self.anchor = Anchor.for_settings(settings)
        event.listen(self.sessionmaker, "after_commit", self._anchor_after_commit)
        event.listen(self.sessionmaker, "after_rollback", lambda db: db.info.pop(_HEAD, None))
        if run_migrations:
            migrate(self.engine)
        self._tighten_permissions()

    def _tighten_permissions(self) -> None:
        """The data dir 0700 and the SQLite files 0600 — also when they already existed with looser modes
        (``mkdir(mode=0o700, exist_ok=True)`` leaves an existing 0755 directory alone). SQLite gives its
        -wal/-shm files the database file's mode."""
        paths: list[tuple[Path, int]] = []
        if not self.settings.database_url:
            paths.append((self.settings.data_dir, 0o700))
        if self.dialect == "sqlite" and self.engine.url.database:
            db = Path(self.engine.url.database)
            paths += [(p, 0o600) for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"))]
        for path, mode in paths:
            try:
                if path.exists() and path.stat().st_uid == os.getuid() and (path.stat().st_mode & 0o777) != mode:
                    os.chmod(path, mode)
                    log.info("tightened %s to %o", path, mode)
            except OSError as exc:
                log.warning("could not set %s to mode %o: %s", path, mode, exc)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self.sessionmaker()

    def audit(self, db: Session, type_: str, *, actor: str, session_id: str | None = None, payload: dict | None = None):
        ev = audit.append(db, self.keys.audit_key, type_, actor=actor, session_id=session_id, payload=payload)
        db.info[_HEAD] = (ev.seq, ev.hash)
        return ev

    def _anchor_after_commit(self, db: Session) -> None:
        head = db.info.pop(_HEAD, None)
        if head is None:
            return
        try:
            self.anchor.record(*head)
        except (OSError, ValueError) as exc:   # the commit stands; the anchor lags until the next one
            log.error("could not append the audit head %d to the anchor %s: %s", head[0], self.anchor.path, exc)

    def verify_audit(self) -> audit.ChainReport:
        """The chain, its external anchor, and a decision event for every decided session."""
        with self.session() as db:
            rep = audit.verify_chain(db, self.keys.audit_key)
            audit.check_anchor(db, self.anchor, rep)
            audit.check_decided_sessions(db, rep)
            return rep

    def close(self) -> None:
        self.closed = True        # background readers (the gallery's change-feed poller) stop
        self.engine.dispose()

    # -- API keys ---------------------------------------------------------------------------------
    def create_key(self, role: str, label: str = "", *, scope: str | None = None, actor: str = SYSTEM_ACTOR) -> NewKey:
        if role not in ROLES:
            raise IdmatchError(f"unknown role {role!r}; one of {', '.join(ROLES)}", code="bad_role")
        scope = check_scope(role, scope)
        kid = "key_" + secrets.token_hex(6)
        secret = f"idm_{kid[4:]}_{secrets.token_urlsafe(32)}"
        with self.session() as db, db.begin():
            db.add(ApiKey(id=kid, key_hash=hash_api_key(secret), role=role, label=label, scope=scope, created_by=actor))
            self.audit(db, "api_key_created", actor=actor, payload={"key_id": kid, "role": role, "label": label,
                                                                     "scope": scope})
        return NewKey(kid, secret, role, label, scope)

    def revoke_key(self, kid: str, *, actor: str = SYSTEM_ACTOR) -> ApiKey:
        with self.session() as db, db.begin():
            k = db.get(ApiKey, kid)
            if k is None:
                raise NotFoundError(f"no API key {kid}", code="key_not_found")
            if k.revoked_at is None:
                k.revoked_at = utcnow()
                self.audit(db, "api_key_revoked", actor=actor, payload={"key_id": kid, "role": k.role})
            return k

    def list_keys(self) -> list[ApiKey]:
        with self.session() as db:
            return list(db.execute(select(ApiKey).order_by(ApiKey.created_at)).scalars())

    def lookup_key(self, secret: str) -> ApiKey | None:
        with self.session() as db:
            k = db.execute(select(ApiKey).where(ApiKey.key_hash == hash_api_key(secret))).scalar_one_or_none()
        return k if k is not None and k.revoked_at is None else None

    def has_admin(self) -> bool:
        with self.session() as db:
            return bool(db.execute(select(func.count()).select_from(ApiKey).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None))).scalar())

    # -- policy -----------------------------------------------------------------------------------
    def load_policy_overrides(self) -> dict:
        with self.session() as db:
            row = db.get(PolicyRow, 1)
            return dict(row.data) if row else {}

    def save_policy_overrides(self, data: dict, changed: dict, *, actor: str) -> None:
        with self.session() as db, db.begin():
            row = db.get(PolicyRow, 1)
            if row is None:
                db.add(PolicyRow(id=1, data=data))
            else:
                row.data = data
                row.updated_at = utcnow()
            self.audit(db, "policy_changed", actor=actor, payload={"changed": changed})

    # -- retention and erasure --------------------------------------------------------------------
    def purge(self, now: dt.datetime | None = None, *, actor: str = SYSTEM_ACTOR) -> dict:
        """Delete expired retained images, expire stale undecided sessions (with their templates), old idempotency
        records and old rows of the gallery's change feed."""
        now = now or utcnow()
        with self.session() as db, db.begin():
            n_img = db.execute(delete(StoredImage).where(StoredImage.expires_at <= now)).rowcount
            stale = list(db.execute(select(RegSession.id).where(
                RegSession.expires_at <= now, RegSession.status.in_(("awaiting_portrait", "awaiting_live")))).scalars())
            n_tpl = 0
            if stale:
                n_tpl = db.execute(delete(Template).where(Template.session_id.in_(stale))).rowcount
                db.execute(delete(StoredImage).where(StoredImage.session_id.in_(stale)))
                db.execute(update(RegSession).where(RegSession.id.in_(stale)).values(status="expired"))
            n_idem = db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at <= now - dt.timedelta(days=1))).rowcount
            # the gallery's change feed: a worker that has not read it for FEED_STALE_S reloads the whole
            # gallery instead (service/ports.py), so rows older than FEED_KEEP_DAYS are read by no one
            n_feed = db.execute(delete(GalleryChange).where(
                GalleryChange.created_at <= now - dt.timedelta(days=FEED_KEEP_DAYS))).rowcount
            result = {"images_deleted": n_img, "sessions_expired": len(stale), "templates_deleted": n_tpl,
                      "idempotency_deleted": n_idem, "feed_rows_deleted": n_feed}
            self.audit(db, "retention_purge", actor=actor, payload=result)
        self.compact()
        return result

    def erase_subject(self, doc_type: str, number: str, *, actor: str = SYSTEM_ACTOR) -> dict:
        """Delete every session, template, image and line record of one data subject; leave a tombstone."""
        h = self.crypto.id_hash(doc_type, number)
        return self._erase(select(RegSession.id).where(RegSession.id_hash == h), h, actor=actor)

    def erase_session(self, session_id: str, *, actor: str = SYSTEM_ACTOR) -> dict:
        with self.session() as db:
            s = db.get(RegSession, session_id)
            if s is None:
                raise NotFoundError(f"no session {session_id}", code="session_not_found")
            h = s.id_hash
        return self._erase(select(RegSession.id).where(RegSession.id_hash == h), h, actor=actor)

    def _erase(self, sessions_q, id_hash: str, *, actor: str) -> dict:
        with self.session() as db, db.begin():
            ids = list(db.execute(sessions_q).scalars())
            n_tpl = n_img = 0
            if ids:
                n_tpl = db.execute(delete(Template).where(Template.session_id.in_(ids))).rowcount
                n_img = db.execute(delete(StoredImage).where(StoredImage.session_id.in_(ids))).rowcount
            n_lines = db.execute(delete(LineActivation).where(LineActivation.id_hash == id_hash)).rowcount
            for hook in self.erase_hooks:
                hook(db, ids, id_hash)
            if ids:
                # stored responses for retries hold the whole session JSON: not kept until a purge a day later
                for i in range(0, len(ids), 100):
                    db.execute(delete(IdempotencyRecord).where(or_(*[IdempotencyRecord.body.contains(sid)
                                                                     for sid in ids[i:i + 100]])))
                db.execute(delete(RegSession).where(RegSession.id.in_(ids)))
            result = {"sessions": len(ids), "templates": n_tpl, "images": n_img, "lines": n_lines}
            # Tombstone: counts and session ids only — the subject can no longer be identified from it.
            self.audit(db, "subject_erased", actor=actor, payload={**result, "session_ids": ids})
        self.compact()
        return result

    # -- key rotation -----------------------------------------------------------------------------
    def rekey(self, *, drop_old: bool = False, actor: str = SYSTEM_ACTOR, batch: int = 500) -> dict:
        """Add a new AES key, make it active, re-encrypt every template and image under it.

        The keys file is saved (old keys kept) before any row changes, so a crash part-way leaves
        every row readable; rerunning finishes the job. ``drop_old`` then removes retired keys.
        """
        path = self.settings.effective_keys_file
        old_ids = set(self.keys.enc_keys)
        new_id = self.keys.add_enc_key()
        self.keys.save(path)
        counts = {"templates": 0, "images": 0}
        for model, name in ((Template, "templates"), (StoredImage, "images")):
            while True:
                with self.session() as db, db.begin():
                    rows = list(db.execute(select(model).where(model.key_id != new_id).limit(batch)).scalars())
                    for r in rows:
                        self.seal(r, self.unseal(r))
                    counts[name] += len(rows)
                if len(rows) < batch:
                    break
        if drop_old:
            for k in old_ids:
                self.keys.enc_keys.pop(k, None)
            self.keys.save(path)
        with self.session() as db, db.begin():
            self.audit(db, "encryption_rekeyed", actor=actor,
                       payload={"new_key_id": new_id, "retired": sorted(old_ids) if drop_old else [], **counts})
        return {"new_key_id": new_id, "dropped": sorted(old_ids) if drop_old else [], **counts}

    # -- encrypted blobs: the one place that knows the scheme (AES-GCM, bound to the row) --------
    def seal(self, row: Template | StoredImage, data: bytes) -> Template | StoredImage:
        """Encrypt ``data`` into ``row`` under the active key, bound to its session, kind and frame."""
        row.key_id, row.blob = self.crypto.encrypt(data, _row_aad(row))
        return row

    def unseal(self, row: Template | StoredImage) -> bytes:
        return self.crypto.decrypt(row.key_id, row.blob, _row_aad(row))

    def compact(self) -> None:
        """Make deletions physical: SQLite checkpoints the WAL (secure_delete zeroes freed pages)."""
        if self.dialect == "sqlite":
            raw = self.engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cur.close()
            finally:
                raw.close()


def blob_aad(session_id: str, what: str, kind: str, frame: int) -> bytes:
    """Associated data binding an encrypted blob to its row: a blob moved to another session fails to decrypt."""
    return f"idmatch|{what}|{session_id}|{kind}|{frame}".encode()


def _row_aad(row: Template | StoredImage) -> bytes:
    return blob_aad(row.session_id, "template" if isinstance(row, Template) else "image", row.kind, row.frame)


def bootstrap(settings: Settings) -> tuple[Store, NewKey | None]:
    """Open (creating on first run) the store; create the first admin key if there is none."""
    store = Store(settings)
    new_admin = None
    if not store.has_admin():
        new_admin = store.create_key("admin", "bootstrap admin")
    return store, new_admin


def data_files(settings: Settings) -> list[Path]:
    db = settings.data_dir / "idmatch.db"
    return [p for p in (db, db.with_name(db.name + "-wal")) if p.exists()]
