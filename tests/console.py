"""Fixtures for the console's browser tests (marker ``browser``): a real ``couturier serve``
over the fixture repository, and Debian's Chromium driven by Playwright.

Playwright comes from PyPI; its own browser downloads are not used: Debian's ``chromium``
(``/usr/bin/chromium``, installed by ``./run-tests``) is launched by ``executable_path``.

The repository is :data:`tests.test_images_api.REPO` plus ``webtool``, which depends on
``libweb``, so that an image adding ``webtool`` has a package pulled in by another. It is
served by :class:`tests.test_serve_builds.StallingMirror`, let go from the start: a test that
wants a build held (to see it ``in progress``) clears :attr:`StallingMirror.release` first.

A plugin of tests/conftest.py: one set of fixtures for every module (a second Playwright
driver would refuse to start inside the first's event loop).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.fixture_repo import SigningKey, build_repo
from tests.test_images_api import REPO
from tests.test_serve import Server, first_token
from tests.test_serve_builds import STALLED_DEB, StallingMirror, served_environment
from tests.threaded import serving

__all__ = [
    "CHROMIUM",
    "CONSOLE_REPO",
    "STALLED_DEB",
    "Console",
    "admin_token",
    "browser",
    "console",
    "console_mirror",
    "console_repo",
    "expire_sessions",
    "page",
    "playwright",
    "sign_in",
]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
_LIBWEB = {"Package": "libweb", "Version": "1.0-1", "Description": "web helper library"}
_WEBTOOL = {
    "Package": "webtool",
    "Version": "1.0-1",
    "Depends": "libweb",
    "Description": "a web tool that needs libweb",
}
CONSOLE_REPO: dict[str, list[dict[str, str]]] = {
    suite: [*stanzas, _LIBWEB, _WEBTOOL] for suite, stanzas in REPO.items()
}


class Console:
    """A running ``couturier serve`` (tenant 1 with its first ``write`` token), its data
    directory, and the mirror it reads."""

    def __init__(
        self, server: Server, data_dir: Path, mirror: StallingMirror, env: dict[str, str]
    ) -> None:
        self.server = server
        self.env = env
        self.url = server.url
        self.token = first_token(server.stderr())
        self.data_dir = data_dir
        self.mirror = mirror

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def console_repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    root = tmp_path_factory.mktemp("console-repo") / "repo"
    return build_repo(root, CONSOLE_REPO, key=signing_key, arch=("amd64",))


@pytest.fixture
def console_mirror(console_repo: Path) -> Iterator[StallingMirror]:
    server = StallingMirror(console_repo)
    server.release.set()
    with serving(server):
        try:
            yield server
        finally:
            server.release.set()  # a test that held a package: the shutdown must not wait


@pytest.fixture
def console(
    tmp_path: Path, console_mirror: StallingMirror, signing_key: SigningKey
) -> Iterator[Console]:
    """A ``couturier serve`` (SQLite, builds in process) over the console's repository."""
    env = served_environment(tmp_path, console_mirror, signing_key, None)
    server = Server(env, tmp_path / "serve.log")
    try:
        yield Console(server, Path(env["COUTURIER_DATA_DIR"]), console_mirror, env)
    finally:
        console_mirror.release.set()
        server.stop()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1280x800, its URLs relative to the server."""
    context = browser.new_context(base_url=console.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def sign_in(page: Page, token: str, path: str = "/") -> None:
    """Open ``path``, be sent to sign-in, sign in with ``token`` and land back on ``path``."""
    page.goto(path)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def admin_token(env: dict[str, str], tenant: int = 1) -> str:
    """A new ``admin`` token of ``tenant``, made by ``couturier admin token create`` on the
    installation of the serve whose environment is ``env`` (the first token is ``write``)."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "couturier.cli.main", "admin", "token", "create"),
            *("--tenant", str(tenant), "--scope", "admin"),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


def expire_sessions(console: Console) -> int:
    """Make every session of the console's database expired an hour ago (as the clock would
    after its lifetime); how many there were. SQLite, in the server's data directory."""
    with sqlite3.connect(console.data_dir / "couturier.db") as db:
        done = db.execute("UPDATE console_sessions SET expires_at = datetime('now', '-1 hour')")
        return int(done.rowcount)
