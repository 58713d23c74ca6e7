"""Issue 14, finding 7: ``PUT /v1/policy`` accepted values that broke the service (``fmr: 1e-300`` → every
decision a 500), silently disabled face matching (``advisory_stages: ["match"]``), ignored typos and
accepted ``max_lines_per_identity: 1e30``. Each is now a 422 problem and the stored policy is unchanged."""
from __future__ import annotations

import logging

import pytest

from idmatch.decision import Policy
from idmatch.store.models import AuditEvent


def _problem(r, code, status=422):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code
    return r.json()


def _put(svc, body):
    return svc.client.put("/v1/policy", json=body, headers=svc.h("admin"))


def _unchanged(svc, before, n_audit):
    assert svc.client.get("/v1/policy", headers=svc.h("admin")).json() == before
    assert svc.count(AuditEvent, type="policy_changed") == n_audit


@pytest.mark.parametrize("body,code,error_type", [
    ({"advisory_stages": ["match"]}, "validation_error", "stage_not_advisable"),
    ({"advisory_stages": ["liveness"]}, "validation_error", "stage_not_advisable"),
    ({"advisory_stages": ["qualty"]}, "validation_error", "unknown_stage"),
    ({"max_lines_per_identity": 1e30}, "validation_error", None),
    ({"max_lines_per_identity": 1001}, "validation_error", "less_than_equal"),
    ({"max_lines_per_identity": 0}, "validation_error", "greater_than_equal"),
    ({"max_line_per_identity": 1}, "validation_error", "extra_forbidden"),          # a typo
    ({"document_outcomes": {"mrz_numbr_mismatch": "fail"}}, "validation_error", "unknown_document_code"),
    ({"fmr": None}, "validation_error", None),                                       # not nullable
    ({"fmr": 1e-300}, "calibration_insufficient_data", None),
    ({"fmr": 0.5}, "fmr_out_of_range", None),
])
def test_policy_values_that_break_the_service_are_refused(svc, body, code, error_type):
    before = svc.client.get("/v1/policy", headers=svc.h("admin")).json()
    n = svc.count(AuditEvent, type="policy_changed")
    p = _problem(_put(svc, body), code)
    if error_type:
        assert error_type in {e["type"] for e in p["errors"]}, p
    _unchanged(svc, before, n)


def _nullable(prop: dict) -> bool:
    return prop.get("type") == "null" or any(_nullable(p) for p in prop.get("anyOf", []) + prop.get("oneOf", []))


def test_document_and_validator_agree_on_null(svc):
    """Found by the OpenAPI fuzz job: PolicyUpdate's document offered `null` for require_liveness,
    retain_images, liveness_mode, line_limit_outcome, document_outcomes (every field), the validator refused it.
    Now null is offered only where it means something -- liveness_threshold: the model's own threshold --
    and each field's null is accepted exactly when the document offers it."""
    spec = svc.app.openapi()
    props = spec["components"]["schemas"]["PolicyUpdate"]["properties"]
    assert set(props) == set(Policy.model_fields)
    assert {k for k, v in props.items() if _nullable(v)} == {"liveness_threshold"}
    assert not any("default" in v for k, v in props.items() if k != "liveness_threshold")   # no "default: null"
    for field in props:
        before = svc.client.get("/v1/policy", headers=svc.h("admin")).json()
        r = _put(svc, {field: None})
        if _nullable(props[field]):
            assert r.status_code == 200 and r.json()[field] is None, (field, r.text)
            assert _put(svc, {field: before[field]}).status_code == 200
        else:
            p = _problem(r, "validation_error")
            assert [e["loc"] for e in p["errors"]] == [["body", field]], p


