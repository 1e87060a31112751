"""``couturier serve`` as a real process building private images from a fixture repository
served over HTTP by the test (no network): an image made with ``curl`` through the API goes
``in progress`` → ``created``, and a ``serve`` killed (SIGKILL) in the middle of a build
finishes that build when it is started again, the build record counting two attempts; then
the gallery, an edit that adds a package, the build's events and a delete, all with ``curl``;
on SQLite and on a real PostgreSQL.

The repository's server is a stand-in for a package mirror that stalls: it holds the first
request for one ``.deb`` until the test lets it go, so the build is certainly running when the
process is killed."""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
import yaml

from tests.fixture_repo import SigningKey, build_repo
from tests.test_cli_starters import RELEASES, TINY
from tests.test_images_api import REPO
from tests.test_serve import Server, couturier, environment, first_token
from tests.threaded import serving

STALLED_DEB = "tool_2.1-3_all.deb"  # line 2's primary package


class StallingMirror(ThreadingHTTPServer):
    """Serves a repository directory; the first request for ``stalled_deb`` (default
    :data:`STALLED_DEB`) waits until :attr:`release` is set (and says it arrived through
    :attr:`stalled`)."""

    daemon_threads = True

    def __init__(self, root: Path, stalled_deb: str = STALLED_DEB) -> None:
        self.stalled_deb = stalled_deb
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.requests: list[str] = []
        handler = functools.partial(_Handler, directory=str(root))
        super().__init__(("127.0.0.1", 0), handler)


class _Handler(SimpleHTTPRequestHandler):
    server: StallingMirror

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.path.endswith(self.server.stalled_deb) and not self.server.stalled.is_set():
            self.server.stalled.set()
            self.server.release.wait(120)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def mirror(tmp_path: Path, signing_key: SigningKey) -> Iterator[StallingMirror]:
    root = build_repo(tmp_path / "repo", REPO, key=signing_key, arch=("amd64",))
    with serving(StallingMirror(root)) as server:
        try:
            yield server
        finally:
            server.release.set()  # a stalled request ends, so the shutdown does not wait


