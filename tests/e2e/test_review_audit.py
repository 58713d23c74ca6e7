"""Review desk and audit page in the browser, on sessions the real server sent to review.

Two sessions reach ``review`` through the API: another person's portrait against live frames of
the camera clip, under a policy whose review margin is widened for the test (restored afterwards);
the first session's images are retained (policy switch), the second's only for its review.
The reviewer approves one and rejects the other with written reasons; the auditor sees the chain
verified, filters the events, then sees it broken at the exact event a database edit touched.
"""
from __future__ import annotations

import datetime as dt
import re
import sqlite3

import cv2
import pytest

from .conftest import new_page
from .y4m import read_clip

expect = pytest.importorskip("playwright.sync_api", reason="playwright for Python not installed").expect
httpx = pytest.importorskip("httpx")


def _auth(server, role):
    return {"Authorization": f"Bearer {server.keys[role]}"}


def _session_in_review(server, client, media, frames_jpg, n) -> str:
    body = {"document": {"type": "passport", "number": f"RVW{n:04d}"}, "liveness_mode": "passive",   # RVW0001: an ICAO 9303 number has at most 9 characters
            "consent": {"text_version": "e2e", "given_at": dt.datetime.now(dt.timezone.utc).isoformat(), "channel": "store"}}
    r = client.post("/v1/sessions", json=body, headers=_auth(server, "clerk"))
    assert r.status_code == 201, r.text
    s = r.json()
    r = client.put(f"/v1/sessions/{s['id']}/portrait", headers=_auth(server, "clerk"),
                   files={"image": ("p.jpg", media["impostor"].read_bytes(), "image/jpeg")})
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/sessions/{s['id']}/live", headers=_auth(server, "clerk"), data={"nonce": s["challenge"]["nonce"]},
                    files=[("frames", (f"f{i}.jpg", b, "image/jpeg")) for i, b in enumerate(frames_jpg)])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "review", r.json()
    return s["id"]


@pytest.fixture(scope="module")
def review_sessions(live_server, media, shared_data):
    frames, _ = read_clip(shared_data / "video/liveportrait/d12.mp4", 0.0, 0.5)
    jpgs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames[:3]]
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        admin = _auth(live_server, "admin")
        before = client.get("/v1/policy", headers=admin).json()
        ids = []
        try:
            # every mismatch → review; the first session's images are retained, the second's are not
            for n, retain in ((1, True), (2, False)):
                # passive sessions (three frames over the API) need a passive policy now that active is the default
                r = client.put("/v1/policy", json={"review_margin": 1.0, "retain_images": retain, "liveness_mode": "passive"},
                               headers=admin)
                assert r.status_code == 200, r.text
                ids.append(_session_in_review(live_server, client, media, jpgs, n))
        finally:
            client.put("/v1/policy", json={k: before[k] for k in ("review_margin", "retain_images", "liveness_mode")},
                       headers=admin)
        yield ids, client
        # erase these two applicants: an approved one would sit in the duplicate-face gallery for later tests
        for sid in ids:
            r = client.post("/v1/erasures", json={"session_id": sid}, headers=admin)
            assert r.status_code == 200, r.text


