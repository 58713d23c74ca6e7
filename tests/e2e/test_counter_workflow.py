"""The counter and the back office around the live check (issue 15): first run with the admin key, Back /
Cancel / reload, a portrait the server cannot use, a duplicate-face case decided on the review desk with both
faces, and the clerk looking the reviewed registration up.

With ``IDMATCH_E2E_DOC_SHOTS=1`` the tests also write the screenshots of docs/web.md into docs/img (both
languages, 1024 and 1366 px wide); without it they only write to the git-ignored reports/screenshots.
"""
from __future__ import annotations

import datetime as dt
import os
import re

import cv2
import numpy as np
import pytest

from .conftest import REPO, new_page

expect = pytest.importorskip("playwright.sync_api", reason="playwright for Python not installed").expect
httpx = pytest.importorskip("httpx")

DOC_SHOTS = bool(os.environ.get("IDMATCH_E2E_DOC_SHOTS"))
DOC_IMG = REPO / "docs" / "img"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def doc_shots(page, name: str, *, full_page: bool = True) -> None:
    """docs/img/web-<name>-<lang>-<width>.png at 1024 and 1366 px, in the page's current language (opt-in)."""
    if not DOC_SHOTS:
        return
    lang = "zh" if page.evaluate("document.documentElement.lang") == "zh-CN" else "en"
    before = page.viewport_size
    for w in (1024, 1366):
        page.set_viewport_size({"width": w, "height": 768})
        page.wait_for_timeout(150)
        path = DOC_IMG / f"web-{name}-{lang}-{w}.png"
        page.screenshot(path=path, full_page=full_page)
        _shrink(path)
    page.set_viewport_size(before)