def test_document_names_the_stages_and_codes_the_validator_takes(svc):
    """Found by the OpenAPI fuzz job once null was fixed: advisory_stages items and document_outcomes keys
    were any string in the document, while the validator takes only the advisable stages and the known
    document-check codes (unknown_stage / unknown_document_code)."""
    from idmatch.decision.stages import NEVER_ADVISORY, STAGE_NAMES
    from idmatch.documents.findings import DEFAULT_OUTCOMES

    for model in ("PolicyUpdate", "Policy"):
        props = svc.app.openapi()["components"]["schemas"][model]["properties"]
        assert props["advisory_stages"]["items"]["enum"] == [s for s in STAGE_NAMES if s not in NEVER_ADVISORY]
        outcomes = props["document_outcomes"]
        assert set(outcomes["properties"]) == set(DEFAULT_OUTCOMES) and outcomes["additionalProperties"] is False
    r = _put(svc, {"advisory_stages": ["quality", "duplicate_face"], "document_outcomes": {"mrz_number_mismatch": "fail"}})
    assert r.status_code == 200, r.text
    assert _put(svc, {"document_outcomes": {}}).status_code == 200


def test_unknown_stage_lists_the_known_ones(svc):
    p = _problem(_put(svc, {"advisory_stages": ["qualty"]}), "validation_error")
    msg = next(e["msg"] for e in p["errors"] if e["type"] == "unknown_stage")
    for name in ("quality", "liveness", "match", "document", "lines_per_identity", "duplicate_face"):
        assert name in msg


def test_unresolvable_fmr_names_the_calibrations_range(svc):
    lo, hi = svc.app.state.engine.calibration.fmr_range
    p = _problem(_put(svc, {"fmr": lo / 10}), "calibration_insufficient_data")
    assert p["details"]["lowest_supported_fmr"] == pytest.approx(lo)
    r = _put(svc, {"fmr": lo})                 # the strictest calibrated point itself is fine
    assert r.status_code == 200, r.text
    assert _put(svc, {"fmr": 1e-4}).status_code == 200


def test_allowed_advisory_stages_and_bounds_still_work(svc):
    r = _put(svc, {"advisory_stages": ["quality", "document", "lines_per_identity", "duplicate_face"],
                   "max_lines_per_identity": 1000})
    assert r.status_code == 200, r.text
    assert r.json()["max_lines_per_identity"] == 1000
    assert _put(svc, {"advisory_stages": ["quality", "duplicate_face"], "max_lines_per_identity": 5}).status_code == 200


def test_a_stored_policy_from_before_validation_falls_back_to_safe_defaults(svc, caplog):
    """A row written before this check (``advisory_stages: ["match"]``, ``fmr: 1e-300``) must not disable
    matching nor make every decision fail: those fields take their defaults, with an error in the log."""
    from idmatch.decision import policy as policy_module

    policy_module._LOGGED_BAD.clear()         # logged once per process; the other backend's run may have
    overrides = svc.store.load_policy_overrides()
    try:
        svc.store.save_policy_overrides({**overrides, "advisory_stages": ["match", "quality"], "fmr": 1e-300}, {}, actor="test")
        with caplog.at_level(logging.ERROR):
            pol = svc.app.state.sessions.policy()
        assert "match" not in pol.advisory_stages and pol.fmr == pytest.approx(1e-4)
        assert "advisory_stages" in caplog.text and "fmr" in caplog.text
    finally:
        svc.store.save_policy_overrides(overrides, {}, actor="test")


def test_policy_model_refuses_advisory_match_and_liveness():
    for stage in ("match", "liveness"):
        with pytest.raises(ValueError):
            Policy(advisory_stages=[stage])
    assert Policy(advisory_stages=["duplicate_face", "duplicate_face"]).advisory_stages == ["duplicate_face"]


def test_service_refuses_to_start_with_an_unresolvable_fmr_default(request, tmp_path, engine):
    from idmatch.errors import ConfigError

    from .conftest import make_svc

    with pytest.raises(ConfigError):
        make_svc("sqlite", request, tmp_path, engine, {}, fmr=1e-300)
