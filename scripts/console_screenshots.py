#!/usr/bin/env python3
"""Write the console's screenshots into docs/console/ (shown in the README).

Runs the flows of the browser tests (tests/test_console*.py) on their machinery: a real
``couturier serve`` over the fixture repository the tests build (tests/console.py), Debian's
Chromium driven by Playwright. Images are made through the API as a user's script would: one
whose build is held at the mirror (``in progress``), one with a line skipped (``some lines
created``) and one created with a file bundle, so every status and every part of the image
page shows; two actions (one webhook to a local receiver, with a test event delivered).
Run from the checkout: ``uv run python scripts/console_screenshots.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.console import CHROMIUM, CONSOLE_REPO, admin_token  # noqa: E402
from tests.fixture_repo import build_repo, make_signing_key  # noqa: E402
from tests.receivers import Receiver  # noqa: E402
from tests.test_serve import Server, first_token  # noqa: E402
from tests.test_serve_builds import StallingMirror, served_environment  # noqa: E402

HELD_DEB = "both_2.0-1_all.deb"  # fetched by the last image only: its build is held there
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


def _finished(client: httpx.Client, trace: str) -> None:
    deadline = time.monotonic() + 180
    while client.get(f"/v1/builds/{trace}").json()["status"] == "in progress":
        if time.monotonic() > deadline:
            raise SystemExit(f"build {trace} did not end")
        time.sleep(0.2)


def _create(client: httpx.Client, spec: dict[str, object]) -> str:
    answer = client.post("/v1/images", json=spec)
    answer.raise_for_status()
    return str(answer.json()["build"]["trace_id"])


def _shoot(page: Page, out: Path, name: str, *, full: bool = True) -> None:
    page.wait_for_timeout(300)  # the fonts and the SVG settle
    page.screenshot(path=str(out / f"{name}.png"), full_page=full)
    print(f"wrote {out / f'{name}.png'}")


def _seed(client: httpx.Client, mirror: StallingMirror) -> None:
    """A files bundle in two versions, a created image using it, a partial one, and one held
    in progress at the mirror (released by the caller)."""
    for content in (b"level=info\n", b"level=debug\n"):
        answer = client.post(
            "/v1/bundles/app-conf",
            data={"type": "files", "target": "/etc/webtool"},
            files=[("files", ("webtool.conf", content))],
        )
        answer.raise_for_status()
    made = _create(
        client,
        {
            "name": "web-app",
            "description": "the tiny starter with webtool and its configuration",
            "starter": "tiny",
            "packages": ["webtool"],
            "env": {"APP_ENV": "production"},
            "bundles": ["app-conf"],
        },
    )
    partial = _create(client, {"name": "legacy-extra", "starter": "tiny", "packages": ["extra"]})
    _finished(client, made)
    _finished(client, partial)
    mirror.release.clear()
    _create(client, {"name": "web-next", "starter": "tiny", "packages": ["webtool", "both"]})
    if not mirror.stalled.wait(60):
        raise SystemExit("the held build never reached the mirror")


def _seed_actions(base_url: str, admin: str) -> None:
    """A webhook action to a local receiver with a test event delivered, and an email one."""
    headers = {"Authorization": f"Bearer {admin}"}
    with (
        Receiver(default=200) as receiver,
        httpx.Client(base_url=base_url, headers=headers, timeout=60) as client,
    ):
        hook = client.post(
            "/v1/actions",
            json={
                "name": "deploy-hook",
                "events": ["line-new-digest", "line-failed"],
                "if": {"image": "web-*"},
                "then": {
                    "kind": "webhook",
                    "url": f"{receiver.url}/hooks/couturier",
                    "secret": "a-long-random-shared-secret",
                },
            },
        )
        hook.raise_for_status()
        client.post(
            "/v1/actions",
            json={
                "name": "ops-mail",
                "events": ["line-end-of-life", "cves-fixed"],
                "end_of_life_days": 60,
                "then": {"kind": "email", "to": ["ops@example.org"]},
            },
        ).raise_for_status()
        client.post(f"/v1/actions/{hook.json()['id']}/test").raise_for_status()
        receiver.wait_for(1)
        deadline = time.monotonic() + 60
        path = f"/v1/actions/{hook.json()['id']}/deliveries"
        while client.get(path).json()["items"][0]["state"] == "pending":
            if time.monotonic() > deadline:
                raise SystemExit("the test event was not delivered")
            time.sleep(0.2)


def _shoot_actions(page: Page, out: Path, admin: str) -> None:
    page.context.clear_cookies()  # actions are managed with an admin token
    page.goto("/actions")
    page.get_by_label("Token").fill(admin)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="deploy-hook").wait_for()
    _shoot(page, out, "actions")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="couturier-shots-") as work:
        tmp = Path(work)
        key = make_signing_key(tmp / "keys")
        repo = build_repo(tmp / "repo", CONSOLE_REPO, key=key, arch=("amd64",))
        mirror = StallingMirror(repo, HELD_DEB)
        mirror.release.set()
        threading.Thread(target=mirror.serve_forever, daemon=True).start()
        env = served_environment(tmp, mirror, key, None)
        server = Server(env, tmp / "serve.log")
        try:
            token = first_token(server.stderr())
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
                _seed(client, mirror)
            admin = admin_token(env)
            _seed_actions(server.url, admin)
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True)
                context = browser.new_context(base_url=server.url, viewport=WIDE)
                page = context.new_page()
                page.goto("/")
                page.get_by_label("Token").fill(token[:12] + "…")
                _shoot(page, args.out, "sign-in", full=False)
                page.get_by_label("Token").fill(token)
                page.get_by_role("button", name="Sign in").click()
                page.locator('.card[data-name="1/legacy-extra"] summary').click()
                _shoot(page, args.out, "gallery")
                page.goto("/images/1/web-app")
                page.locator('.sbom[data-line="2"] li[data-package="webtool"] summary').click()
                _shoot(page, args.out, "image")
                page.goto("/bundles")
                _shoot(page, args.out, "bundles")
                _shoot_actions(page, args.out, admin)
                page.set_viewport_size(PHONE)
                page.goto("/")
                _shoot(page, args.out, "gallery-phone")
                page.goto("/actions")
                _shoot(page, args.out, "actions-phone")
                mirror.release.set()
                browser.close()
        finally:
            mirror.release.set()
            server.stop()
            mirror.shutdown()
            key.close()


if __name__ == "__main__":
    main()
