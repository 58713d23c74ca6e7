"""The store terminal end to end: a real face on a fake webcam, a real server, a real decision.

* the holder's own portrait → ``approved``;
* another person's portrait → ``rejected`` (face mismatch), after a server error on the first
  submission that the clerk retries — the capture is decided once (same Idempotency-Key);
* a still photo as the "camera" → liveness fails;
* a dark, then far-away face → the live guidance says "more light", then "move closer";
* camera denied / no camera: a clear message and a retry.
"""
from __future__ import annotations

import itertools
import json
import re
import time
import urllib.request

import pytest

from .conftest import CLIP_ACTIONS, HOLDER_NUMBER, new_page

expect = pytest.importorskip("playwright.sync_api", reason="playwright for Python not installed").expect

DECISION_TIMEOUT_MS = 90_000
_doc_numbers = itertools.count(1)


def _resident_number(k: int) -> str:
    """A distinct resident ID number that passes GB 11643 (the service rejects any other)."""
    from stdnum.cn import ric

    body = f"330106{1990 + k // 1000:04d}0101{k % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


@pytest.fixture(scope="module")
def camera_browser(launch, media):
    return launch(media["camera"])


def sign_in(page, server):
    page.goto(server.url + "/web/terminal.html")
    page.get_by_label("API key").fill(server.keys["clerk"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Applicant and consent")).to_be_focused()


def check_clip_can_follow(session):
    ch = session["challenge"]
    if ch["mode"] == "active":
        assert set(ch["actions"]) <= CLIP_ACTIONS, (
            f"the test server issued {ch['actions']}: the camera clip only turns left and right; the service must "
            "seed its test challenges from IDMATCH_CHALLENGE_SEED (tests/e2e/conftest.py sets one that draws turns only)")


def applicant(page, shots=None, prefix="", number=None):
    """Fill the applicant step; ``number``: the claimed document number (default: a fresh one)."""
    page.get_by_label("Document type").select_option("resident_id")
    page.get_by_label("Document number").fill(number or _resident_number(next(_doc_numbers)))
    page.get_by_role("checkbox", name=re.compile("agrees to the face check")).check()
    if shots:
        page.screenshot(path=shots / f"{prefix}1-applicant.png", full_page=True)
    with page.expect_response(re.compile(r"/v1/sessions$")) as resp:
        page.get_by_role("button", name="Start registration").click()
    session = resp.value.json()
    expect(page.get_by_role("heading", name="ID portrait")).to_be_focused()
    check_clip_can_follow(session)
    return session


def portrait(page, path, shots=None, prefix=""):
    page.get_by_label("Chip photo file").set_input_files(str(path))
    expect(page.locator("#portrait-img")).to_be_visible()
    if shots:
        page.screenshot(path=shots / f"{prefix}2-portrait.png", full_page=True)
    page.get_by_role("button", name="Use this portrait").click()
    expect(page.get_by_role("heading", name="Live capture")).to_be_visible()


def live_capture(page, shots=None, prefix="", challenge=None):
    begin = page.get_by_role("button", name="Begin the check")
    expect(begin).to_be_focused()            # camera on: the keyboard is on the next action
    guidance = page.locator("#guidance")
    expect(guidance).not_to_have_text("", timeout=15_000)          # live guidance from the server
    expect(guidance).not_to_have_text("Looking for the face…", timeout=15_000)
    if shots:
        page.screenshot(path=shots / f"{prefix}3-live-guidance.png")
    record_prompts(page)
    begin.click()
    prompt = page.locator("#prompt")
    expect(prompt).not_to_have_text("", timeout=15_000)          # one prompt at a time, over the preview
    expect(page.locator("#progress")).to_be_visible()
    if challenge and challenge.get("mode") == "active":
        first = challenge["actions"][0]
        label = {"turn_left": "to your left", "turn_right": "to your right", "look_up": "head up",
                 "look_down": "head down", "move_closer": "closer"}[first]
        expect(prompt).to_contain_text(label, timeout=20_000)
        n = len(challenge["actions"]) + 1
        expect(page.locator("#progress-label")).to_have_text(re.compile(rf"Step [2-{n}] of {n}"))
    if shots:
        page.screenshot(path=shots / f"{prefix}4-challenge-prompt.png")
    decision = page.locator("#decision")
    expect(decision).to_have_attribute("data-status", re.compile("approved|rejected|review"), timeout=DECISION_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Decision")).to_be_focused()
    if shots:
        page.screenshot(path=shots / f"{prefix}5-decision.png", full_page=True)
    return decision.get_attribute("data-status")


def record_prompts(page) -> None:
    """Record every prompt, progress label and guidance line the page shows, in order (window.__seen)."""
    page.evaluate("""() => {
        window.__seen = {prompts: [], steps: [], guidance: []};
        const rec = (el, list) => new MutationObserver(() => {
            const t = el.textContent; if (t && list[list.length - 1] !== t) list.push(t); })
            .observe(el, {childList: true, characterData: true, subtree: true});
        rec(document.getElementById('prompt'), window.__seen.prompts);
        rec(document.getElementById('progress-label'), window.__seen.steps);
        rec(document.getElementById('guidance'), window.__seen.guidance);
    }""")


PROMPTS = {"turn_left": "Turn your head to your left", "turn_right": "Turn your head to your right",
           "look_up": "Tilt your head up", "look_down": "Tilt your head down", "move_closer": "Move closer to the camera"}


def reason_codes(page) -> list[str]:
    return page.locator("#reasons li").evaluate_all("els => els.map(e => e.dataset.code)")


def _multipart_frames(request) -> tuple[list[bytes], str]:
    """The frames and nonce of a captured live-capture POST (multipart/form-data)."""
    import email
    import email.policy

    body = getattr(request, "body_at_send", None) or request.post_data_buffer
    msg = email.message_from_bytes(f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode() + body,
                                   policy=email.policy.HTTP)
    frames, nonce = [], ""
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name == "frames":
            frames.append(part.get_payload(decode=True))
        elif name == "nonce":
            nonce = part.get_payload(decode=True).decode()
    return frames, nonce


def live_answers(page) -> list:
    """The JSON answers to the live-capture POSTs (for failure messages: every reason with its details)."""
    out: list = []

    def on_response(r):
        if r.request.method == "POST" and re.search(r"/v1/sessions/[^/]+/live$", r.url):
            try:
                out.append(r.json())
            except Exception:
                out.append({"status": r.status})
    page.on("response", on_response)
    return out


def track_live_posts(page) -> list:
    """Every live-capture POST the page makes (its body read at once, while it is available)."""
    posts: list = []

    def on_request(r):
        if r.method == "POST" and re.search(r"/v1/sessions/[^/]+/live$", r.url):
            r.body_at_send = r.post_data_buffer
            posts.append(r)
    # an intercepting route (that just passes on) makes Chromium hand over multipart bodies with files
    page.route(re.compile(r"/v1/sessions/[^/]+/live$"), lambda route: route.fallback())
    page.on("request", on_request)
    return posts


def test_holder_is_approved(live_server, camera_browser, media, screenshots):
    page = new_page(camera_browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, live_server)
    # a slow network on the first call: the clerk is told, and the call still completes
    def slow(route):
        page.wait_for_timeout(4500)
        route.continue_()
    page.route(re.compile(r"/v1/sessions$"), slow)
    page.get_by_label("Document type").select_option("resident_id")
    page.get_by_label("Document number").fill(HOLDER_NUMBER)
    page.get_by_role("checkbox", name=re.compile("agrees to the face check")).check()
    page.screenshot(path=screenshots / "terminal-1-applicant.png", full_page=True)
    with page.expect_response(re.compile(r"/v1/sessions$")) as resp:
        page.get_by_role("button", name="Start registration").click()
        expect(page.get_by_role("status").filter(has_text="network is slow")).to_be_visible()
        expect(page.get_by_role("button", name="Start registration")).to_be_disabled()   # no second submit
    session = resp.value.json()
    check_clip_can_follow(session)
    page.unroute(re.compile(r"/v1/sessions$"))
    posts = track_live_posts(page)
    answers = live_answers(page)
    portrait(page, media["portrait"], screenshots, "terminal-")
    status = live_capture(page, screenshots, "terminal-", session["challenge"])
    codes = reason_codes(page)
    if status != "approved":
        from idmatch.liveness import Challenge, check_challenge
        from idmatch.pipeline import FaceEngine

        frames, _ = _multipart_frames(posts[0])
        ch = Challenge(nonce="x", steps=session["challenge"]["actions"], issued_at=0, expires_at=time.time() + 600)
        local = check_challenge(FaceEngine(), ch, frames, use_passive=False).to_dict(per_frame=True)
        seen = page.evaluate("window.idmatchCaptureTrace")
        pytest.fail(f"expected approved, got {status}: {json.dumps(answers)}\npage saw: {json.dumps(seen)}\n"
                    f"local check: {json.dumps(local)}")
    assert "face_match" in codes
    expect(page.locator("#decision")).to_have_text("Approved")
    if session["challenge"]["mode"] == "active":   # one prompt at a time, in the challenge's order, progress counting up
        seen = page.evaluate("window.__seen")
        actions = session["challenge"]["actions"]
        assert "challenge_passed" in codes
        assert [p for p in seen["prompts"] if p in PROMPTS.values()] == [PROMPTS[a] for a in actions], seen
        n = len(actions) + 1
        assert seen["steps"][:n] == [f"Step {i} of {n}" for i in range(1, n + 1)], seen
    assert len(posts) == 1
    # the decision in words switches language with the page
    page.get_by_role("button", name="Switch language to Chinese").click()
    expect(page.locator("#decision")).to_have_text("通过")
    expect(page.locator('#reasons li[data-code="face_match"]')).to_contain_text("现场人脸与证件照一致")
    page.screenshot(path=screenshots / "terminal-5-decision-zh.png", full_page=True)
    assert not errors


def test_other_persons_portrait_is_rejected_and_decided_once(live_server, camera_browser, media, screenshots):
    page = new_page(camera_browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, live_server)
    session = applicant(page)
    portrait(page, media["impostor"])
    # the first submission of the capture meets a server error; the clerk retries
    failed = {"n": 0}

    def fail_once(route):
        if failed["n"] == 0:
            failed["n"] += 1
            route.fulfill(status=503, content_type="application/problem+json",
                          body=json.dumps({"status": 503, "code": "not_ready", "title": "not ready", "detail": "maintenance"}))
        else:
            route.continue_()
    page.route(re.compile(r"/v1/sessions/[^/]+/live$"), fail_once)
    posts = track_live_posts(page)
    page.get_by_role("button", name="Begin the check").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The server had a problem", timeout=DECISION_TIMEOUT_MS)
    page.screenshot(path=screenshots / "terminal-error-server.png", full_page=True)
    retry = page.get_by_role("button", name="Try again")
    expect(retry).to_be_focused()
    retry.click()
    expect(page.locator("#decision")).to_have_attribute("data-status", re.compile("."), timeout=DECISION_TIMEOUT_MS)
    page.screenshot(path=screenshots / "terminal-5-decision-rejected.png", full_page=True)
    status = page.locator("#decision").get_attribute("data-status")
    codes = reason_codes(page)
    assert status == "rejected", f"expected rejected, got {status}: {codes}"
    assert "face_mismatch" in codes
    expect(page.locator('#reasons li[data-code="face_mismatch"]')).to_contain_text("does not match the ID portrait")
    # the retry re-sent the very same capture under the same Idempotency-Key
    assert len(posts) == 2
    keys = {p.headers.get("idempotency-key") for p in posts}
    assert len(keys) == 1 and None not in keys
    # and the server decided the session exactly once
    req = urllib.request.Request(f"{live_server.url}/v1/audit/events?session_id={session['id']}&limit=1000",
                                 headers={"Authorization": f"Bearer {live_server.keys['auditor']}"})
    events = json.load(urllib.request.urlopen(req, timeout=10))
    assert [e["type"] for e in events].count("decision") == 1
    assert not errors


def test_still_photo_camera_fails_liveness(live_server, launch, media, screenshots):
    page = new_page(launch(media["still"]))
    sign_in(page, live_server)
    session = applicant(page, number=HOLDER_NUMBER)
    if session["challenge"]["mode"] != "active":
        pytest.skip("the service issued a passive session (this build has no active challenge, or its policy has no "
                    "liveness_mode 'either'/'active'); a still photo is caught by the active challenge")
    portrait(page, media["portrait"])
    status = live_capture(page, screenshots, "terminal-still-", session["challenge"])
    codes = reason_codes(page)
    assert status == "rejected", f"a still photo must not pass, got {status}: {codes}"
    assert set(codes) & {"challenge_failed", "spoof_suspected"}, codes
    expect(page.locator("#reasons")).to_contain_text("The pictures did not move at all: a still image, not a live person.")
    seen = page.evaluate("window.__seen")     # the first movement never came: reminded, then sent, one prompt only
    assert "The movement was not seen in time. Try again and follow the prompt." in seen["guidance"], seen
    assert [p for p in seen["prompts"] if p in PROMPTS.values()] == [PROMPTS[session["challenge"]["actions"][0]]], seen


def test_portrait_by_photographing_the_document(live_server, camera_browser, screenshots):
    page = new_page(camera_browser)
    sign_in(page, live_server)
    session = applicant(page, number=HOLDER_NUMBER)
    page.get_by_role("button", name="Photograph the document").click()
    snap = page.get_by_role("button", name="Take photo")
    expect(snap).to_be_focused()
    expect(page.locator("#doc-video")).to_be_visible()
    page.screenshot(path=screenshots / "terminal-2-portrait-camera.png", full_page=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("img", name="Portrait to be sent")).to_be_visible()
    expect(page.get_by_role("button", name="Use this portrait")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Live capture")).to_be_visible()
    r = urllib.request.Request(f"{live_server.url}/v1/sessions/{session['id']}",
                               headers={"Authorization": f"Bearer {live_server.keys['clerk']}"})
    assert json.load(urllib.request.urlopen(r, timeout=10))["status"] == "awaiting_live"


def test_live_guidance_says_what_to_fix(live_server, launch, media, screenshots):
    page = new_page(launch(media["guidance"]))
    sign_in(page, live_server)
    applicant(page)
    portrait(page, media["portrait"])
    guidance = page.get_by_role("status").filter(has_text=re.compile("light|closer|still|camera"))
    expect(page.locator("#guidance")).to_have_text("More light, please.", timeout=20_000)
    page.screenshot(path=screenshots / "terminal-3-guidance-more-light.png")
    expect(page.locator("#guidance")).to_have_text("Move closer.", timeout=20_000)
    page.screenshot(path=screenshots / "terminal-3-guidance-move-closer.png")
    expect(guidance).to_have_attribute("aria-live", "polite")
    # the same advice in Chinese once the language is switched
    page.get_by_role("button", name="Switch language to Chinese").click()
    expect(page.locator("#guidance")).to_have_text(re.compile("光线太暗|请靠近一些"), timeout=20_000)


@pytest.mark.parametrize("case", ["denied", "none"])
def test_camera_problems_get_a_clear_message_and_retry(live_server, launch, media, screenshots, case):
    # real browser behaviour: a fake camera whose permission prompt is refused, or no device at all
    page = new_page(launch(camera="deny" if case == "denied" else "none"))
    expected = "Camera access was denied" if case == "denied" else "No camera was found"
    sign_in(page, live_server)
    applicant(page)
    portrait(page, media["portrait"])
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text(expected)
    expect(page.get_by_role("button", name="Try again")).to_be_focused()
    expect(page.get_by_role("button", name="Begin the check")).to_be_disabled()
    page.screenshot(path=screenshots / f"terminal-error-camera-{case}.png", full_page=True)
    page.get_by_role("button", name="Try again").click()
    expect(alert).to_contain_text(expected)       # still no camera: the same clear message again
