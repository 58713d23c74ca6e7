"""The document stage: document-check findings → reasons, each at its default outcome unless the
policy maps the code to another; ``advisory_stages`` makes them info; registered for sessions only."""
from __future__ import annotations

from types import SimpleNamespace

from idmatch.decision import DecisionContext, Policy, combine
from idmatch.decision.stages import DocumentStage, service_policy, stateless_policy
from idmatch.documents.findings import Finding

FINDINGS = [Finding("chip_authenticated", "", {"data_groups": [1, 2]}), Finding("mrz_number_mismatch", "typed ≠ MRZ")]


def _ctx(**policy) -> DecisionContext:
    return DecisionContext(policy=Policy(**policy), engine=None)


def test_defaults_send_a_number_mismatch_to_review():
    reasons = DocumentStage().judge(FINDINGS, _ctx())
    assert [(r.stage, r.code, r.outcome) for r in reasons] == [("document", "chip_authenticated", "pass"),
                                                              ("document", "mrz_number_mismatch", "review")]
    assert reasons[0].details == {"data_groups": [1, 2]} and combine(reasons) == "review"


def test_policy_maps_a_code_to_another_outcome():
    reasons = DocumentStage().judge(FINDINGS, _ctx(document_outcomes={"mrz_number_mismatch": "fail"}))
    assert combine(reasons) == "rejected"


def test_advisory_document_stage_is_recorded_as_info():
    r = DocumentStage().judge(FINDINGS, _ctx(advisory_stages=["document"]))[1]
    assert r.outcome == "info" and r.details["would_be"] == "review"


def test_registered_for_sessions_not_for_the_stateless_path():
    engine = SimpleNamespace()
    assert "document" in [s.name for s in service_policy(engine, lines=None, gallery=None).stages]
    assert "document" not in [s.name for s in stateless_policy(engine).stages]
