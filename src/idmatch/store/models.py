"""Tables. No clear document numbers (only ``id_hash``), no unencrypted templates or images.

Times are naive UTC (``utcnow()``) so SQLite and PostgreSQL round-trip them identically.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)           # public key id (prefix of the key)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)          # SHA-256 of the full secret key
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")             # operator / channel
    scope: Mapped[str | None] = mapped_column(String(64), nullable=True)    # store / operator a clerk key works for (None: unscoped)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class RegSession(Base):
    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(24), index=True)             # awaiting_portrait | awaiting_live | approved | rejected | review
    doc_type: Mapped[str] = mapped_column(String(32))
    id_hash: Mapped[str] = mapped_column(String(64), index=True)            # HMAC-SHA256 of (doc type, number)
    consent_version: Mapped[str] = mapped_column(String(64))
    consent_at: Mapped[dt.datetime] = mapped_column(DateTime)
    consent_channel: Mapped[str] = mapped_column(String(32))
    challenge: Mapped[dict] = mapped_column(JSON)
    api_key_id: Mapped[str] = mapped_column(String(32))
    channel_label: Mapped[str] = mapped_column(String(200), default="")
    scope: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # the creating key's scope
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    portrait_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    live_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # automatic decision
    reasons: Mapped[list | None] = mapped_column(JSON, nullable=True)
    match_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    reviewer_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    review_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Template(Base):
    """A face template, AES-256-GCM encrypted under ``key_id`` (AAD binds it to session, kind, frame)."""
    __tablename__ = "templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))                          # portrait | live
    frame: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class StoredImage(Base):
    """An uploaded image (``kind``: ``portrait`` or ``live`` frame ``frame``), encrypted under ``key_id``, deleted
    at ``expires_at`` by the purge. Kept when the retention policy says so; otherwise only the portrait held
    between its upload and the decision, and, for a session sent to manual review, the portrait and a few
    live frames until the review is decided (``SessionService._keep_images``)."""
    __tablename__ = "images"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    frame: Mapped[int] = mapped_column(Integer, default=0)
    key_id: Mapped[str] = mapped_column(String(16))
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class LineActivation(Base):
    """A SIM line activated for an identity (by keyed hash) — what lines-per-identity counts."""
    __tablename__ = "line_activations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_hash: Mapped[str] = mapped_column(String(64), index=True)
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"), nullable=True)
    channel_label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class GalleryChange(Base):
    """The duplicate-face gallery's change feed: one row per enrolment (``add``) or removal (``remove``), in
    commit order. Each worker keeps an in-process index (exact / exact-int8) and, under the gallery lock,
    applies the rows above the last ``seq`` it applied before every search (service/ports.py). Rows are
    written only under that lock, so ``seq`` order is commit order. No template: an ``add`` is resolved
    against the approved session's own (encrypted) templates, so an erasure leaves nothing here to read."""
    __tablename__ = "gallery_changes"
    __table_args__ = {"sqlite_autoincrement": True}     # never reuse a seq (SQLite rowids otherwise may)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    op: Mapped[str] = mapped_column(String(8))                               # add | remove
    ref_id: Mapped[str] = mapped_column(String(36))                          # the session id
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditEvent(Base):
    """Append-only; ``hash`` = HMAC(audit key, prev_hash || canonical event). No biometrics, no clear IDs."""
    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32))                              # ISO-8601 UTC, hashed as text
    type: Mapped[str] = mapped_column(String(48), index=True)
    session_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    actor: Mapped[str] = mapped_column(String(48))
    payload: Mapped[str] = mapped_column(Text)                               # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the last sequence number and hash; locked while appending (serialises writers)."""
    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    api_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_digest: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


class PolicyRow(Base):
    __tablename__ = "policy"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


Index("ix_line_activations_active", LineActivation.id_hash, LineActivation.deactivated_at)
