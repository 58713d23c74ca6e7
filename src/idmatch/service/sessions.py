"""Registration sessions: create → portrait → live capture → decision, and manual review.

Images are analysed *before* any transaction opens, so a bad upload writes nothing. Every state
change and its audit event(s) commit in one transaction that first locks the session row.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import time
import uuid
from types import SimpleNamespace

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from ..decision import (DecisionContext, Policy, Reason, audit_details, combine, service_policy,
                        stateless_policy)
from ..documents.numbers import check_number
from ..errors import ConfigError, IdmatchError
from ..liveness import REASONS as LIVENESS_REASONS
from ..liveness import Challenge, ChallengeResult, check_challenge
from ..liveness.challenge import MAX_TTL_S
from ..store.models import IdempotencyRecord, RegSession, StoredImage, Template, utcnow
from ..store.store import Store
from . import metrics
from .auth import Principal
from .ports import StoreGallery, StoreLines
from .problems import ApiError
from .schemas import SessionCreate, iso

log = logging.getLogger(__name__)

DECIDED = ("approved", "rejected", "review")
MAX_REISSUES = 10
REVIEW_FRAMES = 4         # live frames kept for a manual review when general image retention is off
REVIEW_IMAGE_DAYS = 30    # ... and at most this long: a review left undecided loses its images at the next purge
OPEN = ("awaiting_portrait", "awaiting_live")


def issue_challenge(ttl_s: float) -> dict:
    """A new active challenge, ``{nonce, steps, instructions, issued_at, expires_at, prompt_at, capture_s}``
    (tests seed it here)."""
    return Challenge.issue(ttl_s=ttl_s).to_dict()


def _active_challenge(ttl_s: float, now: dt.datetime, attempt: int, failures: list) -> dict:
    issued = issue_challenge(min(float(ttl_s), MAX_TTL_S))   # the challenge's own ttl: at most what liveness accepts
    return {"mode": "active", "actions": list(issued["steps"]), "steps": list(issued["steps"]),
            "instructions": list(issued.get("instructions", [])), "nonce": issued["nonce"],
            "issued_at": issued["issued_at"], "expires_at": issued["expires_at"],
            "prompt_at": issued.get("prompt_at"), "capture_s": issued.get("capture_s"),
            "deadline": iso(now + dt.timedelta(seconds=min(float(ttl_s), MAX_TTL_S))),
            "attempt": attempt, "failures": failures}


_NUM = r"\s*-?[0-9][0-9.eE+-]{0,30}\s*"
_FLAT_NUMBERS = re.compile(r"\s*\[(?:" + _NUM + r"(?:," + _NUM + r"){0,9999})?\]\s*")


def parse_frame_times(raw: str | None, n_frames: int) -> list[float] | None:
    """The ``frame_times`` form field: a JSON array of each frame's capture time, seconds from the
    capture start, one per frame. None when absent."""
    if raw is None or raw == "":
        return None
    # a flat array of numbers, checked before json.loads: "[" * 10000 was a RecursionError (500)
    if not _FLAT_NUMBERS.fullmatch(raw):
        raise ApiError(422, "bad_frame_times", "frame_times must be a JSON array of finite numbers "
                                               "(seconds from the capture start, one per frame)")
    try:
        times = json.loads(raw)
        ok = isinstance(times, list) and all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in times)
        times = [float(t) for t in times] if ok else []
    except (ValueError, TypeError, OverflowError):
        ok = False
    if not ok or len(times) != n_frames or not all(np.isfinite(times)) or any(abs(t) > 3600 for t in times):
        raise ApiError(422, "bad_frame_times", f"frame_times must be a JSON array of {n_frames} finite numbers "
                                               "(seconds from the capture start, one per frame)")
    return times


def _redact_reasons(reasons: list[dict], viewer: Principal | None) -> list[dict]:
    if viewer is not None and viewer.sees_all_sessions:
        return reasons
    out = []
    for r in reasons:
        hits = (r.get("details") or {}).get("hits")
        if r.get("stage") == "duplicate_face" and isinstance(hits, list):
            r = {**r, "details": {**r["details"], "hits": [{k: v for k, v in h.items() if k != "ref"} for h in hits]}}
        out.append(r)
    return out


class SessionService:
    def __init__(self, store: Store, engine, settings):
        self.store = store
        self.engine = engine
        self.settings = settings
        gallery = StoreGallery.open(store, settings)
        self.decision_policy = service_policy(engine, StoreLines(store), gallery)
        self.stateless = stateless_policy(engine)     # POST /v1/verify: the same stages, less the storage ones
        store.erase_hooks.append(lambda db, session_ids, id_hash: gallery.erase(db, session_ids))
        try:
            Policy.defaults(settings).check_calibration(engine.calibration)
        except (IdmatchError, ValueError) as exc:
            raise ConfigError(f"the policy defaults from the settings cannot run: {exc} (IDMATCH_FMR and the other "
                              "policy settings, docs/service.md)", code="bad_policy_setting") from exc
        self._bad_stored_fmr_logged = False
        mode = self.policy().liveness_mode
        if mode == "passive":
            log.warning("liveness_mode is 'passive': one frame and the passive PAD only -- a printed photo or a screen "
                        "held up to the camera can pass. Every decision carries the reason liveness_passive_only. "
                        "Set IDMATCH_LIVENESS_MODE=active (the default) for registrations.")

    def policy(self) -> Policy:
        p = Policy.effective(self.settings, self.store.load_policy_overrides())
        try:
            p.check_calibration(self.engine.calibration)
        except IdmatchError as exc:
            # an fmr stored before PUT /v1/policy checked it (or a calibration file swapped under it): the
            # settings' fmr applies, checked at start, rather than a 500 on every decision
            if not self._bad_stored_fmr_logged:
                self._bad_stored_fmr_logged = True
                log.error("stored policy fmr %g cannot run with this calibration (%s); using the default %g until an "
                          "admin sets it again", p.fmr, exc.message, self.settings.fmr)
            p = p.model_copy(update={"fmr": Policy.defaults(self.settings).fmr})
        return p

    # -- helpers ----------------------------------------------------------------------------------
    def _get(self, db: DbSession, sid: str, p: Principal, *, lock: bool = False) -> RegSession:
        """The session, if ``p`` may see it: a clerk key only the sessions created under its scope. Another
        scope's session is 404 like a missing one (not 403), so session ids cannot be probed."""
        q = select(RegSession).where(RegSession.id == sid)
        if lock:
            q = q.with_for_update()
        s = db.execute(q).scalar_one_or_none()
        if s is None or not p.may_see(s.scope):
            raise ApiError(404, "session_not_found", f"no session {sid}")
        return s

    def check_visible(self, sid: str, p: Principal) -> None:
        """404 unless session ``sid`` exists and ``p`` may see it (before work is done on it)."""
        with self.store.session() as db:
            self._get(db, sid, p)

    @staticmethod
    def _check_open(s: RegSession, now: dt.datetime) -> None:
        if s.status == "expired" or (s.status in OPEN and now >= s.expires_at):
            raise ApiError(410, "session_expired", f"session expired at {iso(s.expires_at)}; start a new one")

    def _encrypt_template(self, sid: str, kind: str, frame: int, template: np.ndarray) -> Template:
        return self.store.seal(Template(session_id=sid, kind=kind, frame=frame, model=self.engine.model_id),
                               np.asarray(template, dtype=np.float32).tobytes())

    def _context_from_stored(self, db, s, policy: Policy) -> DecisionContext:
        """A decision context rebuilt from a session's stored (encrypted) templates, for hooks that run
        after the live capture, such as a reviewer's approval."""
        rows = db.execute(select(Template).where(Template.session_id == s.id).order_by(Template.frame)).scalars().all()
        portrait = next((self._decrypt_template(t) for t in rows if t.kind == "portrait"), None)
        live = [SimpleNamespace(template=self._decrypt_template(t)) for t in rows if t.kind == "live"]
        return DecisionContext(policy=policy, engine=self.engine, session_id=s.id, id_hash=s.id_hash,
                               doc_type=s.doc_type, portrait_template=portrait, live=live)

    def _decrypt_template(self, t: Template) -> np.ndarray:
        return np.frombuffer(self.store.unseal(t), dtype=np.float32)

    def _encrypt_image(self, sid: str, kind: str, frame: int, data: bytes, policy: Policy,
                       expires_at: dt.datetime | None = None) -> StoredImage:
        return self.store.seal(StoredImage(session_id=sid, kind=kind, frame=frame,
                                           expires_at=expires_at or utcnow() + dt.timedelta(days=policy.image_retention_days)), data)

    def to_out(self, s: RegSession, now: dt.datetime | None = None, viewer: Principal | None = None) -> dict:
        """The session as a client sees it. Unless ``viewer`` sees every session (a reviewer), the
        duplicate-face reason keeps its scores but not the matched registrations' ids: another applicant's
        session id is not the clerk's to have."""
        now = now or utcnow()
        status = "expired" if s.status in OPEN and now >= s.expires_at else s.status
        review = None
        if s.reviewed_at is not None:
            review = {"outcome": s.status, "reason": s.review_reason or "", "reviewer_key_id": s.reviewer_key_id,
                      "reviewed_at": iso(s.reviewed_at)}
        ch = dict(s.challenge)
        out = {"id": s.id, "status": status, "document_type": s.doc_type, "created_at": iso(s.created_at),
               "expires_at": iso(s.expires_at),
               "challenge": {"nonce": ch["nonce"], "mode": ch.get("mode", "passive"), "actions": ch.get("actions", []),
                             "instructions": ch.get("instructions", []), "deadline": ch["deadline"],
                             "prompt_at": ch.get("prompt_at"), "capture_s": ch.get("capture_s")},
               "decision": s.decision,
               "reasons": _redact_reasons(list(s.reasons or []), viewer) if s.decision else [],
               "decided_at": iso(s.decided_at), "review": review}
        if ch.get("mode") == "active":
            failures = ch.get("failures", [])
            passed = s.live_digest is not None and len(failures) < int(ch.get("attempt", 1))  # decided on a passed challenge
            out["attempts"] = {"used": len(failures) + int(passed), "max": int(ch.get("max_attempts", 3))}
            last = ch.get("last_attempt") or ({"codes": failures[-1]["codes"], "counted": True} if failures else None)
            if last:
                out["last_attempt"] = {"codes": last["codes"], "counted": bool(last.get("counted", True)),
                                       "messages": [LIVENESS_REASONS.get(c, c) for c in last["codes"]]}
        return out

    # -- idempotency ------------------------------------------------------------------------------
    def idem_get(self, p: Principal, key: str | None, digest: str) -> tuple[int, dict] | None:
        if not key:
            return None
        with self.store.session() as db:
            rec = db.get(IdempotencyRecord, (p.key_id, key))
            if rec is None:
                return None
            if rec.request_digest != digest:
                raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
            return rec.status_code, json.loads(rec.body)

    @staticmethod
    def idem_put(db: DbSession, p: Principal, key: str | None, digest: str, status: int, body: dict) -> None:
        if key:
            db.add(IdempotencyRecord(api_key_id=p.key_id, key=key, request_digest=digest, status_code=status,
                                     body=json.dumps(body)))

    # -- create -----------------------------------------------------------------------------------
    def create(self, req: SessionCreate, p: Principal, idem_key: str | None) -> tuple[int, dict]:
        digest = self.store.crypto.digest(b"create\x1f" + req.model_dump_json().encode())
        hit = self.idem_get(p, idem_key, digest)
        if hit:
            return hit
        doc = check_number(req.document.type, req.document.number)   # 422 document_number_invalid; canonical form
        now = utcnow()
        given = req.consent.given_at
        if given.tzinfo is not None:
            given = given.astimezone(dt.timezone.utc).replace(tzinfo=None)
        if given > now + dt.timedelta(minutes=5):
            raise ApiError(422, "consent_in_future", "consent time is in the future")
        policy = self.policy()
        mode = self._resolve_mode(req.liveness_mode, policy)
        expires = now + dt.timedelta(seconds=policy.session_ttl_s)
        ttl = min(policy.session_ttl_s, self.settings.challenge_ttl_s)
        id_hash = self.store.crypto.id_hash(doc.doc_type, doc.number)
        if mode == "active":
            self._check_document_attempts(id_hash, policy, now)
            challenge = _active_challenge(ttl, now, attempt=1, failures=[])
            challenge["max_attempts"] = policy.max_liveness_attempts
        else:
            challenge = {"mode": "passive", "actions": [], "nonce": secrets.token_urlsafe(18),
                         "deadline": iso(now + dt.timedelta(seconds=ttl))}
        sid = str(uuid.uuid4())
        s = RegSession(id=sid, status="awaiting_portrait", doc_type=req.document.type.lower(),
                       id_hash=id_hash,
                       consent_version=req.consent.text_version, consent_at=given, consent_channel=req.consent.channel,
                       challenge=challenge, api_key_id=p.key_id, channel_label=p.label, scope=p.scope, created_at=now,
                       expires_at=expires)
        body = self.to_out(s, now, viewer=p)
        try:
            self._insert_session(s, p, challenge, given, expires, idem_key, digest, body)
        except IntegrityError:
            hit = self.idem_get(p, idem_key, digest)   # a concurrent retry with the same key won
            if hit:
                return hit
            raise
        return 201, body

    def _insert_session(self, s: RegSession, p: Principal, challenge: dict, given, expires, idem_key, digest, body) -> None:
        sid = s.id
        with self.store.session() as db, db.begin():
            db.add(s)
            db.flush()
            self.store.audit(db, "session_created", actor=p.key_id, session_id=sid,
                             payload={"doc_type": s.doc_type, "channel": p.label, "liveness_mode": challenge["mode"],
                                      "expires_at": iso(expires)})
            self.store.audit(db, "consent_recorded", actor=p.key_id, session_id=sid,
                             payload={"text_version": s.consent_version, "given_at": iso(given), "channel": s.consent_channel})
            self.idem_put(db, p, idem_key, digest, 201, body)

    @staticmethod
    def _resolve_mode(requested: str, policy: Policy) -> str:
        """The policy decides; a client may not downgrade an active policy ("either" included) to passive."""
        required = "passive" if policy.liveness_mode == "passive" else "active"
        if requested not in ("auto", required):
            raise ApiError(422, "liveness_mode_not_allowed", f"the policy requires liveness_mode {required!r}")
        return required

    def _check_document_attempts(self, id_hash: str, policy: Policy, now: dt.datetime) -> None:
        """Refuse a registration for a document that failed the challenge too often in the window:
        retrying until a print gets through is an attack, and new sessions must not reset the count."""
        since = now - dt.timedelta(hours=policy.liveness_attempt_window_h)
        with self.store.session() as db:
            rows = db.execute(select(RegSession.challenge).where(RegSession.id_hash == id_hash,
                                                                 RegSession.created_at >= since)).scalars().all()
        failed = sum(len((ch or {}).get("failures", [])) for ch in rows)
        if failed >= policy.max_failed_liveness_per_document:
            raise ApiError(429, "too_many_liveness_attempts",
                           f"this document failed the live check {failed} times in the last "
                           f"{policy.liveness_attempt_window_h} h; registration refused until the window passes",
                           headers={"Retry-After": str(policy.liveness_attempt_window_h * 3600)})

    def get(self, sid: str, p: Principal) -> dict:
        with self.store.session() as db:
            return self.to_out(self._get(db, sid, p), viewer=p)

    # -- portrait ---------------------------------------------------------------------------------
    def attach_portrait(self, sid: str, data: bytes, p: Principal) -> dict:
        digest = self.store.crypto.digest(b"portrait\x1f" + data)
        now = utcnow()
        with self.store.session() as db:
            s = self._get(db, sid, p)
        if s.status in DECIDED:
            raise ApiError(409, "session_decided", "the session is decided and can no longer change")
        self._check_open(s, now)
        if s.status == "awaiting_live" and s.portrait_digest == digest:
            return self.to_out(s, now, viewer=p)          # the same upload again: same outcome
        analysis = self.engine.analyze(data, role="portrait")
        metrics.observe_timings(analysis.timings_ms)
        policy = self.policy()
        ctx = DecisionContext(policy=policy, engine=self.engine, session_id=sid, id_hash=s.id_hash,
                              doc_type=s.doc_type, portrait=analysis)
        reasons = self.decision_policy.on_portrait(ctx)
        with self.store.session() as db, db.begin():
            s = self._get(db, sid, p, lock=True)
            if s.status in DECIDED:
                raise ApiError(409, "session_decided", "the session is decided and can no longer change")
            self._check_open(s, utcnow())
            replaced = s.status == "awaiting_live"
            db.execute(delete(Template).where(Template.session_id == sid, Template.kind == "portrait"))
            db.execute(delete(StoredImage).where(StoredImage.session_id == sid, StoredImage.kind == "portrait"))
            db.add(self._encrypt_template(sid, "portrait", 0, analysis.template))
            # Without general retention the portrait is still held, encrypted, until the decision (at most the
            # session's life): a session sent to manual review keeps it for the reviewer (see attach_live).
            db.add(self._encrypt_image(sid, "portrait", 0, data, policy,
                                       None if policy.retain_images else s.expires_at))
            kept = [r for r in (s.reasons or []) if r.get("stage") == "document"]   # from service.documents
            s.status, s.portrait_digest, s.reasons = "awaiting_live", digest, kept + [r.to_dict() for r in reasons]
            self.store.audit(db, "portrait_attached", actor=p.key_id, session_id=sid, payload={
                "replaced": replaced, "faces_found": analysis.selection.count, "detection_pass": analysis.selection.detection_pass,
                "image_retained": policy.retain_images, "stage_codes": [r.code for r in reasons]})
            out = self.to_out(s, viewer=p)
        h, w = analysis.image.shape[:2]
        out["portrait_face"] = {"box": [round(float(v), 1) for v in analysis.face.box], "image_size": [int(w), int(h)],
                                "rotation": int(analysis.rotation)}
        return out

    # -- live capture and decision ----------------------------------------------------------------
    def attach_live(self, sid: str, frames: list[bytes], nonce: str | None, p: Principal, idem_key: str | None,
                    frame_times: list[float] | None = None) -> dict:
        h = hashlib.sha256(json.dumps(frame_times).encode())
        for f in frames:
            h.update(hashlib.sha256(f).digest())
        digest = self.store.crypto.digest(b"live\x1f" + h.digest())
        idem_digest = hashlib.sha256((digest + sid).encode()).hexdigest()
        hit = self.idem_get(p, idem_key, idem_digest)
        if hit:
            return hit[1]
        now = utcnow()
        with self.store.session() as db:
            s = self._get(db, sid, p)
            portrait_row = db.execute(select(Template).where(Template.session_id == sid, Template.kind == "portrait")).scalar_one_or_none()
        if s.status in DECIDED:
            if s.live_digest == digest:
                return self.to_out(s, now, viewer=p)      # replayed call: the same outcome, nothing recomputed
            raise ApiError(409, "session_decided", "the session is already decided; a decided session is immutable")
        self._check_open(s, now)
        if s.status == "awaiting_portrait" or portrait_row is None:
            raise ApiError(409, "portrait_missing", "attach the ID portrait before the live capture")
        if not nonce or not secrets.compare_digest(nonce, s.challenge.get("nonce", "")):
            raise ApiError(422, "challenge_mismatch", "the live capture must carry this session's challenge nonce")
        if now.isoformat(timespec="seconds") + "Z" > s.challenge["deadline"]:
            if s.challenge.get("mode") != "active":
                raise ApiError(410, "challenge_expired", "the challenge deadline passed; start a new session")
            # a capture that arrives late (a slow network, a clerk who waited) is not the applicant's
            # failure: a fresh challenge in place, not counted
            return self._retry_in_place(sid, nonce, list(s.challenge.get("failures", [])), ["challenge_expired"], p,
                                        idem_key, idem_digest, self.policy(), counted=False)
        if s.challenge.get("mode") == "active" and frame_times is None:
            raise ApiError(422, "frame_times_required", "an active-challenge capture must carry frame_times: "
                                                         "each frame's capture time, seconds from the capture start")
        t0 = time.perf_counter()
        live, challenge_result = self._analyze_live(frames, dict(s.challenge), frame_times)
        for a in live:
            metrics.observe_timings(a.timings_ms)
        policy = self.policy()
        ch = dict(s.challenge)
        if challenge_result is not None and not challenge_result.passed:
            failures = list(ch.get("failures", []))
            counted = challenge_result.reasons != ["challenge_expired"]   # a late capture is not the applicant's failure
            if counted:
                failures.append({"at": iso(now), "codes": list(challenge_result.reasons)})
            if len(failures) < int(ch.get("max_attempts", policy.max_liveness_attempts)):
                return self._retry_in_place(sid, nonce, failures, list(challenge_result.reasons), p, idem_key, idem_digest,
                                            policy, counted=counted, parallax=challenge_result.parallax)
            ch["failures"] = failures                                 # the last attempt: decided below
        ctx = DecisionContext(policy=policy, engine=self.engine, session_id=sid, id_hash=s.id_hash,
                              doc_type=s.doc_type, portrait_template=self._decrypt_template(portrait_row), live=live,
                              portrait_class=next((r["details"].get("capture_class") for r in (s.reasons or [])
                                                   if r.get("code") == "portrait_capture_class"), None),
                              liveness_mode=s.challenge.get("mode", "passive"), challenge_result=challenge_result)
        judged = [Reason(**r) for r in (s.reasons or [])] + self.decision_policy.on_live(ctx)
        with self.store.session() as db, db.begin():
            s = self._get(db, sid, p, lock=True)
            if s.status in DECIDED:  # a concurrent identical call won the race
                if s.live_digest == digest:
                    return self.to_out(s, viewer=p)
                raise ApiError(409, "session_decided", "the session is already decided; a decided session is immutable")
            self._check_open(s, utcnow())
            # lines per identity and the duplicate-face search: judged here, with the identity and the gallery
            # locked (SQLite: this transaction's write lock), so parallel registrations see each other's approvals
            reasons = judged + self.decision_policy.in_decision(db, ctx)
            decision = combine(reasons)
            match = next((r for r in reasons if r.stage == "match"), None)
            for i, a in enumerate(live):
                db.add(self._encrypt_template(sid, "live", i, a.template))
            kept_for_review = self._keep_images(db, sid, frames, decision, policy)
            s.status = s.decision = decision
            s.challenge = ch
            s.reasons = [r.to_dict() for r in reasons]
            s.live_digest = digest
            s.match_score = match.details.get("score") if match else None
            s.decided_at = utcnow()
            by_stage: dict[str, list] = {}
            for r in reasons:
                by_stage.setdefault(r.stage, []).append({"code": r.code, "outcome": r.outcome, **audit_details(r.details)})
            for stage, items in by_stage.items():
                self.store.audit(db, "stage_result", actor=p.key_id, session_id=sid, payload={"stage": stage, "results": items})
            self.decision_policy.on_decided(db, ctx, decision)   # e.g. an approval activates a line, enrols the face
            self.store.audit(db, "decision", actor=p.key_id, session_id=sid, payload={
                "decision": decision, "frame_count": len(frames), "codes": [r.code for r in reasons if r.outcome in ("fail", "review")],
                "policy": {"fmr": policy.fmr, "review_margin": policy.review_margin},
                **({"images_kept_for_review": kept_for_review} if kept_for_review else {})})
            out = self.to_out(s, viewer=p)
            try:
                self.idem_put(db, p, idem_key, idem_digest, 200, out)
                db.flush()
            except IntegrityError:
                raise ApiError(409, "idempotency_conflict", "a concurrent request used the same Idempotency-Key")
        metrics.DECISIONS.labels(decision, "policy").inc()
        log.info("session %s decided %s in %.0f ms", sid, decision, (time.perf_counter() - t0) * 1e3)
        return out

    def reissue_challenge(self, sid: str, p: Principal) -> dict:
        """``POST /v1/sessions/{id}/challenge``: a fresh challenge for an open active session whose
        challenge is about to lapse (the clerk took a while before "Begin"). Not an attempt; audited;
        at most ``MAX_REISSUES`` per session, and only when the current one has under 30 s left, so it
        cannot be used to shop for an easy challenge."""
        now = utcnow()
        policy = self.policy()
        with self.store.session() as db, db.begin():
            s = self._get(db, sid, p, lock=True)
            if s.status in DECIDED:
                raise ApiError(409, "session_decided", "the session is decided and can no longer change")
            self._check_open(s, now)
            old = dict(s.challenge)
            if old.get("mode") != "active":
                raise ApiError(409, "not_active", "only an active challenge is reissued")
            left = (dt.datetime.fromisoformat(old["deadline"].rstrip("Z")) - now).total_seconds()
            if left > 30:
                return self.to_out(s, now, viewer=p)                      # still fresh: the same challenge
            if int(old.get("reissued", 0)) >= MAX_REISSUES:
                raise ApiError(429, "too_many_challenges", "this session asked for too many fresh challenges; start a new one")
            ttl = min(policy.session_ttl_s, self.settings.challenge_ttl_s)
            new = _active_challenge(ttl, now, attempt=int(old.get("attempt", 1)), failures=list(old.get("failures", [])))
            new.update(max_attempts=int(old.get("max_attempts", policy.max_liveness_attempts)),
                       reissued=int(old.get("reissued", 0)) + 1)
            s.challenge = new
            self.store.audit(db, "challenge_reissued", actor=p.key_id, session_id=sid,
                             payload={"reissued": new["reissued"], "seconds_left": round(left, 1)})
            return self.to_out(s, now, viewer=p)

    def _retry_in_place(self, sid: str, nonce: str, failures: list, codes: list[str], p: Principal,
                        idem_key: str | None, idem_digest: str, policy: Policy, *, counted: bool = True,
                        parallax: list | None = None) -> dict:
        """A failed (or late, ``counted=False``) challenge with attempts left: the same session gets a
        fresh challenge (new nonce, steps and schedule); the applicant does not start the registration
        again. Audited."""
        now = utcnow()
        with self.store.session() as db, db.begin():
            s = self._get(db, sid, p, lock=True)
            if s.status in DECIDED or not secrets.compare_digest(nonce, s.challenge.get("nonce", "")):
                raise ApiError(409, "challenge_replaced", "this challenge was already answered; use the session's new challenge")
            self._check_open(s, now)
            old = dict(s.challenge)
            ttl = min(policy.session_ttl_s, self.settings.challenge_ttl_s)
            new = _active_challenge(ttl, now, attempt=len(failures) + 1, failures=failures)
            new["max_attempts"] = int(old.get("max_attempts", policy.max_liveness_attempts))
            new["last_attempt"] = {"codes": list(codes), "counted": counted}
            s.challenge = new
            self.store.audit(db, "liveness_attempt_failed" if counted else "liveness_attempt_not_counted",
                             actor=p.key_id, session_id=sid, payload={
                                 "attempt": len(failures), "max_attempts": new["max_attempts"], "codes": list(codes),
                                 "parallax": audit_details(parallax or [])})
            out = self.to_out(s, now, viewer=p)
            self.idem_put(db, p, idem_key, idem_digest, 200, out)
        metrics.DECISIONS.labels("retry", "liveness").inc()
        return out

    def _analyze_live(self, frames: list[bytes], challenge: dict, frame_times: list[float] | None = None
                      ) -> tuple[list, ChallengeResult | None]:
        """Passive: every frame is analysed (and must hold one face). Active: all frames are decoded and
        judged against the challenge; the face is matched on the challenge's best (frontal, sharp) frame."""
        if challenge.get("mode") != "active":
            return [self.engine.analyze(f, role="live") for f in frames], None
        t0 = time.perf_counter()
        use_passive = self.decision_policy.stage("liveness").pad is not None
        # frames are decoded at the work size (full size only where needed); bad bytes raise here,
        # before anything is written → a problem document, nothing stored
        result = check_challenge(self.engine, Challenge.from_dict(challenge), frames, use_passive=use_passive,
                                 frame_times=frame_times)
        metrics.MODEL_SECONDS.labels(stage="challenge").observe(time.perf_counter() - t0)
        best = result.best_frame_index
        order = ([best] if best is not None else []) + [i for i in range(len(frames)) if i != best]
        first_error = None
        for i in order:
            try:
                source = result.best_frame if i == best and result.best_frame is not None else frames[i]
                return [self.engine.analyze(source, role="live")], result
            except IdmatchError as exc:
                first_error = first_error or exc
        raise first_error  # type: ignore[misc]

    # -- review -----------------------------------------------------------------------------------
    def review_queue(self, limit: int) -> list[dict]:
        with self.store.session() as db:
            rows = db.execute(select(RegSession).where(RegSession.status == "review")
                              .order_by(RegSession.decided_at).limit(limit)).scalars().all()
            return [{"id": s.id, "document_type": s.doc_type, "created_at": iso(s.created_at),
                     "decided_at": iso(s.decided_at), "reasons": list(s.reasons or [])} for s in rows]

    def _keep_images(self, db, sid: str, frames: list[bytes], decision: str, policy: Policy) -> int:
        """Images at the decision. General retention on: every frame, for ``image_retention_days``. Off: a
        session sent to manual review keeps its portrait and a few frames, encrypted, until the review is
        decided (at most ``REVIEW_IMAGE_DAYS``) -- a reviewer cannot judge a face without seeing it; any
        other decision deletes the portrait held since the upload. Returns how many images were kept for review."""
        if policy.retain_images:
            for i, data in enumerate(frames):
                db.add(self._encrypt_image(sid, "live", i, data, policy))
            return 0
        if decision != "review":
            db.execute(delete(StoredImage).where(StoredImage.session_id == sid))
            return 0
        until = utcnow() + dt.timedelta(days=REVIEW_IMAGE_DAYS)
        n = len(frames)
        picks = sorted({round(k * (n - 1) / (REVIEW_FRAMES - 1)) for k in range(REVIEW_FRAMES)}) if n > REVIEW_FRAMES else range(n)
        for i in picks:
            db.add(self._encrypt_image(sid, "live", i, frames[i], policy, until))
        held = db.execute(select(StoredImage).where(StoredImage.session_id == sid, StoredImage.kind == "portrait")).scalars().all()
        for row in held:
            row.expires_at = until
        return len(picks) + len(held)

    def review(self, sid: str, outcome: str, reason: str, p: Principal) -> dict:
        policy = self.policy()  # read before the write transaction (SQLite: one writer at a time)
        with self.store.session() as db, db.begin():
            s = self._get(db, sid, p, lock=True)
            if s.status != "review":
                raise ApiError(409, "not_in_review", f"session is {s.status}, not awaiting review")
            s.status, s.reviewed_at, s.reviewer_key_id, s.review_reason = outcome, utcnow(), p.key_id, reason
            if outcome == "approved":
                # a reviewer's approval is an approval: the stages' decision hooks run as for one decided
                # by policy (a line is activated, the face joins the duplicate-search gallery), in this same transaction
                self.decision_policy.on_decided(db, self._context_from_stored(db, s, policy), "approved")
            # images kept only for the review go with it; images retained by the general policy stay to their expiry
            deleted = 0
            if not policy.retain_images:
                deleted = db.execute(delete(StoredImage).where(StoredImage.session_id == sid)).rowcount or 0
            # The free-text reason stays in the session row; the chain binds it by a keyed digest only.
            self.store.audit(db, "review_decided", actor=p.key_id, session_id=sid,
                             payload={"outcome": outcome, "reason_digest": self.store.crypto.digest(reason.encode()),
                                      **({"images_deleted": deleted} if deleted else {})})
            out = self.to_out(s, viewer=p)
        metrics.DECISIONS.labels(outcome, "review").inc()
        return out

