"""Decision stages that plug the fraud rules into the service (``idmatch.service.decision`` protocol).

* :class:`LinesStage` — lines per identity over the service's ``line_activations`` table (the service
  records an activation when a registration is approved); the limit is the service policy's
  ``max_lines_per_identity``.
* :class:`DuplicateFaceStage` — searches the gallery for the applicant's face under another identity;
  a hit sends the session to ``review`` with the matched *session id* only. Approved registrations are
  enrolled in the decision's transaction (``on_decided``); erasure removes them (``on_erased``).

The gallery is pgvector inside the service's database on PostgreSQL, otherwise an in-process exact
(float32 or int8-scan) or usearch index, rebuilt from the encrypted templates of approved sessions at start-up.

Switch-on: :func:`make_service_stages` builds both; the service picks them up when
``idmatch.fraud.service_stages`` is exported (see docs/fraud.md, "Service integration").
"""
from __future__ import annotations

import logging
import os
from typing import Any, Iterable, Literal

import numpy as np

from .dedup import DedupPolicy, DedupResult, check_duplicate, dedup_policy, enrolment_template
from .gallery import GalleryIndex, Row
from .lines import LineCheck
from .select import make_index

log = logging.getLogger(__name__)

Outcome = Literal["review", "fail"]


def _reason(stage: str, code: str, outcome: str, message: str = "", details: dict | None = None):
    from ..service.decision import Reason

    return Reason(stage, code, outcome, message, details or {})  # type: ignore[arg-type]


def registration_template(ctx: Any) -> np.ndarray | None:
    """The registration's gallery template: mean of the ID portrait and the (mean) live capture."""
    if ctx.portrait_template is None or not ctx.live:
        return None
    live = enrolment_template([a.template for a in ctx.live])
    return enrolment_template([ctx.portrait_template, live])


class LinesStage:
    """Lines per identity on the service's own ``line_activations`` rows (one deployment = one operator)."""

    name = "lines_per_identity"

    def __init__(self, store: Any, outcome: Outcome | None = None):
        """``outcome`` overrides the policy's ``line_limit_outcome`` (default: rejected)."""
        self.store, self.outcome = store, outcome

    def count_active(self, id_hash: str) -> int:
        from sqlalchemy import func, select

        from ..store.models import LineActivation

        with self.store.session() as db:
            return int(db.execute(select(func.count()).select_from(LineActivation).where(
                LineActivation.id_hash == id_hash, LineActivation.deactivated_at.is_(None))).scalar_one())

    def on_portrait(self, ctx):
        return []

    def on_live(self, ctx):
        if ctx.id_hash is None:
            return []
        n = self.count_active(ctx.id_hash)
        limit = ctx.policy.max_lines_per_identity
        chk = LineCheck(n < limit, n, limit, None if n < limit else "line_limit_reached")
        details = {"active_lines": chk.active_lines, "limit": chk.limit}
        if not chk.allowed:
            outcome = self.outcome or getattr(ctx.policy, "line_limit_outcome", "fail")
            return [_reason(self.name, "line_limit_reached", outcome,
                            "identity already holds the maximum number of lines", details)]
        return [_reason(self.name, "lines_ok", "pass", "", details)]


