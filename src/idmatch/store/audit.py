"""Append-only audit trail as a keyed hash chain.

Each event's ``hash`` is HMAC-SHA256(audit key, prev_hash | seq | ts | type | session | actor | payload).
Appends lock the single ``audit_head`` row, so concurrent writers (threads, workers, PostgreSQL
clients) form one chain, and the event commits in the caller's transaction — a decision and its
event are written together or not at all. :func:`verify_chain` detects edited, deleted, inserted
or reordered events (and a truncated tail, through the head row); :func:`check_anchor` compares the
chain with its head anchored outside the database (:mod:`idmatch.store.anchor`), and
:func:`check_decided_sessions` fails a chain that lacks the decision event of a decided session
(an emptied or shortened chain while decisions exist).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from .models import AuditEvent, AuditHead, RegSession, utcnow

GENESIS = "0" * 64

# Keys never allowed in an audit payload (defence in depth: callers must not pass them anyway).
FORBIDDEN_KEYS = frozenset({"number", "document_number", "template", "image", "embedding", "frames"})


def canonical(payload: dict) -> str:
    bad = FORBIDDEN_KEYS.intersection(payload)
    if bad:
        raise ValueError(f"audit payload must not carry {sorted(bad)}")
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def event_hash(key: bytes, prev_hash: str, seq: int, ts: str, type_: str, session_id: str | None, actor: str, payload: str) -> str:
    msg = "\x1e".join([prev_hash, str(seq), ts, type_, session_id or "", actor, payload]).encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def append(db: Session, key: bytes, type_: str, *, actor: str, session_id: str | None = None, payload: dict | None = None) -> AuditEvent:
    """Add one event to the chain inside the caller's transaction (caller commits)."""
    head = db.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        db.add(head)
        db.flush()
    seq = head.seq + 1
    ts = utcnow().isoformat(timespec="microseconds") + "Z"
    body = canonical(payload or {})
    h = event_hash(key, head.hash, seq, ts, type_, session_id, actor, body)
    ev = AuditEvent(seq=seq, ts=ts, type=type_, session_id=session_id, actor=actor, payload=body, prev_hash=head.hash, hash=h)
    db.add(ev)
    head.seq, head.hash = seq, h
    db.flush()
    return ev


@dataclass
class ChainReport:
    ok: bool
    events: int
    problems: list[str] = field(default_factory=list)
    anchored_seq: int | None = None          # the newest event the external anchor vouches for

    def to_dict(self) -> dict:
        return {"ok": self.ok, "events": self.events, "problems": self.problems[:50], "anchored_seq": self.anchored_seq}

    def add(self, problems: list[str]) -> None:
        self.problems.extend(problems)
        self.ok = not self.problems


def verify_chain(db: Session, key: bytes, batch: int = 5000) -> ChainReport:
    problems: list[str] = []
    prev, expected_seq, n = GENESIS, 1, 0
    last = 0
    while True:
        rows = db.execute(select(AuditEvent).where(AuditEvent.seq >= last + 1).order_by(AuditEvent.seq).limit(batch)).scalars().all()
        if not rows:
            break
        for ev in rows:
            n += 1
            if ev.seq != expected_seq:
                problems.append(f"event {expected_seq} missing (next present is {ev.seq})")
            if ev.prev_hash != prev:
                problems.append(f"event {ev.seq}: prev_hash does not link to the event before it")
            h = event_hash(key, ev.prev_hash, ev.seq, ev.ts, ev.type, ev.session_id, ev.actor, ev.payload)
            if not hmac.compare_digest(h, ev.hash):
                problems.append(f"event {ev.seq}: content does not match its hash (edited)")
            prev, expected_seq, last = ev.hash, ev.seq + 1, ev.seq
    head = db.get(AuditHead, 1)
    if head is None:
        if n:
            problems.append("audit head row missing")
    else:
        if head.seq != last or head.hash != prev:
            problems.append(f"chain ends at event {last} but the head records event {head.seq} (tail deleted or head edited)")
    return ChainReport(ok=not problems, events=n, problems=problems)


def check_anchor(db: Session, anchor, report: ChainReport) -> None:
    """The newest anchored (seq, hash) must be in the chain, unchanged. No anchor file while events
    exist is a failure too: every audited commit writes one."""
    entry, problems = anchor.latest()
    report.add(problems)
    if entry is None:
        if not problems and report.events:
            report.add([f"no audit anchor at {anchor.path}, but the chain has {report.events} events: the anchor "
                        "was removed, or it is kept elsewhere (IDMATCH_AUDIT_ANCHOR_FILE)"])
        return
    report.anchored_seq = entry.seq
    ev = db.get(AuditEvent, entry.seq)
    if ev is None:
        report.add([f"anchored event {entry.seq} (anchored {entry.ts}) is missing: the chain was shortened or emptied"])
    elif not hmac.compare_digest(ev.hash, entry.hash):
        report.add([f"anchored event {entry.seq} has a different hash than anchored {entry.ts}: the chain was rewritten"])


def check_decided_sessions(db: Session, report: ChainReport, limit: int = 5) -> None:
    """Every decided session in the database must have its decision event in the chain."""
    missing = ~exists().where(and_(AuditEvent.session_id == RegSession.id, AuditEvent.type == "decision"))
    q = select(RegSession.id).where(RegSession.decision.is_not(None), missing)
    n = db.execute(select(func.count()).select_from(q.subquery())).scalar_one()
    if n:
        some = list(db.execute(q.limit(limit)).scalars())
        report.add([f"{n} decided session(s) have no decision event in the chain (e.g. {', '.join(some)}): "
                    "events were deleted"])
