#!/usr/bin/env python3
"""Write screenshots of the create wizard's steps into docs/console/ (``wizard-*.png``).

Runs the flow of the wizard's browser test (tests/test_console_wizard.py) on its machinery: a
real ``couturier serve`` over the fixture source with the python and php site starters
(tests/console_fixture.py), Debian's Chromium driven by Playwright: the starter picked, the
packages found by search (and the php starter's blocked family), an env row the API refuses, a
certificates bundle dropped and uploaded, the details, the build notes, and the packages step
at phone width. Run from the checkout: ``uv run python scripts/wizard_screenshots.py [--out
DIR]``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.certs import make_certificate  # noqa: E402
from tests.console import CHROMIUM  # noqa: E402
from tests.console_fixture import build_console_repo, console_settings  # noqa: E402
from tests.fixture_repo import make_signing_key  # noqa: E402
from tests.test_console_wizard import drop_files, search  # noqa: E402
from tests.test_serve import Server, first_token  # noqa: E402

WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_timeout(400)  # the plan after a pause in typing, the fonts
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(f"wrote {out / f'{name}.png'}")


def _steps(page: Page, out: Path) -> None:
    next_step = page.get_by_role("button", name="Next")
    page.locator('input[name="starter"][value="python"]').check()
    _shoot(page, out, "wizard-starter")
    next_step.click()
    search(page, "requests")
    page.get_by_role("button", name="Add python3-requests-auto").click()
    search(page, "curl")
    page.get_by_role("button", name="Add curl", exact=True).click()
    _shoot(page, out, "wizard-packages")
    next_step.click()
    for key, value in (("APP_ENV", "production"), ("LANG", "fr_FR.UTF-8")):
        page.get_by_role("button", name="Add a variable").click()
        page.locator(".env-row").last.get_by_label("Key").fill(key)
        page.locator(".env-row").last.get_by_label("Value").fill(value)
    _shoot(page, out, "wizard-env")
    page.locator(".env-row").last.get_by_role("button", name="Remove").click()
    next_step.click()
    page.get_by_label("Bundle name").fill("corp-ca")
    drop_files(page, {"corp-ca.pem": make_certificate("Corp Root CA").pem})
    page.get_by_role("button", name="Upload the bundle").click()
    page.get_by_text("Uploaded corp-ca version 1.").wait_for()
    _shoot(page, out, "wizard-bundles")
    next_step.click()
    page.get_by_label("Name", exact=True).fill("payments-api")
    page.get_by_label("Description", exact=True).fill("Python with requests and our CA")
    _shoot(page, out, "wizard-details")
    page.get_by_role("button", name="Save and build").click()
    page.get_by_role("dialog", name="Before the build").wait_for()
    _shoot(page, out, "wizard-build-notes")
    page.get_by_role("button", name="Go back").click()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="couturier-wizard-shots-") as work:
        tmp = Path(work)
        key = make_signing_key(tmp / "keys")
        repo = build_console_repo(tmp / "repo", key)
        mirror = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(repo))
        )
        threading.Thread(target=mirror.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{mirror.server_address[1]}/"
        server = Server(console_settings(tmp / "serve", url, key), tmp / "serve.log")
        try:
            token = first_token(server.stderr())
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
                page = browser.new_context(base_url=server.url, viewport=WIDE).new_page()
                page.goto("/sign-in?next=/create")
                page.get_by_label("Token").fill(token)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_selector("#wizard[data-ready='true']")
                _steps(page, args.out)
                page.get_by_role("button", name="1. Starter").click()
                page.locator('input[name="starter"][value="php"]').check()
                page.get_by_role("button", name="Next").click()
                search(page, "curl")
                _shoot(page, args.out, "wizard-blocked")
                page.set_viewport_size(PHONE)
                _shoot(page, args.out, "wizard-phone")
                browser.close()
        finally:
            server.stop()
            mirror.shutdown()
            key.close()


if __name__ == "__main__":
    main()