def served_environment(
    tmp_path: Path, mirror: ThreadingHTTPServer, signing_key: SigningKey, database_url: str | None
) -> dict[str, str]:
    """The environment of a ``serve`` (or ``worker``) reading the fixture repository that
    ``mirror`` serves, with the site starter ``tiny``, its files under ``tmp_path``."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    url = f"http://127.0.0.1:{mirror.server_address[1]}/"
    settings = {
        "architectures": ["amd64"],
        "starters_dir": str(tmp_path / "site"),
        "mirrors": {"fixture": {"url": url, "keyring": str(signing_key.keyring)}},
        "releases": {
            name: {"suites": [{"mirror": "fixture", "suite": s} for s in suites]}
            for name, suites in RELEASES.items()
        },
    }
    (tmp_path / "couturier.yaml").write_text(yaml.safe_dump(settings))
    config = str(tmp_path / "couturier.yaml")
    return {**environment(tmp_path, database_url), "COUTURIER_CONFIG": config}


def curl(*args: str) -> tuple[int, str]:
    """``curl`` ARGS: the HTTP status and the body."""
    done = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_a_build_killed_with_its_server_completes_after_a_restart(
    tmp_path: Path, mirror: StallingMirror, signing_key: SigningKey, database_url: str
) -> None:
    env = served_environment(tmp_path, mirror, signing_key, database_url)
    server = Server(env, tmp_path / "serve-1.log")
    try:
        auth = f"Authorization: Bearer {first_token(server.stderr())}"
        spec = json.dumps({"name": "my-tool", "starter": "tiny", "env": {"APP_ENV": "test"}})
        status, body = curl(
            "-X",
            "POST",
            "-H",
            auth,
            "-H",
            "Content-Type: application/json",
            "--data",
            spec,
            f"{server.url}/v1/images",
        )
        assert status == 202, body
        accepted = json.loads(body)
        assert accepted["name"] == "1/my-tool" and accepted["build"]["status"] == "in progress"
        trace = accepted["build"]["trace_id"]
        assert mirror.stalled.wait(60), server.stderr()
        status, body = curl("-H", auth, f"{server.url}/v1/builds/{trace}")
        running = json.loads(body)
        assert (running["status"], running["attempts"]) == ("in progress", 1)
        assert {line["status"] for line in running["lines"]} == {"pending"}
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(30)

    server = Server(env, tmp_path / "serve-2.log")
    try:
        build = _finished(server.url, auth, trace)
        assert (build["status"], build["attempts"], build["trigger"]) == ("created", 2, "create")
        assert [line["status"] for line in build["lines"]] == ["created", "created"]
        assert sum(path.endswith(STALLED_DEB) for path in mirror.requests) == 2

        status, body = curl("-H", auth, f"{server.url}/v1/images")
        (card,) = json.loads(body)["items"]
        assert card["build"] == {"trace_id": trace, "status": "created"}
        assert card["label"] == "private image" and len(card["lines"]) == 2

        edited = json.dumps({"name": "my-tool", "starter": "tiny", "packages": ["both"]})
        status, body = curl(
            "-X",
            "PUT",
            "-H",
            auth,
            "-H",
            "Content-Type: application/json",
            "--data",
            edited,
            f"{server.url}/v1/images/1/my-tool",
        )
        assert status == 202, body
        second = json.loads(body)["build"]["trace_id"]
        status, events = curl("-N", "-H", auth, f"{server.url}/v1/builds/{second}/events")
        assert status == 200
        assert events.rstrip().endswith(
            f'event: end\ndata: {{"trace_id":"{second}","status":"created"}}'
        ), events
        assert _finished(server.url, auth, second)["trigger"] == "edit"

        status, body = curl("-X", "DELETE", "-H", auth, f"{server.url}/v1/images/1/my-tool")
        assert status == 204, body
        status, body = curl("-H", auth, f"{server.url}/v1/builds/{trace}")
        assert status == 404
        # Its repository is gone with it (the blobs wait for garbage collection); the
        # starter's own lines, built after its first build, stay.
        assert (tmp_path / "data" / "blobs" / "sha256").is_dir()
        for table in ("registry_tags", "registry_manifests"):
            assert _repositories(database_url, table) in ([], ["starters/tiny"]), table
    finally:
        assert server.stop() == 0, server.stderr()


def _repositories(database_url: str, table: str) -> list[str]:
    """The repositories that have rows in the registry table ``table``."""
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = sqlalchemy.text(f"SELECT DISTINCT repository FROM {table}")
            return list(connection.execute(query).scalars())
    finally:
        engine.dispose()


def _finished(url: str, auth: str, trace: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        status, body = curl("-H", auth, f"{url}/v1/builds/{trace}")
        assert status == 200, body
        build: dict[str, Any] = json.loads(body)
        if build["status"] != "in progress":
            return build
        assert time.monotonic() < deadline, build
        time.sleep(0.2)


def test_workers_is_a_small_whole_number(tmp_path: Path) -> None:
    refused = couturier(environment(tmp_path), "serve", "--workers", "many")
    assert refused.returncode == 2
    assert "'many' is not a number of workers (0 to 64)" in refused.stderr


def test_sigterm_stops_serve_while_a_build_runs_and_is_followed(
    tmp_path: Path, mirror: StallingMirror, signing_key: SigningKey
) -> None:
    env = served_environment(tmp_path, mirror, signing_key, None)
    server = Server(env, tmp_path / "serve-1.log")
    try:
        auth = f"Authorization: Bearer {first_token(server.stderr())}"
        spec = json.dumps({"name": "my-tool", "starter": "tiny"})
        status, body = curl(
            "-X",
            "POST",
            "-H",
            auth,
            "-H",
            "Content-Type: application/json",
            "--data",
            spec,
            f"{server.url}/v1/images",
        )
        assert status == 202, body
        trace = json.loads(body)["build"]["trace_id"]
        assert mirror.stalled.wait(60), server.stderr()
        follower = subprocess.Popen(
            ["curl", "-sSN", "-H", auth, f"{server.url}/v1/builds/{trace}/events"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)  # the stream is open, the build stalled
        started = time.monotonic()
        assert server.stop() == 0, server.stderr()
        assert time.monotonic() - started < 25
        follower.wait(10)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    # The build the stop interrupted runs again at the next start.
    server = Server(env, tmp_path / "serve-2.log")
    try:
        build = _finished(server.url, auth, trace)
        assert (build["status"], build["attempts"]) == ("created", 2)
    finally:
        assert server.stop() == 0, server.stderr()
