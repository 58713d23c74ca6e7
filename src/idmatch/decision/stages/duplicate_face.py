"""Duplicate face: the applicant's face already registered under another identity → review, with the
matched registration's reference and score only. Approved registrations are enrolled with the decision.

The search runs inside the decision's transaction (``in_decision``) with the gallery locked, and the
enrolment commits in the same transaction, so two registrations of one face under two documents
cannot both search before either has enrolled (issue 14)."""
from __future__ import annotations

import logging

import numpy as np

from ...fraud.dedup import DedupResult, enrolment_template
from ..core import DecisionContext, Reason
from ..ports import FaceGallery

log = logging.getLogger(__name__)


def registration_template(ctx: DecisionContext) -> np.ndarray | None:
    """The registration's gallery template: mean of the ID portrait and the (mean) live capture."""
    if ctx.portrait_template is None or not ctx.live:
        return None
    live = enrolment_template([a.template for a in ctx.live])
    return enrolment_template([ctx.portrait_template, live])


class DuplicateFaceStage:
    name = "duplicate_face"

    def __init__(self, gallery: FaceGallery):
        self.gallery = gallery

    def find(self, template: np.ndarray, id_hash: str, tx=None) -> DedupResult:
        """The search, its hits confirmed: a gallery can hold entries no longer approved (erased
        through another worker, enrolled by a decision whose transaction failed); those are dropped
        and the search repeated."""
        res = self.gallery.search(template, id_hash)
        for _ in range(3):
            refs = [m.ref_id for m in res.matches]
            if not refs:
                return res
            stale = set(refs) - self.gallery.confirm(refs, tx)
            if not stale:
                return res
            log.warning("duplicate-face gallery held %d entr%s no longer approved; dropped",
                        len(stale), "y" if len(stale) == 1 else "ies")
            res = self.gallery.search(template, id_hash)
        return res

    def on_portrait(self, ctx: DecisionContext) -> list[Reason]:
        return []

    def on_live(self, ctx: DecisionContext) -> list[Reason]:
        return []          # judged in the decision's transaction (in_decision)

    def in_decision(self, tx, ctx: DecisionContext) -> list[Reason]:
        tpl = registration_template(ctx)
        if tpl is None or ctx.id_hash is None:
            return []
        self.gallery.lock(tx)
        res = self.find(tpl, ctx.id_hash, tx)
        details = {"threshold": round(self.gallery.policy.threshold, 5),
                   "hits": [{"ref": m.ref_id, "score": round(m.score, 5)} for m in res.matches]}
        if res.decision == "review":
            return [Reason(self.name, "duplicate_face", "review", "the face matches a registration under another identity", details)]
        return [Reason(self.name, "no_duplicate", "pass", "", details)]

    def on_decided(self, tx, ctx: DecisionContext, decision: str) -> None:
        if decision != "approved" or ctx.session_id is None or ctx.id_hash is None:
            return
        tpl = registration_template(ctx)
        if tpl is not None:
            self.gallery.lock(tx)
            self.gallery.enrol(tx, ctx.session_id, ctx.id_hash, tpl)
