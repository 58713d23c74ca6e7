"""Document checks on a session: reader / chip / MRZ input checked by ``idmatch.documents``, the
findings kept as the session's ``document`` reasons (combined with the others at the decision), the
reader's or chip's portrait attached as the ID portrait, every check audited.

Raw chip data (DG1, DG2, EF.SOD) and the reader's fields are never stored: only the findings, the
keyed hash the session already holds, and — through the portrait step, only when the policy retains
images — the portrait, encrypted.
"""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select

from ..decision import DecisionContext
from ..documents.chip import TrustStore
from ..documents.findings import Finding
from ..documents.reader import DocumentCheck, claimed_number_finding
from ..documents.substitution import compare_portraits
from ..store.models import RegSession, Template, utcnow
from .auth import Principal
from .problems import ApiError
from .schemas import ConsentIn, DocumentIn, SessionCreate

log = logging.getLogger(__name__)

DECIDED = ("approved", "rejected", "review")
OPEN = ("awaiting_portrait", "awaiting_live")
STAGE = "document"


def trust_folder(settings) -> Path:
    """Where the operator puts CSCA certificates and master lists: ``<data dir>/csca``."""
    return Path(settings.data_dir) / "csca"


def load_trust(settings) -> TrustStore | None:
    folder = trust_folder(settings)
    return TrustStore.from_folder(folder) if folder.is_dir() else None


class DocumentService:
    def __init__(self, sessions):
        self.sessions = sessions            # service.sessions.SessionService
        self.store = sessions.store

    def apply(self, sid: str, check: DocumentCheck, p: Principal, *, document_photo: bytes | None = None) -> dict:
        """Record ``check`` on session ``sid`` (replacing an earlier document check), then attach the
        document's portrait as the ID portrait. Returns ``{"session": ..., "document": ...}``."""
        self.sessions.check_visible(sid, p)       # another scope's session: 404 before any comparison runs
        policy = self.sessions.policy()
        findings: list[Finding] = list(check.findings)
        if document_photo is not None and check.portrait is not None:
            findings.append(compare_portraits(self.sessions.engine, check.portrait, document_photo, fmr=policy.fmr))
        elif check.portrait is not None:   # a page photo attached earlier as the ID portrait is the printed portrait
            stored = self._stored_portrait(sid)
            if stored is not None:
                f = compare_portraits(self.sessions.engine, check.portrait, stored, fmr=policy.fmr, printed_is_template=True)
                if f.details["score"] < 0.9999:     # else the stored portrait is this very image (a repeated chip read)
                    findings.append(f)
        compared = any(f.code in ("portraits_agree", "portrait_substitution_suspected") for f in findings)
        with self.store.session() as db, db.begin():
            s = db.execute(select(RegSession).where(RegSession.id == sid).with_for_update()).scalar_one_or_none()
            if s is None or not p.may_see(s.scope):
                raise ApiError(404, "session_not_found", f"no session {sid}")
            if s.status in DECIDED:
                raise ApiError(409, "session_decided", "the session is decided and can no longer change")
            if s.status == "expired" or (s.status in OPEN and utcnow() >= s.expires_at):
                raise ApiError(410, "session_expired", "session expired; start a new one")
            agrees = self.store.crypto.id_hash(check.number.doc_type, check.number.number) == s.id_hash
            mismatch = claimed_number_finding(check.source, agrees)
            if mismatch is not None:   # "consistent" spoke of the fields the MRZ was compared with, not the typed number
                findings = [mismatch] + [f for f in findings if f.code != "mrz_consistent"]
            ctx = DecisionContext(policy=policy, engine=self.sessions.engine, session_id=sid, id_hash=s.id_hash,
                                  doc_type=s.doc_type)
            reasons = [r.to_dict() for r in self.sessions.decision_policy.stage(STAGE).judge(findings, ctx)]
            s.reasons = [r for r in (s.reasons or []) if r.get("stage") != STAGE] + reasons
            self.store.audit(db, "document_checked", actor=p.key_id, session_id=sid, payload={
                **check.summary(), "codes": [r["code"] for r in reasons], "outcomes": sorted({r["outcome"] for r in reasons}),
                "printed_photo_compared": compared,
                "raw_data_retained": False, "portrait_retained": bool(check.portrait) and policy.retain_images})
        log.info("session %s document check (%s): %s", sid, check.source, [r["code"] for r in reasons])
        out = self.sessions.attach_portrait(sid, check.portrait, p) if check.portrait else self.sessions.get(sid, p)
        return {"session": out, "document": {"source": check.source, "doc_type": check.number.doc_type,
                                             "portrait_from": check.portrait_source, "findings": reasons,
                                             "notes": list(check.notes)}}

    def _stored_portrait(self, sid: str):
        """The template of the portrait already attached to the session (encrypted at rest), or None."""
        import numpy as np

        with self.store.session() as db:
            t = db.execute(select(Template).where(Template.session_id == sid, Template.kind == "portrait")).scalar_one_or_none()
        if t is None:
            return None
        return np.frombuffer(self.store.unseal(t), dtype=np.float32)

    def create_from(self, check: DocumentCheck, consent: dict, liveness_mode: str, p: Principal, *,
                    document_photo: bytes | None = None, idem_key: str | None = None) -> dict:
        """A session whose claimed identity is the document's own number (nothing typed), then
        :meth:`apply`."""
        try:
            req = SessionCreate(document=DocumentIn(type=check.number.doc_type, number=check.number.number),
                                consent=ConsentIn(**consent), liveness_mode=liveness_mode)
        except ValidationError as exc:
            errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()]
            raise ApiError(422, "validation_error", "the request does not match the schema", details={"errors": errors})
        _, body = self.sessions.create(req, p, idem_key)   # a retry with the same key: the same session
        return self.apply(body["id"], check, p, document_photo=document_photo)


def parse_date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "validation_error", f"{field}: expected a date YYYY-MM-DD") from None
