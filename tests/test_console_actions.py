"""The console's actions page in Debian's Chromium (Playwright), against a real ``couturier
serve``: a webhook action registered through the form reaches a local receiver with a test
event and its delivery shows the receiver's 200; a form with mistakes shows each of the API's
messages beside its field and keeps what was typed; delete asks first; a ``write`` session
gets the API's refusal in words."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.console import Console, admin_token, sign_in
from tests.receivers import Receiver

pytestmark = pytest.mark.browser

SECRET = "a-long-random-shared-secret"


def _field(page: Page, label: str) -> Locator:
    """The ``.field`` block holding the input labelled ``label`` (its messages are in it)."""
    return page.locator(".field").filter(has=page.get_by_label(label, exact=True))


def test_a_webhook_action_gets_a_test_event_and_its_delivery_shows_the_200(
    page: Page, console: Console
) -> None:
    with Receiver(default=200) as receiver:
        sign_in(page, admin_token(console.env), "/actions")
        expect(page.get_by_text("No action yet.")).to_be_visible()
        page.get_by_label("Name", exact=True).fill("deploy-hook")
        page.get_by_role("checkbox", name="line-new-digest").check()
        page.get_by_label("Image name pattern", exact=True).fill("web-*")
        page.get_by_label("Target kind", exact=True).select_option("webhook")
        page.get_by_label("Webhook URL", exact=True).fill(f"{receiver.url}/hook")
        page.get_by_label("Webhook secret", exact=True).fill(SECRET)
        page.get_by_role("button", name="Register action").click()

        action = page.locator('.action[data-name="deploy-hook"]')
        expect(action.get_by_role("heading", name="deploy-hook")).to_be_visible()
        expect(action.locator(".rule dd").nth(0)).to_contain_text("line-new-digest")
        expect(action.locator(".rule dd").nth(1)).to_contain_text("image web-*")
        expect(action.locator(".then")).to_contain_text(f"webhook · url {receiver.url}/hook")
        assert SECRET not in page.content()  # never shown again

        action.get_by_role("button", name="Send test event to deploy-hook").click()
        [request] = receiver.wait_for(1)
        assert request.header("X-Couturier-Event") == "test"
        # No reload: the pending delivery's table follows itself until the attempt is in.
        row = page.locator(".action[data-name='deploy-hook'] .delivery").first
        expect(row).to_have_attribute("data-state", "delivered", timeout=60_000)
        expect(row.locator("th")).to_have_text("test")
        expect(row.locator(".attempt .status-code")).to_have_text("200")
        expect(row.locator(".attempt .duration")).to_contain_text(" ms")


def test_a_form_with_mistakes_shows_each_message_beside_its_field_and_keeps_the_input(
    page: Page, console: Console
) -> None:
    sign_in(page, admin_token(console.env), "/actions")
    page.get_by_label("Name", exact=True).fill("Bad_Name")
    page.get_by_label("Image name pattern", exact=True).fill("payments-*")
    page.get_by_label("Days ahead for end of life", exact=True).fill("400")
    page.get_by_label("Webhook URL", exact=True).fill("http://169.254.169.254/latest")
    page.get_by_label("Webhook secret", exact=True).fill("short")
    page.get_by_role("button", name="Register action").click()

    expect(page.get_by_role("alert")).to_contain_text("The action was not registered")
    name = _field(page, "Name")
    expect(name.locator(".field-error")).to_have_text(
        "name: must be 1 to 64 lowercase letters, digits and hyphens, not starting with a hyphen"
    )
    expect(page.locator("fieldset .field-error#err-events")).to_contain_text(
        "events: must list event kinds"
    )
    expect(_field(page, "Days ahead for end of life").locator(".field-error")).to_have_text(
        "end_of_life_days: must be a whole number from 1 to 365"
    )
    expect(_field(page, "Webhook URL").locator(".field-error")).to_contain_text("then.url: ")
    expect(_field(page, "Webhook secret").locator(".field-error")).to_have_text(
        "then.secret: must be 16 to 200 visible characters"
    )
    expect(_field(page, "Image name pattern").locator(".field-error")).to_have_count(0)
    # What was typed is still there, but the secret (never sent back).
    expect(page.get_by_label("Name", exact=True)).to_have_value("Bad_Name")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Image name pattern", exact=True)).to_have_value("payments-*")
    expect(page.get_by_label("Webhook URL", exact=True)).to_have_value(
        "http://169.254.169.254/latest"
    )
    expect(page.get_by_label("Webhook secret", exact=True)).to_have_value("")
    answer = httpx.get(f"{console.url}/v1/actions", headers=console.headers(), timeout=30)
    assert answer.json()["items"] == []


def test_delete_asks_first_then_removes_the_action_and_the_page_fits_a_phone(
    page: Page, console: Console
) -> None:
    admin = {"Authorization": f"Bearer {admin_token(console.env)}"}
    body = {
        "name": "mail-ops",
        "events": ["line-failed"],
        "then": {"kind": "email", "to": ["ops@example.org"]},
    }
    made = httpx.post(f"{console.url}/v1/actions", json=body, headers=admin, timeout=30)
    assert made.status_code == 201, made.text
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, admin["Authorization"].removeprefix("Bearer "), "/actions")
    action = page.locator('.action[data-name="mail-ops"]')
    expect(action.locator(".then")).to_contain_text("email · to ops@example.org")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    confirm = action.get_by_role("button", name="Yes, delete mail-ops")
    expect(confirm).to_be_hidden()
    summary = action.locator("summary", has_text="Delete mail-ops…")
    summary.focus()
    page.keyboard.press("Enter")  # the confirmation opens from the keyboard
    expect(confirm).to_be_visible()
    assert confirm.evaluate("e => (e.focus(), getComputedStyle(e).outlineStyle)") == "solid"
    confirm.click()
    expect(page.get_by_role("status")).to_have_text(
        "Action mail-ops was deleted, with its deliveries."
    )
    expect(page.locator(".action")).to_have_count(0)
    gone = httpx.get(f"{console.url}/v1/actions/{made.json()['id']}", headers=admin, timeout=30)
    assert gone.status_code == 404


def test_a_write_session_gets_the_apis_refusal_in_words(page: Page, console: Console) -> None:
    sign_in(page, console.token, "/actions")
    expect(page.locator(".new-action .notice")).to_contain_text(
        "this needs a token of scope admin (or higher); this one is write"
    )
    page.get_by_label("Name", exact=True).fill("deploy-hook")
    page.get_by_role("checkbox", name="image-deleted").check()
    page.get_by_label("Webhook URL", exact=True).fill("https://ci.example.org/hook")
    page.get_by_role("button", name="Register action").click()
    expect(page.locator(".refusal")).to_have_text(
        "this needs a token of scope admin (or higher); this one is write"
    )
    expect(page.get_by_label("Name", exact=True)).to_have_value("deploy-hook")
    expect(page.get_by_role("checkbox", name="image-deleted")).to_be_checked()
