"""The console's create/edit wizard in Debian's Chromium (Playwright), against a real
``couturier serve`` reading the fixture source of :mod:`tests.console_fixture` (site starters
``python`` and ``php`` over three fixture releases): a python image made with
``python3-requests-auto``, ``curl``, an env var and a certificates bundle dropped into the
wizard, its build started; an edit that adds a package and rebuilds; a spec with mistakes,
each message beside its field; and the php starter's blocked family shown disabled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.certs import key_pem, make_certificate
from tests.console import Console, expire_sessions, sign_in
from tests.console_fixture import build_console_repo, console_settings
from tests.fixture_repo import SigningKey
from tests.test_serve import Server
from tests.test_serve_builds import StallingMirror

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def console_repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    """The wizard's source: tests.console_fixture's, instead of the gallery's tiny one."""
    return build_console_repo(tmp_path_factory.mktemp("wizard-repo") / "repo", signing_key)


@pytest.fixture
def console(
    tmp_path: Path, console_mirror: StallingMirror, signing_key: SigningKey
) -> Iterator[Console]:
    """A ``couturier serve`` (SQLite, builds in process) with the python and php starters."""
    url = f"http://127.0.0.1:{console_mirror.server_address[1]}/"
    env = console_settings(tmp_path, url, signing_key)
    server = Server(env, tmp_path / "serve.log")
    try:
        yield Console(server, Path(env["COUTURIER_DATA_DIR"]), console_mirror, env)
    finally:
        console_mirror.release.set()
        server.stop()


def api(console: Console, path: str) -> dict[str, object]:
    answer = httpx.get(f"{console.url}{path}", headers=console.headers(), timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body, dict)
    return body


def search(page: Page, text: str, *, checked: bool = True) -> None:
    """Type ``text`` into the package search and wait for its results, and (``checked``) for
    every row's members (rows shown "checking" are filled in once typing pauses)."""
    page.get_by_label("Search packages by name, description or version").fill(text)
    expect(page.locator("#package-results")).to_have_attribute("data-query", text)
    if checked:
        expect(page.locator("#package-results")).to_have_attribute("data-checked", text)


