"""The console's image pages in Debian's Chromium (Playwright), against a real ``couturier
serve`` over the fixture repository: a card of the gallery goes from ``in progress`` to
``created`` by itself (the build streams its end), the image page shows the package a package
pulled in under that package in the line's SBOM, and delete wants the image's name."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from couturier.web.layerchart import ROLE_NAMES, human_size
from tests.console import Console, sign_in

pytestmark = pytest.mark.browser

SPEC = {
    "name": "web-app",
    "description": "the tiny starter with webtool",
    "starter": "tiny",
    "packages": ["webtool"],
    "env": {"APP_ENV": "test"},
}


def create(console: Console, spec: dict[str, object]) -> str:
    """Make the image through the API (as a script or the CLI would); its build's trace ID."""
    answer = httpx.post(
        f"{console.url}/v1/images", json=spec, headers=console.headers(), timeout=60
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["build"]["trace_id"])


def test_a_card_goes_from_in_progress_to_created_and_its_page_shows_the_sbom_tree(
    page: Page, console: Console
) -> None:
    console.mirror.release.clear()  # hold line 2's package: the build stays in progress
    sign_in(page, console.token)
    expect(page.get_by_text("No private image yet.")).to_be_visible()
    trace = create(console, SPEC)
    page.reload()
    card = page.locator('.card[data-name="1/web-app"]')
    expect(card.get_by_role("link", name="1/web-app")).to_be_visible()
    expect(card.locator(".label")).to_have_text("private image")
    expect(card.locator(".starter")).to_have_text("starter tiny")
    expect(card.get_by_role("status")).to_have_text("in progress")
    assert card.get_attribute("data-trace") == trace
    assert console.mirror.stalled.wait(60)
    console.mirror.release.set()
    # No reload: the card follows the build's events and is re-rendered when it ends.
    expect(card.get_by_role("status")).to_have_text("created", timeout=90_000)
    expect(card.locator(".tag")).to_have_text(["1", "2"])

    card.get_by_role("link", name="1/web-app").click()
    expect(page.get_by_role("heading", name="1/web-app", exact=True)).to_be_visible()
    host = console.url.removeprefix("http://")
    expect(page.locator("td.pull code").nth(1)).to_have_text(f"podman pull {host}/1/web-app:2")
    line = page.locator('.sbom[data-line="2"]')
    webtool = line.locator('li[data-package="webtool"]')
    expect(webtool.locator(".pkg").first).to_have_text("webtool")
    webtool.get_by_text("pulled in 1").click()
    pulled = webtool.locator('li[data-package="libweb"]')
    expect(pulled).to_be_visible()
    expect(pulled.locator(".ver")).to_have_text("1.0-1")
    # libweb is nowhere else: not an added package of its own, not a starter package
    expect(line.locator('li[data-package="libweb"]')).to_have_count(1)
    # The layer chart draws what the API says of the line's layers, and of the starter's once
    # its lines are built (after its first private image): wait for them, then look again.
    deadline = time.monotonic() + 90
    while True:
        packages = httpx.get(
            f"{console.url}/v1/starters/tiny/lines/2/packages", headers=console.headers()
        ).json()
        if packages["build"]["status"] not in {"queued", "building"}:
            break
        assert time.monotonic() < deadline, packages
        time.sleep(0.2)
    assert packages["build"]["status"] == "built"
    page.reload()
    layers = httpx.get(
        f"{console.url}/v1/images/1/web-app/lines/2/layers", headers=console.headers()
    ).json()
    assert [layer["role"] for layer in layers["layers"]] == ["starter", "added", "generated"]
    parts = ", ".join(
        f"{ROLE_NAMES[layer['role']]}: {human_size(layer['size'])}" for layer in layers["layers"]
    )
    chart = page.get_by_role("region", name="Line 2 2.1").get_by_role("img")
    starter = layers["starter"]
    starter_parts = ", ".join(
        f"{ROLE_NAMES[layer['role']]}: {human_size(layer['size'])}" for layer in starter["layers"]
    )
    expect(chart).to_have_accessible_name(
        f"Size by layer: 1/web-app:2 {human_size(layers['size'])}, {parts}; "
        f"starters/tiny:2 {human_size(starter['size'])}, {starter_parts}"
    )
    expect(page.locator("table.history tbody tr")).to_have_count(1)
    expect(page.locator("table.history tbody tr td").nth(1)).to_have_text("create")
    expect(page.locator("#spec-yaml")).to_contain_text("webtool")


