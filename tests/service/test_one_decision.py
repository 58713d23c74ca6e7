"""One decision, one config: every entry point runs the same policy stages; the environment never
overrides an admin's stored policy."""
from __future__ import annotations

import json

from idmatch.cli import main

from .conftest import make_svc, new_number

CLEAN_ID = "quality/face_recognition/obama-1080p.jpg"
TWO = "quality/face_recognition/obama_and_biden.jpg"     # a live capture with two people: below the quality floor


def test_a_low_quality_pair_gets_one_outcome_from_the_cli_the_api_and_a_session(request, tmp_path, engine, shared_data, capsys):
    id_img, live_img = (shared_data / CLEAN_ID).read_bytes(), (shared_data / TWO).read_bytes()
    assert main(["verify", "--json", str(shared_data / CLEAN_ID), str(shared_data / TWO)]) == 2
    cli = json.loads(capsys.readouterr().out)["error"]
    assert cli["code"] == "quality_too_low"

    s = make_svc("sqlite", request, tmp_path, engine, {}, advisory=(), lenient_liveness=False)
    try:
        files = {"id_image": ("a.jpg", id_img, "image/jpeg"), "live_image": ("b.jpg", live_img, "image/jpeg")}
        api = s.client.post("/v1/verify", files=files, headers=s.h("clerk")).json()
        _, r = s.register(id_img, [live_img], number=new_number())
        session = r.json()
    finally:
        s.client.close()
        s.store.close()
    # the engine compares the larger face (not the portrait's): quality sends it to review, the match rejects it
    assert cli["details"]["outcome"] == api["outcome"] == session["decision"] == "rejected"
    codes = lambda reasons: {(x["stage"], x["code"], x["outcome"]) for x in reasons if x["stage"] in ("quality", "liveness", "match")}  # noqa: E731
    assert {("quality", "quality_too_low", "review"), ("match", "face_mismatch", "fail")} <= codes(api["reasons"])
    assert codes(cli["details"]["reasons"]) == codes(api["reasons"])
    assert codes(api["reasons"]) <= codes(session["reasons"])


def test_the_environment_does_not_override_a_stored_policy(request, tmp_path, engine, images, monkeypatch):
    from fastapi.testclient import TestClient

    from idmatch.service.app import create_app
    from idmatch.settings import Settings

    s = make_svc("sqlite", request, tmp_path, engine, images, advisory=("quality", "duplicate_face"))
    r = s.client.put("/v1/policy", json={"line_limit_outcome": "review", "max_lines_per_identity": 1}, headers=s.h("admin"))
    assert r.status_code == 200, r.text
    s.client.close()
    # restart with the environment saying otherwise
    monkeypatch.setenv("IDMATCH_LINE_LIMIT_OUTCOME", "fail")
    monkeypatch.setenv("IDMATCH_MAX_LINES_PER_IDENTITY", "3")
    monkeypatch.setenv("IDMATCH_DEDUP_BACKEND", "exact")
    settings = Settings(data_dir=s.settings.data_dir, database_url=s.settings.database_url, liveness_mode="passive")
    assert settings.line_limit_outcome == "fail" and settings.dedup_backend == "exact"
    app = create_app(settings, engine=engine, store=s.store)
    s.client, s.app = TestClient(app), app
    try:
        pol = s.client.get("/v1/policy", headers=s.h("admin")).json()
        assert pol["line_limit_outcome"] == "review" and pol["max_lines_per_identity"] == 1
        assert app.state.sessions.decision_policy.stage("duplicate_face").gallery.index.kind == "exact"   # the env's own setting
        num = new_number()
        _, r1 = s.register(images["same_a"], [images["same_b"]], number=num)
        assert r1.json()["decision"] == "approved", r1.json()["reasons"]
        _, r2 = s.register(images["same_a"], [images["same_b"]], number=num)
        lines = next(x for x in r2.json()["reasons"] if x["stage"] == "lines_per_identity")
        assert r2.json()["decision"] == "review" and lines["code"] == "line_limit_reached" and lines["outcome"] == "review"
    finally:
        s.client.close()
        s.store.close()