def drop_files(page: Page, files: dict[str, bytes]) -> None:
    """Drop ``files`` (name → content) on the bundle's drop zone, as a drag from the desktop
    does: a ``drop`` event whose DataTransfer holds them."""
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, text] of Object.entries(files)) {
                transfer.items.add(new File([text], name, {type: "application/x-pem-file"}));
            }
            return transfer;
        }""",
        {name: content.decode() for name, content in files.items()},
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


def start_build(page: Page) -> None:
    page.get_by_role("button", name="Save and").click()
    notes = page.get_by_role("dialog", name="Before the build")
    expect(notes).to_contain_text("Test your image")
    notes.get_by_role("button", name="Start the build").click()


def saved_card(page: Page, console: Console) -> Locator:
    """After a save: the gallery, and its card of 1/my-python."""
    page.wait_for_url(f"{console.url}/")
    card = page.locator('.card[data-name="1/my-python"]')
    expect(card).to_be_visible()
    return card


def pick_python_and_add_packages(page: Page) -> None:
    """The starter step (python), then python3-requests-auto and curl found by search."""
    cards = page.locator("#starter-cards")
    expect(cards.locator(".starter-card", has_text="python")).to_contain_text("2030-06-30")
    page.locator('input[name="starter"][value="python"]').check()
    preview = page.locator("#preview")
    expect(preview.locator('.line-folder[data-line="3.14"] summary')).to_have_text(
        "3.14 (forky) · newest"
    )
    expect(preview.locator('.line-folder[data-line="3.11"] summary')).to_contain_text("available")
    page.get_by_role("button", name="Next").click()

    search(page, "requests")
    family = page.locator('.family[data-family="python3-requests"]')
    expect(family).to_contain_text("3.11: python3-requests 2.28.1+dfsg-1")
    expect(family).to_contain_text("3.13: python3-requests 2.32.3+dfsg-4")
    family.get_by_role("button", name="Add python3-requests-auto").click()
    search(page, "transferring data")  # by description
    page.get_by_role("button", name="Add curl", exact=True).click()
    expect(page.locator("#package-counter")).to_have_text("2 of 100 packages added")
    expect(preview.locator("#preview-added")).to_contain_text("python3-requests-auto")
    page.get_by_role("button", name="Next").click()


def add_env_and_upload_bundle(page: Page) -> None:
    """The env step (APP_ENV=production), then a certificates bundle dropped and uploaded."""
    page.get_by_role("button", name="Add a variable").click()
    page.get_by_label("Key").fill("APP_ENV")
    page.get_by_label("Value").fill("production")
    page.get_by_role("button", name="Next").click()

    page.get_by_label("Bundle name").fill("corp-ca")
    drop_files(page, {"corp-ca.pem": make_certificate("Corp Root CA").pem})
    expect(page.locator("#upload-chosen")).to_contain_text("corp-ca.pem")
    page.get_by_role("button", name="Upload the bundle").click()
    expect(page.locator("#upload-status")).to_have_text("Uploaded corp-ca version 1.")
    expect(page.get_by_label("corp-ca (certificates)")).to_be_checked()
    page.get_by_role("button", name="Next").click()


def test_a_python_image_made_in_the_wizard_starts_its_build_and_an_edit_rebuilds_it(
    page: Page, console: Console
) -> None:
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    sign_in(page, console.token, "/create")
    pick_python_and_add_packages(page)
    add_env_and_upload_bundle(page)
    preview = page.locator("#preview")
    expect(page.locator("#name-prefix")).to_have_text("1/")
    page.get_by_label("Name", exact=True).fill("my-python")
    page.get_by_label("Description", exact=True).fill("Python with requests and our CA")
    plan = preview.locator("#preview-plan")
    for line in ("3.11", "3.13", "3.14"):
        expect(plan.locator(f'[data-line="{line}"]')).to_contain_text("will be created")
    start_build(page)

    card = saved_card(page, console)
    image = api(console, "/v1/images/1/my-python")
    assert image["spec"] == {
        "name": "my-python",
        "description": "Python with requests and our CA",
        "starter": "python",
        "packages": ["python3-requests-auto", "curl"],
        "env": {"APP_ENV": "production"},
        "bundles": ["corp-ca"],
    }
    builds = api(console, "/v1/builds?image=1/my-python")["items"]
    assert isinstance(builds, list) and [b["trigger"] for b in builds] == ["create"]
    expect(card).to_have_attribute("data-trace", builds[0]["trace_id"])
    expect(card.get_by_role("status")).to_have_text("created", timeout=120_000)

    page.goto("/images/1/my-python/edit")
    expect(page.locator('input[name="starter"][value="python"]')).to_be_disabled()
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("readonly", "")
    expect(preview.locator("#preview-added")).to_contain_text("curl")
    search(page, "urllib3")
    page.get_by_role("button", name="Add python3-urllib3", exact=True).click()
    expect(page.locator("#package-counter")).to_have_text("3 of 100 packages added")
    page.get_by_role("button", name="4. Bundles").click()
    page.get_by_label("Version of corp-ca").select_option("1")
    expect(preview.locator("#preview-bundles")).to_have_text("corp-ca@1")
    start_build(page)
    card = saved_card(page, console)
    spec = api(console, "/v1/images/1/my-python")["spec"]
    assert isinstance(spec, dict)
    assert spec["packages"] == ["python3-requests-auto", "curl", "python3-urllib3"]
    assert spec["bundles"] == ["corp-ca@1"]
    builds = api(console, "/v1/builds?image=1/my-python")["items"]
    assert isinstance(builds, list) and [b["trigger"] for b in builds] == ["edit", "create"]
    expect(card).to_have_attribute("data-trace", builds[0]["trace_id"])
    expect(card.get_by_role("status")).to_have_text("created", timeout=120_000)
    assert script_errors == []


def test_a_spec_with_mistakes_shows_each_message_beside_its_field_and_keeps_the_input(
    page: Page, console: Console
) -> None:
    sign_in(page, console.token, "/create")
    page.locator('input[name="starter"][value="python"]').check()
    page.get_by_role("button", name="3. Env").click()
    rows = {"LANG": "fr_FR.UTF-8", "1BAD": "x", "EMPTY": "", "APP": "one"}
    for key, value in [*rows.items(), ("APP", "two")]:
        page.get_by_role("button", name="Add a variable").click()
        page.locator(".env-row").last.get_by_label("Key").fill(key)
        page.locator(".env-row").last.get_by_label("Value").fill(value)
    page.get_by_role("button", name="5. Details").click()
    page.get_by_label("Name", exact=True).fill("My_Image")
    name_error = page.locator("#error-name")
    expect(name_error).to_contain_text("must be 2-40 characters, lowercase letters")
    page.get_by_role("button", name="Save and build").click()

    # The first step with a mistake is shown, each message in the row it concerns.
    expect(page.locator('.step[data-step="env"]')).to_be_visible()
    errors = [page.locator(f"#env-error-{index}") for index in range(5)]
    expect(errors[0]).to_have_text("env.LANG: is set by the python starter")
    expect(errors[1]).to_have_text(
        "env.1BAD: is not a POSIX name (letters, digits, _; not a digit first)"
    )
    expect(errors[2]).to_have_text("env.EMPTY: needs a non-empty value")
    expect(errors[3]).to_be_hidden()
    expect(errors[4]).to_have_text("env.APP: is already set in a row above (a key may appear once)")
    expect(page.locator("#goto-details")).to_have_class("step-link has-error")
    assert page.locator("#env-key-1").input_value() == "1BAD"  # what was typed stays
    page.get_by_role("button", name="5. Details").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("My_Image")
    expect(name_error).to_be_visible()
    assert (
        httpx.get(f"{console.url}/v1/images", headers=console.headers(), timeout=30).json()["items"]
        == []
    )

    # Fixing the name clears its message as typed, without a save.
    page.get_by_label("Name", exact=True).fill("my-image")
    expect(name_error).to_be_hidden()


def test_the_php_starter_blocks_the_family_it_ships_and_offers_no_auto_for_a_dependency(
    page: Page, console: Console
) -> None:
    sign_in(page, console.token, "/create")
    php = page.locator('input[name="starter"][value="php"]')
    php.focus()
    page.keyboard.press("Space")
    expect(php).to_be_checked()
    page.get_by_role("button", name="Next").click()
    search(page, "curl")
    blocked = page.locator('.family[data-family="php-curl"]')
    expect(blocked).to_contain_text(
        "the php starter already ships php8.4-curl 8.4.5-1 on its newest line 8.4"
    )
    buttons = blocked.get_by_role("button")
    expect(buttons).to_have_count(2)  # php8.2-curl and php8.4-curl, no php-curl-auto
    for index in range(2):
        expect(buttons.nth(index)).to_be_disabled()
    dependency = page.locator('.family[data-family="libcurl4-dev"]')
    expect(dependency).to_contain_text("No -auto: libcurl4-dev holds development files")
    expect(dependency.get_by_role("button", name="Add libcurl4-dev-auto")).to_have_count(0)
    expect(
        page.locator('.family[data-family="curl"]').get_by_role("button", name="Add curl-auto")
    ).to_be_enabled()


def test_a_search_longer_than_the_api_takes_is_cut_at_its_bound_not_refused(
    page: Page, console: Console
) -> None:
    # GET /v1/packages takes q of at most 100 characters: a longer paste was sent whole,
    # refused (422, "q: String should have..."), and the previous query's rows stayed.
    refused: list[str] = []
    page.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    sign_in(page, console.token, "/create")
    page.locator('input[name="starter"][value="python"]').check()
    page.get_by_role("button", name="Next").click()
    search(page, "requests")
    box = page.get_by_label("Search packages by name, description or version")
    box.fill("requests" + "x" * 150)
    expect(box).to_have_value(("requests" + "x" * 150)[:100])
    expect(page.locator("#package-status")).to_have_text("No package family matches.")
    assert refused == []


def test_the_wizard_fits_a_phone_width(page: Page, console: Console) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, console.token, "/create")
    page.locator('input[name="starter"][value="python"]').check()
    page.get_by_role("button", name="Next").click()
    search(page, "requests")
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], json.dumps(width)
    expect(page.locator("#preview")).to_be_visible()


def test_a_search_shows_its_families_at_once_and_fills_in_their_members_after(
    page: Page, console: Console
) -> None:
    # The full answers (without unchecked=true) are held until the rows were seen "checking":
    # the real server answers them afterwards.
    held: list[Route] = []

    def hold_full_answers(route: Route) -> None:
        if "unchecked=true" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route("**/v1/packages?*", hold_full_answers)
    sign_in(page, console.token, "/create")
    page.locator('input[name="starter"][value="python"]').check()
    page.get_by_role("button", name="Next").click()
    search(page, "requests", checked=False)
    family = page.locator('.family[data-family="python3-requests"]')
    expect(family).to_have_attribute("aria-busy", "true")
    expect(family).to_contain_text("3.14 (newest): checking…")
    expect(family).not_to_contain_text("no member fits")
    auto = family.get_by_role("button", name="Add python3-requests-auto")
    expect(auto).to_be_enabled()
    auto.focus()  # a keyboard user on the row when it is filled in stays on its button
    while not any("q=requests" in route.request.url for route in held):
        page.wait_for_timeout(50)  # the typing paused: the wizard asks for the members
    for route in held:
        route.continue_()
    page.unroute("**/v1/packages?*")
    expect(page.locator("#package-results")).to_have_attribute("data-checked", "requests")
    expect(family).to_have_attribute("data-checked", "true")
    expect(family).not_to_have_attribute("aria-busy", "true")
    expect(family).to_contain_text("3.14 (newest): python3-requests 2.32.3+dfsg-5")
    expect(family.get_by_role("button", name="Add python3-requests", exact=True)).to_be_enabled()
    expect(family.get_by_role("button", name="Add python3-requests-auto")).to_be_focused()


def test_editing_an_image_the_tenant_lacks_is_not_found(page: Page, console: Console) -> None:
    sign_in(page, console.token, "/create")
    for path in ("/images/1/nothing/edit", "/images/2/other/edit"):
        answer = page.goto(path)
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("alert")).to_contain_text("no private image")
        expect(page.locator("#wizard")).to_have_count(0)


def test_an_upload_the_api_refuses_shows_why_beside_its_field_and_keeps_the_input(
    page: Page, console: Console
) -> None:
    sign_in(page, console.token, "/create")
    page.get_by_role("button", name="4. Bundles").click()
    name = page.get_by_label("Bundle name")
    upload = page.get_by_role("button", name="Upload the bundle")
    name.fill("Bad_Name")
    page.get_by_label("Files placed at a target directory").check()
    page.get_by_label("Target directory (absolute)").fill("relative/dir")
    drop_files(page, {"app.conf": b"level = 3\n"})
    upload.click()
    expect(page.locator("#error-upload-name")).to_contain_text("name: must be 2-40 characters")
    expect(name).to_have_value("Bad_Name")
    name.fill("app-conf")
    upload.click()
    expect(page.locator("#error-upload-target")).to_have_text(
        "target: must be absolute, e.g. /relative/dir"
    )
    expect(page.locator("#error-upload-name")).to_be_hidden()
    page.get_by_label("Certificates (PEM CA certificates, trusted system-wide)").check()
    issued = make_certificate("Corp Root CA")
    drop_files(page, {"corp.key": key_pem(issued)})
    upload.click()
    expect(page.locator("#error-upload-files")).to_contain_text("corp.key: holds a private key")
    expect(page.locator("#upload-chosen")).to_contain_text("corp.key")
    listed = httpx.get(f"{console.url}/v1/bundles", headers=console.headers(), timeout=30)
    assert listed.json()["items"] == []


def test_a_session_ending_mid_wizard_returns_through_sign_in_with_what_was_typed(
    page: Page, console: Console
) -> None:
    sign_in(page, console.token, "/create")
    page.locator('input[name="starter"][value="python"]').check()
    page.get_by_role("button", name="Next").click()
    search(page, "requests")
    page.get_by_role("button", name="Add python3-requests-auto").click()
    page.get_by_role("button", name="5. Details").click()
    page.get_by_label("Name", exact=True).fill("my-draft")
    assert expire_sessions(console) == 1
    page.get_by_label("Description", exact=True).fill("typed before the session ended")
    expect(page.get_by_role("status")).to_have_text(
        "Your session has expired. Sign in again to go on."
    )
    page.get_by_label("Token").fill(console.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console.url}/create")
    expect(page.get_by_label("Name", exact=True)).to_have_value("my-draft")
    expect(page.get_by_label("Description", exact=True)).to_have_value(
        "typed before the session ended"
    )
    expect(page.locator('input[name="starter"][value="python"]')).to_be_checked()
    expect(page.locator("#preview-added")).to_contain_text("python3-requests-auto")
