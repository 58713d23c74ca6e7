"""The active challenge through the service, as the counter runs it by default: a real head that
follows the server's prompt schedule is approved; a failed challenge is replaced in place; failed
attempts per document are limited; an attempt lost to bad input is not counted; passive liveness
is a visible, explicit choice."""
from __future__ import annotations

import json

import cv2
import pytest

from idmatch.liveness import Challenge
from idmatch.liveness.video import sample_frames

from .conftest import make_svc, new_number

D12_STEPS = ["turn_left", "turn_right", "turn_left"]   # what d12 does at 10 frames/s (tests/test_liveness_active.py)
D12_PROMPTS = [0.9, 2.6, 6.0]


@pytest.fixture(scope="module")
def d12(shared_data):
    frames, times = sample_frames(shared_data / "video" / "liveportrait" / "d12.mp4", 10.0)
    jpegs = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for f in frames]
    return jpegs, [round(t, 3) for t in times]


@pytest.fixture()
def active(request, tmp_path, engine, images):
    s = make_svc("sqlite", request, tmp_path, engine, images, advisory=("quality", "duplicate_face"), liveness_mode="active")
    yield s
    s.client.close()
    s.store.close()


def seed_d12(monkeypatch):
    def issue(ttl_s: float) -> dict:
        ch = Challenge.issue(ttl_s=ttl_s)
        ch.steps, ch.prompt_at, ch.capture_s = list(D12_STEPS), list(D12_PROMPTS), 7.2
        return ch.to_dict()
    monkeypatch.setattr("idmatch.service.sessions.issue_challenge", issue)


def test_defaults_are_active_and_passive_is_a_visible_choice(svc):
    from idmatch.decision import Policy
    from idmatch.settings import Settings

    assert Settings().liveness_mode == "active" and Policy().liveness_mode == "active"
    assert Settings().challenge_ttl_s <= 60
    # this module's svc chose passive explicitly: every decision says so
    _, r = svc.register(svc.images["same_a"], [svc.images["same_b"]])
    codes = [x["code"] for x in r.json()["reasons"] if x["stage"] == "liveness"]
    assert "liveness_passive_only" in codes
    v = svc.client.post("/v1/verify", files={"id_image": ("a.jpg", svc.images["same_a"]), "live_image": ("b.jpg", svc.images["same_b"])},
                        headers=svc.h("clerk"))
    if v.status_code == 200 and "reasons" in v.json():   # the stateless path runs the same stages
        assert "liveness_passive_only" in [x["code"] for x in v.json()["reasons"]]


def test_real_head_following_the_schedule_is_approved(active, d12, monkeypatch):
    seed_d12(monkeypatch)
    jpegs, times = d12
    s = active.create().json()
    assert s["challenge"]["mode"] == "active" and s["challenge"]["prompt_at"] == D12_PROMPTS
    assert active.portrait(s["id"], jpegs[0]).status_code == 200     # the clip's first frame stands in for the ID portrait
    r = active.live(s["id"], jpegs, s["challenge"]["nonce"], data={"frame_times": json.dumps(times)})
    assert r.status_code == 200, r.text
    body = r.json()
    live = next(x for x in body["reasons"] if x["stage"] == "liveness")
    match = next(x for x in body["reasons"] if x["stage"] == "match")
    assert live["code"] == "challenge_passed", live
    assert all(p > 0.06 for p in live["details"]["parallax"])
    assert match["code"] == "face_match" and len(match["details"]["turned_scores"]) == 3
    assert body["decision"] == "approved" and body["attempts"] == {"used": 1, "max": 3}


