"""Every page loads from the service, signs in with the right role only, and switches language."""
from __future__ import annotations

import re

import pytest

from .conftest import new_page

expect = pytest.importorskip("playwright.sync_api", reason="playwright for Python not installed").expect


def test_root_redirects_to_the_pages(live_server, launch, screenshots):
    page = new_page(launch(camera="none"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/web/$"))
    expect(page.get_by_role("link", name=re.compile("Store terminal"))).to_be_visible()
    page.get_by_role("button", name=re.compile("Chinese|中文")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("idmatch 页面")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.screenshot(path=screenshots / "index-zh.png")
    assert not errors


def test_sign_in_checks_key_and_role(live_server, launch, screenshots):
    page = new_page(launch(camera="none"))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/web/review.html")
    key = page.get_by_label("Sign-in key")
    expect(key).to_be_visible()
    # an unknown key
    key.fill("idm_nope_0000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")
    # a real key of the wrong role
    key.fill(live_server.keys["clerk"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("reviewer")
    page.screenshot(path=screenshots / "review-wrong-role.png")
    # the reviewer key
    key.fill(live_server.keys["reviewer"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sessions awaiting review")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()
    # the key survives a reload (sessionStorage) and logging out forgets it
    page.reload()
    expect(page.get_by_role("heading", name="Sessions awaiting review")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Sign-in key")).to_be_visible()
    assert not errors


def test_terminal_keyboard_only_and_consent_required(live_server, launch, screenshots):
    page = new_page(launch(camera="none"), lang="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/web/terminal.html")
    expect(page.get_by_role("heading", level=1)).to_have_text("营业厅终端 — 手机卡实名登记")
    page.get_by_label("登录密钥").fill(live_server.keys["clerk"])
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="申请人信息与同意")
    expect(heading).to_be_focused()
    # keyboard only: Tab through type → number → consent tick → submit, in that order
    page.keyboard.press("Tab")
    expect(page.get_by_label("证件类型")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("证件号码")).to_be_focused()
    page.keyboard.type("110101199003071233")                 # passes GB 11643 (the service checks it)
    page.keyboard.press("Tab")
    expect(page.get_by_role("checkbox")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="开始登记")).to_be_focused()
    page.keyboard.press("Enter")                      # no consent tick yet
    expect(page.get_by_role("alert")).to_contain_text("须取得申请人同意")
    page.screenshot(path=screenshots / "terminal-consent-required-zh.png", full_page=True)
    expect(page.get_by_role("checkbox")).to_be_focused()
    page.keyboard.press("Space")
    page.get_by_role("button", name="开始登记").click()
    expect(page.get_by_role("heading", name="证件照")).to_be_focused()
    expect(page.locator('#steps li[aria-current="step"]')).to_have_text("证件照")
    assert not errors
