"""The console in Debian's Chromium (Playwright), against a real ``couturier serve``: signing
in and out, an expired session sent to sign-in and back to its page, and the ``/v1`` routes
taking the session cookie (with the CSRF token on unsafe methods)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console import Console, expire_sessions, sign_in

pytestmark = pytest.mark.browser


def test_sign_in_lands_on_the_gallery_and_sign_out_ends_the_session(
    page: Page, console: Console
) -> None:
    page.goto("/")
    expect(page).to_have_url(f"{console.url}/sign-in?next=/")
    page.get_by_label("Token").fill("ctr_not_a_token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "That is not a valid token of this installation."
    )
    sign_in(page, console.token)
    expect(page.get_by_role("heading", name="Private images")).to_be_visible()
    expect(page.get_by_text("Tenant 1")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "couturier_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "couturier_session"]
    # The old cookie's session is gone on the server, not only in this browser.
    answer = httpx.get(f"{console.url}/v1/images", cookies={"couturier_session": cookie["value"]})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "token-invalid"


def test_an_expired_session_returns_to_sign_in_and_back_to_the_same_page(
    page: Page, console: Console
) -> None:
    sign_in(page, console.token)
    assert expire_sessions(console) == 1
    page.goto("/?status=created&q=tool")
    expect(page.get_by_role("status")).to_have_text(
        "Your session has expired. Sign in again to go on."
    )
    page.get_by_label("Token").fill(console.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console.url}/?status=created&q=tool")
    expect(page.get_by_label("Search by name")).to_have_value("tool")
    # A filter changed in place (htmx) after the session expired goes to sign-in too.
    assert expire_sessions(console) == 1
    page.get_by_label("Status").select_option("image build failed")
    expect(page.get_by_role("status")).to_have_text(
        "Your session has expired. Sign in again to go on."
    )
    page.get_by_label("Token").fill(console.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Status")).to_have_value("image build failed")


def test_v1_takes_the_session_cookie_and_wants_its_csrf_token_on_unsafe_methods(
    page: Page, console: Console
) -> None:
    sign_in(page, console.token)
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert csrf
    listed = page.request.get("/v1/images")
    assert listed.status == 200 and listed.json() == {"items": [], "next": None}
    refused = page.request.delete("/v1/images/1/nothing")
    assert refused.status == 403 and refused.json()["error"]["code"] == "csrf-invalid"
    allowed = page.request.delete("/v1/images/1/nothing", headers={"X-CSRF-Token": csrf})
    assert allowed.status == 404  # past the CSRF check: there is no such image