def test_the_same_frames_out_of_time_get_a_new_challenge_in_place(active, d12, monkeypatch):
    seed_d12(monkeypatch)
    jpegs, times = d12
    s = active.create().json()
    active.portrait(s["id"], jpegs[0])
    late = [t + 1.0 for t in times]           # every move now comes before its prompt (or the capture starts late)
    r = active.live(s["id"], jpegs, s["challenge"]["nonce"], data={"frame_times": json.dumps(late)})
    body = r.json()
    assert body["status"] == "awaiting_live" and body["challenge"]["nonce"] != s["challenge"]["nonce"]
    assert body["last_attempt"]["codes"] and body["attempts"]["used"] == 1
    # the fresh challenge, met this time, decides the same session
    r = active.live(s["id"], jpegs, body["challenge"]["nonce"], data={"frame_times": json.dumps(times)})
    assert r.json()["decision"] == "approved", r.json()["reasons"]
    assert r.json()["attempts"] == {"used": 2, "max": 3}


def test_failed_attempts_per_document_are_limited(active, images):
    admin = active.h("admin")
    assert active.client.put("/v1/policy", json={"max_liveness_attempts": 1, "max_failed_liveness_per_document": 2},
                             headers=admin).status_code == 200
    number = new_number()
    for _ in range(2):
        s = active.create(number).json()
        active.portrait(s["id"], images["same_a"])
        r = active.live(s["id"], [images["same_b"]], s["challenge"]["nonce"], data={"frame_times": "[0.0]"})
        assert r.json()["decision"] == "rejected"
    r = active.create(number)
    assert r.status_code == 429 and r.json()["code"] == "too_many_liveness_attempts" and "Retry-After" in r.headers
    assert active.create(new_number()).status_code == 201     # another document is not affected


def test_an_attempt_lost_to_bad_input_is_not_counted(active, images):
    s = active.create().json()
    active.portrait(s["id"], images["same_a"])
    nonce = s["challenge"]["nonce"]
    r = active.live(s["id"], [images["same_b"], images["same_b"][:500]], nonce, data={"frame_times": "[0.0, 0.1]"})
    assert r.status_code == 422 and r.json()["code"] == "bad_image"            # a frame cut off in transit
    r = active.live(s["id"], [images["same_b"]], nonce, data={"frame_times": "[0.0, 0.1]"})
    assert r.status_code == 422 and r.json()["code"] == "bad_frame_times"
    r = active.live(s["id"], [images["same_b"]], nonce, data={"frame_times": "not json"})
    assert r.status_code == 422 and r.json()["code"] == "bad_frame_times"
    again = active.client.get(f"/v1/sessions/{s['id']}", headers=active.h("clerk")).json()
    assert again["attempts"] == {"used": 0, "max": 3} and again["challenge"]["nonce"] == nonce


def test_a_late_capture_gets_a_fresh_challenge_not_counted(active, images, monkeypatch):
    """The clerk waited past the challenge's minute: the capture is answered with a fresh challenge
    in place, marked as not counted; a challenge about to lapse can also be renewed before Begin."""
    import datetime as dt

    from idmatch.service import sessions as sessions_mod

    s = active.create().json()
    active.portrait(s["id"], images["same_a"])
    # a still fresh challenge is returned as it is
    r = active.client.post(f"/v1/sessions/{s['id']}/challenge", headers=active.h("clerk"))
    assert r.status_code == 200 and r.json()["challenge"]["nonce"] == s["challenge"]["nonce"]
    real_now = sessions_mod.utcnow
    monkeypatch.setattr(sessions_mod, "utcnow", lambda: real_now() + dt.timedelta(seconds=61))
    r = active.live(s["id"], [images["same_b"]], s["challenge"]["nonce"], data={"frame_times": "[0.0]"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "awaiting_live" and body["challenge"]["nonce"] != s["challenge"]["nonce"]
    assert body["last_attempt"]["codes"] == ["challenge_expired"] and body["last_attempt"]["counted"] is False
    assert body["attempts"]["used"] == 0
    # about to lapse: renewed on request, not counted, audited
    monkeypatch.setattr(sessions_mod, "utcnow", lambda: real_now() + dt.timedelta(seconds=61 + 45))
    r = active.client.post(f"/v1/sessions/{s['id']}/challenge", headers=active.h("clerk"))
    assert r.status_code == 200 and r.json()["challenge"]["nonce"] != body["challenge"]["nonce"]
    assert r.json()["attempts"]["used"] == 0