def _shrink(path) -> None:
    """256-colour PNG: a third of the size, still sharp text (the repository keeps ~30 of these)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def assert_fits(page, width: int) -> None:
    """At ``width`` px nothing makes the page itself scroll sideways (wide tables scroll in their own box)."""
    before = page.viewport_size
    page.set_viewport_size({"width": width, "height": 768})
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => e.offsetParent !== null
        && e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")
    sw = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size(before)
    assert sw <= width, (sw, wide)


def _resident_number(k: int) -> str:
    from stdnum.cn import ric

    body = f"330106{1991 + k // 1000:04d}0202{k % 1000:03d}"      # not the numbers test_terminal_flow.py uses
    return next(body + c for c in "0123456789X" if ric.is_valid(body + c))


def _auth(server, role):
    return {"Authorization": f"Bearer {server.keys[role]}"}


def test_admin_key_opens_the_terminal_and_the_review_desk(live_server, launch, screenshots):
    """The first-run key (admin) on a page of another role: the page offers a key of its own role, creates
    it with the admin key, shows it once and works with it; the admin key itself is not kept in the tab."""
    page = new_page(launch(camera="none"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/web/")
    expect(page.locator("main")).to_contain_text("The administrator key opens every page")
    page.goto(live_server.url + "/web/terminal.html")
    page.get_by_label("Sign-in key").fill(live_server.keys["admin"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#admin-panel")).to_contain_text("This is the administrator key")
    expect(page.get_by_role("alert")).to_be_hidden()                 # not "does not have the clerk role"
    page.get_by_label("Name of the new key").fill("e2e counter 7")
    doc_shots(page, "admin-sign-in")
    page.get_by_role("button", name="Create a clerk key and sign in").click()
    expect(page.get_by_role("heading", name="Applicant and consent")).to_be_focused()
    notice = page.locator("#page-notice")
    expect(notice).to_contain_text("Signed in with a new clerk key")
    new_key = page.locator("#new-key").text_content()
    assert new_key.startswith("idm_")
    stored = page.evaluate("Object.values(sessionStorage)")
    assert live_server.keys["admin"] not in stored and new_key in stored
    page.screenshot(path=screenshots / "terminal-admin-created-clerk-key.png", full_page=True)
    with httpx.Client(base_url=live_server.url, timeout=30) as c:
        keys = c.get("/v1/keys", headers=_auth(live_server, "admin")).json()
        (made,) = [k for k in keys if k["label"] == "e2e counter 7"]
        assert made["role"] == "clerk" and made["revoked_at"] is None
        # the new key is a real clerk key: it may start a registration
        r = c.get("/v1/sessions/00000000-0000-0000-0000-000000000000", headers={"Authorization": f"Bearer {new_key}"})
        assert r.status_code == 404
    # the review desk the same way, in Chinese: roles in words, not codes
    page.goto(live_server.url + "/web/review.html")
    page.get_by_role("button", name="Switch language to Chinese").click()
    page.get_by_label("登录密钥").fill(live_server.keys["admin"])
    page.get_by_role("button", name="登录").click()
    make = page.get_by_role("button", name="创建复核员密钥并登录")
    expect(make).to_be_focused()
    doc_shots(page, "admin-sign-in")
    expect(page.locator("#admin-panel")).not_to_contain_text("reviewer")
    make.click()
    expect(page.get_by_role("heading", name="待复核会话")).to_be_visible()
    # a clerk key on the review desk is still refused, by the role's name in words
    page.get_by_role("button", name="退出登录").click()
    page.get_by_role("button", name="Switch language to Chinese").click()     # the test's init script says English again
    page.get_by_label("登录密钥").fill(live_server.keys["clerk"])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_contain_text("该密钥没有“复核员”角色")
    assert not errors


@pytest.fixture(scope="module")
def camera_browser(launch, media):
    return launch(media["camera"])


def test_back_cancel_reload_and_a_portrait_the_server_cannot_use(live_server, camera_browser, media, tmp_path, screenshots):
    page = new_page(camera_browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/web/terminal.html")
    page.get_by_label("Sign-in key").fill(live_server.keys["clerk"])
    page.get_by_role("button", name="Sign in").click()
    number = _resident_number(1)
    page.get_by_label("Document number").fill(number)
    page.get_by_role("checkbox", name=re.compile("agrees to the face check")).check()
    with page.expect_response(re.compile(r"/v1/sessions$")) as resp:
        page.get_by_role("button", name="Start registration").click()
    first = resp.value.json()["id"]
    expect(page.get_by_role("heading", name="ID portrait")).to_be_focused()
    # a file without a face: the problem in words, and "retry" asks for another file instead of resending it
    blank = tmp_path / "blank.jpg"
    cv2.imwrite(str(blank), np.full((480, 640, 3), 200, np.uint8))
    page.get_by_label("Chip photo file").set_input_files(str(blank))
    page.get_by_role("button", name="Use this portrait").click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_visible()
    other = page.get_by_role("button", name="Choose another photo")
    expect(other).to_be_focused()
    page.screenshot(path=screenshots / "terminal-portrait-no-face.png", full_page=True)
    other.click()
    expect(page.get_by_label("Chip photo file")).to_be_focused()
    expect(page.locator("#portrait-img")).to_be_hidden()
    # a stale error goes as soon as a new file is chosen
    page.get_by_role("button", name="Use this portrait").click()          # nothing chosen: "choose a file first"
    expect(alert).to_be_visible()
    page.get_by_label("Chip photo file").set_input_files(str(media["portrait"]))
    expect(alert).to_be_hidden()
    # Back keeps what was typed; going on again is a new registration
    page.get_by_role("button", name="Back", exact=True).click()
    expect(page.get_by_role("heading", name="Applicant and consent")).to_be_focused()
    expect(page.get_by_label("Document number")).to_have_value(number)
    with page.expect_response(re.compile(r"/v1/sessions$")) as resp:
        page.get_by_role("button", name="Start registration").click()
    second = resp.value.json()["id"]
    assert second != first
    page.get_by_label("Chip photo file").set_input_files(str(media["portrait"]))
    page.get_by_role("button", name="Use this portrait").click()
    expect(page.get_by_role("button", name="Begin the check")).to_be_enabled(timeout=30_000)
    # leaving mid-registration asks first
    assert page.evaluate("() => { const e = new Event('beforeunload', {cancelable: true});"
                         " window.dispatchEvent(e); return e.defaultPrevented; }")
    # a reload restores the registration where it stands (the portrait is already with the server); the
    # browser's "leave this page?" prompt, if it shows one, is answered "leave"
    page.on("dialog", lambda d: d.accept())
    with page.expect_response(re.compile(rf"/v1/sessions/{second}$")):
        page.reload()
    expect(page.get_by_role("heading", name="Live capture")).to_be_visible()
    expect(page.locator("#page-notice")).to_contain_text("the registration continues at the live capture")
    expect(page.get_by_role("button", name="Begin the check")).to_be_enabled(timeout=30_000)
    page.screenshot(path=screenshots / "terminal-restored-after-reload.png", full_page=True)
    # Back to the portrait, then Cancel: the start again, nothing left to protect
    page.get_by_role("button", name="Back to the ID portrait").click()
    expect(page.get_by_role("heading", name="ID portrait")).to_be_focused()
    page.get_by_role("button", name="Cancel registration").click()
    expect(page.get_by_role("heading", name="Applicant and consent")).to_be_focused()
    expect(page.locator("#page-notice")).to_contain_text("The registration was cancelled")
    expect(page.get_by_label("Document number")).to_have_value("")
    assert not page.evaluate("() => { const e = new Event('beforeunload', {cancelable: true});"
                             " window.dispatchEvent(e); return e.defaultPrevented; }")
    # the registrations started in this window are offered for look-up
    expect(page.locator("#lookup-recent-list button")).to_have_count(2)
    page.locator(f'#lookup-recent-list button[data-ref="{second}"]').click()
    expect(page.locator("#lookup-result")).to_contain_text("Not finished: waiting for the live capture")
    assert not errors


@pytest.fixture
def duplicate_case(live_server, media):
    """One face approved under one resident ID (images retained by policy), then the same face under another
    resident ID with general retention off: the second goes to review as a duplicate face."""
    img = media["impostor"].read_bytes()       # a face no other test registers
    with httpx.Client(base_url=live_server.url, timeout=90) as client:
        admin = _auth(live_server, "admin")
        before = client.get("/v1/policy", headers=admin).json()
        fields = ("retain_images", "liveness_mode", "advisory_stages", "liveness_threshold")
        ids = []
        try:
            for k, retain in ((11, True), (12, False)):
                # a still photo as the live frame: passive model set aside (liveness can no longer be advisory)
                r = client.put("/v1/policy", json={"retain_images": retain, "liveness_mode": "passive",
                                                   "advisory_stages": ["quality"], "liveness_threshold": 0}, headers=admin)
                assert r.status_code == 200, r.text
                body = {"document": {"type": "resident_id", "number": _resident_number(k)}, "liveness_mode": "passive",
                        "consent": {"text_version": "e2e", "given_at": dt.datetime.now(dt.timezone.utc).isoformat(),
                                    "channel": "store"}}
                s = client.post("/v1/sessions", json=body, headers=_auth(live_server, "clerk")).json()
                r = client.put(f"/v1/sessions/{s['id']}/portrait", headers=_auth(live_server, "clerk"),
                               files={"image": ("p.jpg", img, "image/jpeg")})
                assert r.status_code == 200, r.text
                r = client.post(f"/v1/sessions/{s['id']}/live", headers=_auth(live_server, "clerk"),
                                data={"nonce": s["challenge"]["nonce"]}, files=[("frames", ("l.jpg", img, "image/jpeg"))])
                assert r.status_code == 200, r.text
                ids.append((s["id"], r.json()["status"]))
        finally:
            client.put("/v1/policy", json={k: before[k] for k in fields}, headers=admin)
        assert [st for _, st in ids] == ["approved", "review"], ids
        yield ids[0][0], ids[1][0], client
        for sid, _ in ids:
            client.post("/v1/erasures", json={"session_id": sid}, headers=admin)


def test_duplicate_face_decided_on_the_desk_then_looked_up_by_the_clerk(live_server, launch, duplicate_case, screenshots):
    first, second, client = duplicate_case
    browser = launch(camera="none")
    desk = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en", timezone_id="Asia/Shanghai").new_page()
    desk.add_init_script("localStorage.setItem('idmatch.lang', 'en')")
    errors: list[str] = []
    desk.on("pageerror", lambda e: errors.append(str(e)))
    desk.goto(live_server.url + "/web/review.html")
    desk.get_by_label("Sign-in key").fill(live_server.keys["reviewer"])
    desk.get_by_role("button", name="Sign in").click()
    row = desk.locator(f'#queue tbody tr[data-session="{second}"]')
    expect(row).to_contain_text("Resident identity card")           # the document type in words
    expect(row).not_to_contain_text("resident_id")
    expect(row).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai, UTC\+8\)"))
    desk.locator(f'button[data-session="{second}"]').click()
    dup = desk.locator(f'.dup[data-matched="{first}"]')
    expect(dup).to_contain_text(re.compile(r"Similarity to another registration [01]\.\d{3} \(threshold 0\.\d{3}\)"))
    expect(dup.locator('[data-side="this"] img')).to_have_count(2)     # this registration: portrait + a live frame
    expect(dup.locator('[data-side="other"] img')).to_have_count(2)    # the approved one it matched, from its retention
    expect(dup.locator('[data-side="other"]')).to_contain_text("approved, Resident identity card")
    for im in dup.locator("img").all():
        assert im.evaluate("i => i.complete && i.naturalWidth > 0"), "an image did not load"
    for w in (1024, 1366):
        assert_fits(desk, w)
    doc_shots(desk, "review-duplicate")
    # a picture enlarges, and Escape brings the focus back to it
    thumb = dup.locator('[data-side="other"] img').first
    thumb.click()
    zoom = desk.locator("#zoom")
    expect(zoom).to_be_visible()
    small = thumb.bounding_box()
    big = desk.locator("#zoom-img").bounding_box()
    assert big["height"] > 2 * small["height"], (small, big)
    desk.screenshot(path=screenshots / "review-zoom.png")
    desk.keyboard.press("Escape")
    expect(zoom).to_be_hidden()
    expect(thumb).to_be_focused()
    # a decision needs a reason
    desk.get_by_role("button", name="Reject").click()
    expect(desk.get_by_role("alert")).to_contain_text("at least 5 characters")
    desk.get_by_label("Written reason for your decision").fill("Same face as an approved registration under another ID.")
    desk.get_by_role("button", name="Reject").click()
    expect(desk.get_by_role("status").filter(has_text="Session rejected.")).to_be_visible()
    # the images kept only for the review are gone with it
    r = client.get(f"/v1/review/{second}/images", headers=_auth(live_server, "reviewer"))
    assert r.status_code == 409

    # the clerk looks the reference up: the review outcome in words, the time in the store's zone
    term = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en", timezone_id="Asia/Shanghai").new_page()
    term.add_init_script("localStorage.setItem('idmatch.lang', 'en')")
    term.on("pageerror", lambda e: errors.append(str(e)))
    term.goto(live_server.url + "/web/terminal.html")
    term.get_by_label("Sign-in key").fill(live_server.keys["clerk"])
    term.get_by_role("button", name="Sign in").click()
    ref = term.get_by_label("Registration reference")
    ref.fill("3f2a9c1e")                                               # a short form is not a reference
    term.get_by_role("button", name="Look up").click()
    expect(term.get_by_role("alert")).to_contain_text("36 letters, digits and dashes")
    ref.fill("00000000-0000-4000-8000-000000000000")
    term.get_by_role("button", name="Look up").click()
    result = term.locator("#lookup-result")
    expect(result).to_contain_text("Not found in this store")
    ref.fill(second.upper())
    term.get_by_role("button", name="Look up").click()
    expect(result.locator(".lookup-line")).to_have_attribute("data-status", "reviewed_rejected")
    expect(result).to_contain_text(re.compile(r"Reviewed: rejected at \d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai, UTC\+8\)\. "
                                              r"Do not activate the line\."))
    expect(result).to_contain_text("Reviewer's reason: Same face as an approved registration")
    expect(result).to_contain_text("Document: Resident identity card")
    doc_shots(term, "terminal-lookup")
    term.get_by_role("button", name="Switch language to Chinese").click()
    expect(result).to_contain_text(re.compile(r"已复核：于 \d{4}-\d\d-\d\d \d\d:\d\d \(Asia/Shanghai, UTC\+8\) 判定为未通过，请勿开通号码。"))
    expect(result).to_contain_text("证件：居民身份证")
    expect(result).not_to_contain_text("resident_id")
    doc_shots(term, "terminal-lookup")
    term.get_by_label("登记编号").fill(first)
    term.get_by_role("button", name="查询").click()
    expect(result).to_contain_text("已于")
    expect(result.locator(".lookup-line")).to_have_attribute("data-status", "approved")
    desk.get_by_role("button", name="Switch language to Chinese").click()
    expect(desk.get_by_role("heading", name="待复核会话")).to_be_visible()
    doc_shots(desk, "review-queue")
    assert UUID.match(first) and not errors


def doc_shots_both(page, name: str) -> None:
    """doc_shots in English and in Chinese (the page's language switch), back to English after."""
    for lang in ("en", "zh-CN"):
        if page.evaluate("document.documentElement.lang") != lang:
            page.locator("#lang").click()
        doc_shots(page, name)
    if page.evaluate("document.documentElement.lang") != "en":
        page.locator("#lang").click()


@pytest.mark.skipif(not DOC_SHOTS, reason="set IDMATCH_E2E_DOC_SHOTS=1 to redo docs/img")
def test_doc_screenshots_of_the_counter_screens(live_server, camera_browser, media):
    """docs/img/web-terminal-{applicant,portrait,guidance,result}-{en,zh}-{1024,1366}.png: each step of one
    registration of the holder (approved), in both languages and both widths."""
    from .test_terminal_flow import HOLDER_NUMBER, applicant, begin_with_clip, decide, portrait, sign_in, wait_guidance

    page = new_page(camera_browser)
    sign_in(page, live_server)
    page.get_by_label("Document number").fill(HOLDER_NUMBER)
    page.get_by_role("checkbox", name=re.compile("agrees to the face check")).check()
    doc_shots_both(page, "terminal-applicant")
    applicant(page, number=HOLDER_NUMBER)
    page.get_by_label("Chip photo file").set_input_files(str(media["portrait"]))
    expect(page.locator("#portrait-img")).to_be_visible()
    doc_shots_both(page, "terminal-portrait")
    page.get_by_role("button", name="Use this portrait").click()
    wait_guidance(page)
    doc_shots_both(page, "terminal-guidance")
    begin_with_clip(page)
    assert decide(page, []) == "approved"
    expect(page.locator("#face-id")).to_have_attribute("data-cut", "yes")
    doc_shots_both(page, "terminal-result")