class DuplicateFaceStage:
    name = "duplicate_face"

    def __init__(self, index: GalleryIndex, policy: DedupPolicy, in_db: bool = False, store: Any = None):
        """``store``: the service store, to confirm an in-process gallery's hits against the database."""
        self.index, self.policy, self.in_db, self.store = index, policy, in_db, store

    def on_portrait(self, ctx):
        return []

    def find(self, template: np.ndarray, id_hash: str) -> DedupResult:
        """The duplicate search. An in-process gallery (not pgvector) can hold entries the database no
        longer has as approved — erased through another worker, or enrolled by a decision whose
        transaction then failed — so its hits are confirmed against the database first; an entry
        that fails is dropped from this worker's gallery and the search repeated."""
        res = check_duplicate(self.index, [template], id_hash, self.policy)
        for _ in range(3):
            if not res.matches or self.in_db or self.store is None:
                return res
            refs = [m.ref_id for m in res.matches]
            stale = set(refs) - self._approved(refs)
            if not stale:
                return res
            for ref in stale:
                self.index.remove(ref)
            log.warning("duplicate-face gallery held %d entr%s no longer approved in the database; dropped",
                        len(stale), "y" if len(stale) == 1 else "ies")
            res = check_duplicate(self.index, [template], id_hash, self.policy)
        return res

    def _approved(self, refs: list[str]) -> set[str]:
        from sqlalchemy import select

        from ..store.models import RegSession

        with self.store.session() as db:
            return set(db.execute(select(RegSession.id).where(RegSession.id.in_(refs),
                                                              RegSession.status == "approved")).scalars())

    def on_live(self, ctx):
        tpl = registration_template(ctx)
        if tpl is None or ctx.id_hash is None:
            return []
        res = self.find(tpl, ctx.id_hash)
        details = {"threshold": round(self.policy.threshold, 5),
                   "hits": [{"ref": m.ref_id, "score": round(m.score, 5)} for m in res.matches]}
        if res.decision == "review":
            return [_reason(self.name, "duplicate_face", "review",
                            "the face matches a registration under another identity", details)]
        return [_reason(self.name, "no_duplicate", "pass", "", details)]

    def on_decided(self, db, ctx, decision: str) -> None:
        if decision != "approved" or ctx.session_id is None or ctx.id_hash is None:
            return
        tpl = registration_template(ctx)
        if tpl is None:
            return
        if self.in_db:
            self.index.add(ctx.session_id, ctx.id_hash, tpl, conn=db.connection())   # type: ignore[call-arg]
        else:
            self.index.add(ctx.session_id, ctx.id_hash, tpl)

    def on_erased(self, db, session_ids: Iterable[str], id_hash: str | None) -> None:
        for sid in session_ids:
            if self.in_db:
                self.index.remove(sid, conn=db.connection())   # type: ignore[call-arg]
            else:
                self.index.remove(sid)


def approved_rows(store: Any) -> list[Row]:
    """(session id, id_hash, registration template) for every approved session, decrypted."""
    from sqlalchemy import select

    from ..store.models import RegSession, Template
    from ..store.store import blob_aad

    by: dict[str, dict] = {}
    with store.session() as db:
        q = (select(RegSession.id, RegSession.id_hash, Template.kind, Template.frame, Template.key_id, Template.blob)
             .join(Template, Template.session_id == RegSession.id).where(RegSession.status == "approved"))
        for sid, h, kind, frame, kid, blob in db.execute(q):
            t = np.frombuffer(store.crypto.decrypt(kid, blob, blob_aad(sid, "template", kind, frame)), dtype=np.float32)
            e = by.setdefault(sid, {"h": h, "portrait": [], "live": []})
            e["portrait" if kind == "portrait" else "live"].append(t)
    rows = []
    for sid, e in by.items():
        if e["portrait"] and e["live"]:
            rows.append((sid, e["h"], enrolment_template([e["portrait"][0], enrolment_template(e["live"])])))
    return rows


def make_service_stages(store: Any, backend: str | None = None, gallery_size: int | None = None,
                        fpir: float | None = None, line_outcome: Outcome | None = None) -> list:
    """Both stages for a service ``store``. Defaults come from the environment:
    ``IDMATCH_DEDUP_BACKEND`` (auto|exact|exact-int8|usearch|pgvector), ``IDMATCH_DEDUP_GALLERY_SIZE`` (1000000),
    ``IDMATCH_DEDUP_FPIR`` (0.01), ``IDMATCH_LINE_LIMIT_OUTCOME`` (review|fail), ``IDMATCH_DEDUP_THREADS`` (2, or 1 on a one-core machine: cores one
    gallery search uses; at 1 M templates exact-int8 answers in 8.8 / 16.5 ms p50 / p99 on 2 cores,
    14.8 / 26.7 ms on one)."""
    backend = backend or os.environ.get("IDMATCH_DEDUP_BACKEND", "auto")
    gallery_size = int(gallery_size or os.environ.get("IDMATCH_DEDUP_GALLERY_SIZE", 1_000_000))
    fpir = float(fpir or os.environ.get("IDMATCH_DEDUP_FPIR", 0.01))
    line_outcome = line_outcome or os.environ.get("IDMATCH_LINE_LIMIT_OUTCOME") or None  # type: ignore[assignment]
    threads = int(os.environ.get("IDMATCH_DEDUP_THREADS", min(2, os.cpu_count() or 1)))
    index = make_index(backend, gallery_size, engine=store.engine, threads=threads)  # type: ignore[arg-type]
    in_db = index.kind == "pgvector"
    if not in_db:
        n = index.rebuild(approved_rows(store))
        if hasattr(index, "freeze"):
            index.freeze()          # the int8 snapshot before the first request, not during it
        log.info("duplicate-face gallery (%s) rebuilt from %d approved registrations", index.kind, n)
    return [LinesStage(store, line_outcome), DuplicateFaceStage(index, dedup_policy(gallery_size, fpir), in_db, store)]
