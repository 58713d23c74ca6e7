"""The decision layer on plain objects: no database, no HTTP, no models."""
from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np

from idmatch.decision import DecisionContext, DecisionPolicy, Policy, Reason, audit_details, combine
from idmatch.decision.stages import DuplicateFaceStage, LinesStage, LivenessStage, MatchStage, QualityStage
from idmatch.decision.stages.quality import judge
from idmatch.fraud.dedup import DedupMatch, DedupPolicy, DedupResult
from idmatch.liveness import ChallengeResult, LivenessResult
from idmatch.quality import QualityReport
from idmatch.quality.feedback import Feedback


def test_import_pulls_in_neither_fastapi_nor_sqlalchemy():
    code = ("import idmatch.decision, idmatch.decision.stages, sys; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('fastapi', 'sqlalchemy')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_combine_fail_beats_review_beats_pass():
    r = lambda o: Reason("s", "c", o)  # noqa: E731
    assert combine([r("pass"), r("info")]) == "approved"
    assert combine([r("pass"), r("review"), r("info")]) == "review"
    assert combine([r("review"), r("fail")]) == "rejected"
    assert combine([]) == "approved"


def test_audit_details_keeps_numbers_and_short_codes_only():
    d = {"score": np.float32(0.5), "codes": ["a", "b"], "hits": [{"ref": "s1", "score": 0.9}], "ok": True,
         "template": np.zeros(128, np.float32), "blob": b"\x00" * 8, "text": "x" * 200, "none": None}
    assert audit_details(d) == {"score": 0.5, "codes": ["a", "b"], "hits": [{"ref": "s1", "score": 0.9}], "ok": True, "none": None}


class _Stage:
    def __init__(self, name, outcome):
        self.name, self.outcome = name, outcome

    def on_portrait(self, ctx):
        return []

    def on_live(self, ctx):
        return [Reason(self.name, "x", self.outcome)]


def test_advisory_stage_is_recorded_but_cannot_decide():
    dp = DecisionPolicy([_Stage("duplicate_face", "fail"), _Stage("match", "pass")])
    ctx = DecisionContext(policy=Policy(advisory_stages=["duplicate_face"]), engine=None)
    reasons = dp.on_live(ctx)
    assert combine(reasons) == "approved"
    assert reasons[0].outcome == "info" and reasons[0].details == {"advisory": True, "would_be": "fail"}
    assert combine(dp.on_live(DecisionContext(policy=Policy(), engine=None))) == "rejected"


def _report(overall, codes=(), floor=40.0, blocking=("multiple_faces",)):
    return QualityReport(overall=overall, passed=not codes and overall >= floor, profile="live", measures=[],
                         feedback=[Feedback(c, "m", "advice") for c in codes], floor=floor, blocking_codes=tuple(blocking))


def test_quality_judge():
    assert judge(_report(80), "live").code == "quality_ok"
    adv = judge(_report(80, ["head_pose"]), "portrait")
    assert (adv.code, adv.outcome, adv.details["codes"]) == ("quality_advice", "info", ["head_pose"])
    low = judge(_report(80, ["multiple_faces"]), "live")
    assert (low.code, low.outcome) == ("quality_too_low", "review")
    assert judge(_report(10), "live").outcome == "review"
    # reports already made are judged, not recomputed
    ctx = DecisionContext(policy=Policy(), engine=None, live=[object()], quality={"live": _report(80)})
    assert QualityStage().on_live(ctx)[0].details == {"role": "live", "codes": [], "score": 80.0, "frame": 0}


class _Engine:
    model_id = "m"
    calibration = SimpleNamespace(name="cal")

    def compare(self, a, b, fmr):
        b = getattr(b, "template", b)  # the match stage passes the live analysis (its capture class picks the threshold)
        return float(a @ b), 0.5, float(a @ b) >= 0.5


def _ctx(live_scores, **kw):
    p = np.array([1.0, 0.0])
    live = [SimpleNamespace(template=np.array([s, 0.0])) for s in live_scores]
    return DecisionContext(policy=kw.pop("policy", Policy(review_margin=0.05)), engine=_Engine(), portrait_template=p,
                           live=live, **kw)


def test_match_weakest_frame_decides():
    (r,) = MatchStage().on_live(_ctx([0.9, 0.6]))
    assert r.code == "face_match" and r.details["score"] == 0.6 and r.details["frame_scores"] == [0.9, 0.6]
    assert MatchStage().on_live(_ctx([0.9, 0.47]))[0].code == "face_match_uncertain"
    assert MatchStage().on_live(_ctx([0.9, 0.2]))[0].outcome == "fail"


def test_lines_limit_and_outcome_come_from_the_policy():
    activated, calls = [], []
    counter = SimpleNamespace(count_active_lines=lambda h, tx=None: calls.append(("count", tx, h)) or {"full": 2, "free": 1}[h],
                              lock_identity=lambda tx, h: calls.append(("lock", tx, h)),
                              activate_line=lambda tx, h, sid: activated.append((tx, h, sid)))
    st = LinesStage(counter)
    pol = Policy(max_lines_per_identity=2)
    assert st.on_live(_ctx([1], policy=pol, id_hash="free")) == []     # judged in the decision's transaction
    assert st.in_decision("tx", _ctx([1], policy=pol, id_hash="free"))[0].code == "lines_ok"
    assert calls == [("lock", "tx", "free"), ("count", "tx", "free")]   # locked, then counted in the same tx
    (r,) = st.in_decision("tx", _ctx([1], policy=pol, id_hash="full"))
    assert (r.code, r.outcome, r.details) == ("line_limit_reached", "fail", {"active_lines": 2, "limit": 2})
    pol = Policy(max_lines_per_identity=2, line_limit_outcome="review")
    assert st.in_decision("tx", _ctx([1], policy=pol, id_hash="full"))[0].outcome == "review"
    assert st.in_decision("tx", _ctx([1], policy=pol)) == []          # no identity claimed (stateless): nothing to count
    for decision in ("review", "rejected", "approved"):
        st.on_decided("tx", _ctx([1], id_hash="free", session_id="s1"), decision)
    assert activated == [("tx", "free", "s1")]               # an approval activates one line


class _Gallery:
    def __init__(self):
        self.policy = DedupPolicy(threshold=0.8)
        self.entries = {"stale": 0.95, "real": 0.9}
        self.enrolled = []
        self.locked = []

    def lock(self, tx):
        self.locked.append(tx)

    def search(self, template, id_hash):
        m = [DedupMatch(r, s) for r, s in sorted(self.entries.items(), key=lambda x: -x[1])]
        return DedupResult("review" if m else "clear", 0.8, m)

    def confirm(self, refs, tx=None):
        for r in ("stale",):
            self.entries.pop(r, None)
        return set(refs) - {"stale"}

    def enrol(self, tx, ref, id_hash, template):
        self.enrolled.append((tx, ref, id_hash))


def test_duplicate_face_drops_unconfirmed_hits_and_enrols_approvals():
    g = _Gallery()
    st = DuplicateFaceStage(g)
    assert st.on_live(_ctx([1.0], id_hash="h", session_id="s9")) == []
    (r,) = st.in_decision("tx", _ctx([1.0], id_hash="h", session_id="s9"))
    assert g.locked == ["tx"]
    assert r.code == "duplicate_face" and r.outcome == "review" and r.details["hits"] == [{"ref": "real", "score": 0.9}]
    del g.entries["real"]
    assert st.in_decision("tx", _ctx([1.0], id_hash="h"))[0].code == "no_duplicate"
    st.on_decided("tx", _ctx([1.0], id_hash="h", session_id="s9"), "review")
    st.on_decided("tx", _ctx([1.0], id_hash="h", session_id="s9"), "approved")
    assert g.enrolled == [("tx", "s9", "h")]


def test_liveness_passive_and_active():
    st = LivenessStage(engine=None)
    st._pad = SimpleNamespace(score=lambda a: LivenessResult(score=a.s, threshold=0.5, is_live=a.s >= 0.5, model="pad"))
    ctx = lambda *s: DecisionContext(policy=Policy(review_margin=0.05), engine=None, live=[SimpleNamespace(s=x) for x in s])  # noqa: E731
    # passive: a visible, non-deciding reason says a print could pass, beside the verdict
    only, r = st.on_live(ctx(0.9, 0.7))
    assert (only.code, only.outcome, r.code) == ("liveness_passive_only", "info", "live")
    assert st.on_live(ctx(0.9, 0.47))[1].code == "liveness_uncertain"
    _, r = st.on_live(ctx(0.9, 0.1))
    assert (r.code, r.outcome, r.details["score"]) == ("spoof_suspected", "fail", 0.1)
    res = ChallengeResult(passed=False, reasons=["too_few_frames"], nonce="n", steps=["turn_left"], best_frame_index=0)
    (r,) = st.on_live(DecisionContext(policy=Policy(), engine=None, liveness_mode="active", challenge_result=res))
    assert (r.code, r.outcome, r.details["codes"]) == ("challenge_failed", "fail", ["too_few_frames"])
    res = ChallengeResult(passed=True, reasons=[], nonce="n", steps=["turn_left"])
    assert st.on_live(DecisionContext(policy=Policy(), engine=None, liveness_mode="active", challenge_result=res))[0].code == "challenge_passed"
    none = DecisionContext(policy=Policy(require_liveness=True), engine=None, liveness_mode="active")
    assert st.on_live(none)[0].outcome == "review"


def test_match_stage_also_matches_the_turned_face(engine, shared_data):
    """Morph bridge: the victim's likeness at the frontal frames, the fraudster's own head doing the
    moves. The best frame matches the portrait; the turned frame the challenge hands over does not."""
    from idmatch.decision.stages import MatchStage

    lfw = shared_data / "verification/lfw_deepfunneled/images"
    t = lambda p: engine.analyze(lfw / p).template  # noqa: E731
    portrait = t("Akhmed_Zakayev/Akhmed_Zakayev_0001.jpg")
    best = SimpleNamespace(template=t("Akhmed_Zakayev/Akhmed_Zakayev_0003.jpg"))
    same_turned, other = t("Akhmed_Zakayev/Akhmed_Zakayev_0002.jpg"), t("Mikhail_Gorbachev/Mikhail_Gorbachev_0001.jpg")

    def run(turned):
        cr = ChallengeResult(passed=True, reasons=[], nonce="n", steps=["turn_left"], best_frame_index=0,
                             match_frames=[5], templates={0: best.template, 5: turned})
        ctx = DecisionContext(policy=Policy(), engine=engine, portrait_template=portrait, live=[best],
                              liveness_mode="active", challenge_result=cr)
        return MatchStage().on_live(ctx)[0]

    r = run(other)
    assert (r.code, r.outcome) == ("turned_face_mismatch", "fail") and r.details["score"] >= r.details["threshold"]
    r = run(same_turned)
    assert (r.code, r.outcome) == ("face_match", "pass") and r.details["turned_scores"][0] >= r.details["turned_threshold"]