def test_delete_asks_for_the_name_and_then_removes_the_image(page: Page, console: Console) -> None:
    trace = create(console, SPEC)
    sign_in(page, console.token, "/images/1/web-app")
    confirm = page.get_by_label("Type web-app to confirm")
    confirm.fill("web-ap")
    page.get_by_role("button", name="Delete 1/web-app").click()
    expect(page.get_by_role("alert")).to_have_text("Type the image's name, web-app, to delete it.")
    expect(confirm).to_have_value("web-ap")  # what was typed stays
    expect(confirm).to_have_attribute("aria-invalid", "true")
    confirm.fill("web-app")
    page.get_by_role("button", name="Delete 1/web-app").click()
    expect(page.get_by_role("status").first).to_have_text("Deleted 1/web-app.")
    expect(page.get_by_text("No private image yet.")).to_be_visible()
    gone = httpx.get(f"{console.url}/v1/images/1/web-app", headers=console.headers())
    assert gone.status_code == 404
    assert (
        httpx.get(f"{console.url}/v1/builds/{trace}", headers=console.headers()).status_code == 404
    )


def finished(console: Console, trace: str) -> str:
    """The status of build ``trace`` once it has ended (polled through the API)."""
    deadline = time.monotonic() + 120
    while True:
        build = httpx.get(f"{console.url}/v1/builds/{trace}", headers=console.headers()).json()
        if build["status"] != "in progress":
            return str(build["status"])
        assert time.monotonic() < deadline, build
        time.sleep(0.2)


def test_a_partial_build_opens_its_line_errors_and_the_gallery_filters_and_searches(
    page: Page, console: Console
) -> None:
    partial = create(console, {"name": "old-extra", "starter": "tiny", "packages": ["extra"]})
    whole = create(console, {"name": "web-app", "starter": "tiny", "packages": ["webtool"]})
    assert (finished(console, partial), finished(console, whole)) == (
        "some lines created",
        "created",
    )
    errors: list[str] = []  # what the browser reports: a script error, a CSP refusal
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    sign_in(page, console.token)
    card = page.locator('.card[data-name="1/old-extra"]')
    expect(card.get_by_role("status")).to_have_text("some lines created")
    card.get_by_text("Why lines were not created").click()
    problem = card.locator(".problems li")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("2 skipped: ")
    expect(problem).to_contain_text("extra")
    expect(card.locator(".problems .trace code")).to_have_text(partial)

    cards = page.locator(".card")
    expect(cards).to_have_count(2)
    page.get_by_label("Status").select_option("some lines created")
    expect(cards).to_have_count(1)
    expect(page).to_have_url(re.compile(r"status=some(\+|%20)lines(\+|%20)created"))
    page.get_by_label("Status").select_option("")
    expect(cards).to_have_count(2)
    page.get_by_label("Search by name").fill("web")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-name", "1/web-app")
    page.get_by_label("Starter").select_option("tiny")
    expect(cards).to_have_count(1)
    page.get_by_label("Search by name").fill("nothing-like-it")
    expect(page.get_by_text("No image matches these filters.")).to_be_visible()
    assert errors == []


def test_pages_fit_a_phone_width_and_are_reached_with_the_keyboard(
    page: Page, console: Console
) -> None:
    assert finished(console, create(console, SPEC)) == "created"
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, console.token)
    for path in ("/", "/images/1/web-app", "/bundles"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    for _ in range(10):  # the filters, then the first card's link
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "1/web-app":
            break
    focused = page.get_by_role("link", name="1/web-app")
    expect(focused).to_be_focused()
    outline = focused.evaluate("e => getComputedStyle(e).outlineStyle")
    assert outline == "solid"  # the focus is visible
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="1/web-app", exact=True)).to_be_visible()


def test_the_bundles_page_lists_each_version_and_the_images_that_use_it(
    page: Page, console: Console
) -> None:
    for content in (b"level=info\n", b"level=debug\n"):
        answer = httpx.post(
            f"{console.url}/v1/bundles/app-conf",
            headers=console.headers(),
            data={"type": "files", "target": "/etc/webtool"},
            files=[("files", ("webtool.conf", content))],
        )
        assert answer.status_code == 201, answer.text
    create(console, {**SPEC, "bundles": ["app-conf@1"]})
    create(console, {**SPEC, "name": "web-new", "bundles": ["app-conf"]})
    sign_in(page, console.token, "/bundles")
    section = page.get_by_role("region", name="app-conf")
    rows = section.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("th")).to_contain_text("2")
    expect(rows.nth(0).locator("th .label")).to_have_text("newest")
    expect(rows.nth(0)).to_contain_text("webtool.conf (12 B)")
    expect(rows.nth(0).get_by_role("link")).to_have_text(["1/web-new"])
    expect(rows.nth(1).get_by_role("link")).to_have_text(["1/web-app"])
    rows.nth(1).get_by_role("link", name="1/web-app").click()
    expect(page.get_by_role("heading", name="1/web-app", exact=True)).to_be_visible()