def test_reviewer_approves_and_rejects_with_reasons(live_server, launch, review_sessions, screenshots):
    ids, client = review_sessions
    page = new_page(launch(camera="none"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/web/review.html")
    page.get_by_label("Sign-in key").fill(live_server.keys["reviewer"])
    page.get_by_role("button", name="Sign in").click()
    rows = page.locator("#queue tbody tr")
    for sid in ids:
        row = page.locator(f'#queue tbody tr[data-session="{sid}"]')
        expect(row).to_be_visible()
        expect(row).to_contain_text(re.compile(r"match -?\d\.\d{3} \(threshold \d\.\d{3}\)"))
        expect(row).to_contain_text("close to, but not clearly")
    page.screenshot(path=screenshots / "review-1-queue.png", full_page=True)

    # approve the first, with a reason
    page.locator(f'button[data-session="{ids[0]}"]').click()
    expect(page.locator("#detail-h")).to_be_focused()
    expect(page.locator("#detail-reasons")).to_contain_text("The live face is close to, but not clearly, the ID portrait.")
    # this session's images were retained: the portrait and the three live frames, decrypted for the reviewer
    expect(page.locator("#detail-images img")).to_have_count(4)
    expect(page.get_by_role("img", name="ID portrait")).to_be_visible()
    expect(page.get_by_role("img", name="Live frame 3")).to_be_visible()
    page.get_by_label("Written reason for your decision").fill("Checked the document in person; same holder, older photo.")
    page.screenshot(path=screenshots / "review-2-detail.png", full_page=True)
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").filter(has_text="Session approved.")).to_be_visible()
    expect(page.locator(f'#queue tbody tr[data-session="{ids[0]}"]')).to_have_count(0)

    # reject the second: a too-short reason is refused by the page first
    page.locator(f'button[data-session="{ids[1]}"]').click()
    # general retention was off for this one: its images are kept for the review all the same (and deleted with it)
    expect(page.locator("#detail-images img")).to_have_count(4)
    expect(page.get_by_role("img", name="ID portrait")).to_be_visible()
    page.get_by_label("Written reason for your decision").fill("no")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("alert")).to_contain_text("at least 5 characters")
    expect(page.get_by_label("Written reason for your decision")).to_be_focused()
    page.get_by_label("Written reason for your decision").fill("The live face is a different person from the document.")
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status").filter(has_text="Session rejected.")).to_be_visible()
    assert rows.locator(f'[data-session="{ids[1]}"]').count() == 0

    # the server has both decisions, with the written reasons
    for sid, outcome in zip(ids, ("approved", "rejected")):
        s = client.get(f"/v1/sessions/{sid}", headers=_auth(live_server, "reviewer")).json()
        assert s["status"] == outcome and s["review"]["outcome"] == outcome and len(s["review"]["reason"]) > 20
    assert not errors


def test_audit_chain_verified_filtered_and_broken_at_the_edited_event(live_server, launch, review_sessions, screenshots):
    ids, _ = review_sessions
    page = new_page(launch(camera="none"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/web/audit.html")
    page.get_by_label("Sign-in key").fill(live_server.keys["auditor"])
    page.get_by_role("button", name="Sign in").click()
    chain = page.locator("#chain")
    expect(chain).to_have_attribute("data-ok", "true")
    expect(chain).to_contain_text(re.compile(r"Verified: \d+ events, chain intact\."))
    expect(page.locator("#events tbody tr").first).to_be_visible()
    page.screenshot(path=screenshots / "audit-1-verified.png", full_page=True)

    # filter: one session's events, then only its decision events
    page.get_by_label("Session id").fill(ids[0])
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#events tbody tr")).not_to_have_count(0)
    cells = page.locator("#events tbody tr td:nth-child(3)")
    types = cells.evaluate_all("els => els.map(e => e.dataset.type)")
    assert {"session_created", "consent_recorded", "decision", "review_images_viewed"} <= set(types)
    words = set(cells.all_inner_texts())                  # shown in words, the code kept for the filter
    assert {"Registration started", "Consent recorded", "Decision", "Review images viewed"} <= words, words
    assert not any("_" in w for w in words), words
    page.get_by_label("Event type").select_option("decision")
    expect(page.locator("#events tbody tr")).to_have_count(1)
    page.get_by_label("Session id").fill("")
    page.get_by_label("Event type").select_option("review_decided")
    page.get_by_role("button", name="Apply filters").click()
    # every review decided on this server so far (this file's two, plus any an earlier e2e file decided)
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        events = client.get("/v1/audit/events?limit=1000", headers={"Authorization": f"Bearer {live_server.keys['auditor']}"}).json()
    decided = [e for e in events if e["type"] == "review_decided"]
    assert {e["session_id"] for e in decided} >= set(ids) and len(decided) >= 2
    expect(page.locator("#events tbody tr")).to_have_count(len(decided))
    page.screenshot(path=screenshots / "audit-2-filtered.png", full_page=True)
    # the review this file approved (an earlier file's review may come first in the list)
    seq = next(e["seq"] for e in decided if e["session_id"] in ids and e["payload"].get("outcome") == "approved")
    expect(page.locator(f'#events tbody tr[data-seq="{seq}"]')).to_have_count(1)

    # someone edits that event in the database: the chain is broken exactly there
    db = sqlite3.connect(live_server.data_dir / "idmatch.db")
    try:
        (payload,) = db.execute("SELECT payload FROM audit_events WHERE seq = ?", (seq,)).fetchone()
        db.execute("UPDATE audit_events SET payload = ? WHERE seq = ?", (payload.replace("approved", "rejected"), seq))
        db.commit()
        page.get_by_role("button", name="Verify chain").click()
        expect(chain).to_have_attribute("data-ok", "false")
        expect(chain).to_contain_text(f"Broken at event {seq}.")
        expect(page.locator(f'#events tbody tr[data-seq="{seq}"]')).to_have_class(re.compile("row-broken"))
        page.screenshot(path=screenshots / "audit-3-broken.png", full_page=True)
    finally:
        db.execute("UPDATE audit_events SET payload = ? WHERE seq = ?", (payload, seq))
        db.commit()
        db.close()
    page.get_by_role("button", name="Verify chain").click()
    expect(chain).to_have_attribute("data-ok", "true")
    assert not errors
