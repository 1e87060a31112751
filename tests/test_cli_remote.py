"""``couturier images``, ``builds`` and ``tokens`` against a real ``couturier serve`` started
by the test on a free port, building the site starter ``tiny`` from a signed fixture
repository (no network): apply creates and follows the build, apply again edits and rebuilds,
``--dry-run`` changes nothing and prints the diff, ``--no-wait`` returns with the trace ID,
list, get, spec, delete, ``builds get --follow``, tokens create, list and revoke; and the
server's refusals as one line each (a revoked token, a server that is not there, a spec with
several violations listed whole)."""

from __future__ import annotations

import functools
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from couturier.cli.main import main
from couturier.errors import ConfigError
from couturier.settings import load_settings
from tests.certs import make_certificate
from tests.fixture_repo import SigningKey, build_repo
from tests.test_images_api import REPO
from tests.test_serve import Server, environment, first_token
from tests.test_serve_builds import served_environment

# The fixture repository, plus "slow": a package whose download the mirror holds while a test
# wants a build to be certainly running.
REPO_SLOW = {
    release: [*stanzas, {"Package": "slow", "Version": "1.0-1"}]
    for release, stanzas in REPO.items()
}
SLOW_DEB = "slow_1.0-1_all.deb"


class GatedMirror(ThreadingHTTPServer):
    """Serves a repository directory; a request for :data:`SLOW_DEB` waits while
    :attr:`gate` is clear (and says it arrived through :attr:`held`)."""

    daemon_threads = True

    def __init__(self, root: Path) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        super().__init__(("127.0.0.1", 0), functools.partial(_Gated, directory=str(root)))


class _Gated(SimpleHTTPRequestHandler):
    server: GatedMirror

    def do_GET(self) -> None:
        if self.path.endswith(SLOW_DEB):
            self.server.held.set()
            self.server.gate.wait(120)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Served:
    server: Server
    token: str  # tenant 1's write token, from the first start
    mirror: GatedMirror


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("served")
    root = build_repo(tmp_path / "repo", REPO_SLOW, key=signing_key, arch=("amd64",))
    mirror = GatedMirror(root)
    threading.Thread(target=mirror.serve_forever, daemon=True).start()
    env = served_environment(tmp_path, mirror, signing_key, None)
    server = Server(env, tmp_path / "serve.log")
    try:
        yield Served(server, first_token(server.stderr()), mirror)
    finally:
        mirror.gate.set()
        try:
            assert server.stop() == 0, server.stderr()
        finally:
            mirror.shutdown()
            mirror.server_close()


@pytest.fixture
def cli(
    served: Served,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """``cli(*argv, token=...)``: ``couturier ARGV`` in this process against the server, as
    (exit status, stdout, stderr)."""
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    monkeypatch.delenv("COUTURIER_DEBUG", raising=False)
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(tmp_path / "client-data"))
    monkeypatch.setenv("COUTURIER_CACHE_DIR", str(tmp_path / "client-cache"))
    monkeypatch.setenv("COUTURIER_SERVER", served.server.url)

    def run(*argv: str, token: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setenv("COUTURIER_TOKEN", token or served.token)
        status = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in err and "ctr_" not in err, err
        return status, out, err

    return run


def _spec(tmp_path: Path, name: str = "my-tool", **changes: Any) -> Path:
    spec = {
        "name": name,
        "description": "the tiny starter, customized",
        "starter": "tiny",
        "env": {"APP_ENV": "test"},
        **changes,
    }
    path = tmp_path / f"{name}-{len(list(tmp_path.glob('*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_apply_creates_edits_and_follows_then_get_list_spec_and_delete(
    cli: Any, tmp_path: Path
) -> None:
    status, out, err = cli("images", "apply", str(_spec(tmp_path)))
    assert status == 0, err
    assert "1/my-tool: created; following build" in err
    assert re.search(r"^1\s+(oldrel\s+)?created\s+1\.4\.2", out, re.M), out
    assert re.search(r"^2\s+(newrel\s+)?created\s+2\.1", out, re.M), out
    assert re.search(r"^1/my-tool: created \(trace \w+, create, attempt 1\)$", out, re.M), out

    # Apply again, a package added: an edit and a rebuild (line 2 has no "extra": skipped).
    edited = _spec(tmp_path, packages=["extra"], description="now with extra")
    status, out, err = cli("images", "apply", "--json", str(edited))
    assert status == 0, err
    applied = json.loads(out)
    assert applied["action"] == "edit" and applied["name"] == "1/my-tool"
    build = applied["build"]
    assert (build["status"], build["trigger"]) == ("some lines created", "edit")
    skipped = build["lines"][1]
    assert skipped["status"] == "skipped" and "extra" in skipped["problem"]["message"]

    # A dry run shows the diff and changes nothing.
    status, out, err = cli("images", "spec", "my-tool")
    assert status == 0 and yaml.safe_load(out)["packages"] == ["extra"]
    before = out
    wanted = _spec(tmp_path, packages=["both"], env={"APP_ENV": "prod", "MODE": "x"})
    status, out, err = cli("images", "apply", "--dry-run", str(wanted))
    assert status == 0, err
    assert "1/my-tool: would be edited (dry run: nothing was changed)" in out
    for change in (
        "packages: - extra",
        "packages: + both",
        "env: ~ APP_ENV=test -> prod",
        "env: + MODE=x",
        "description: - 'now with extra'",
        "description: + 'the tiny starter, customized'",
    ):
        assert change in out, out
    assert "lines (amd64):" in out and "POST /v1/plan" not in out  # the server's plan
    assert re.search(r"^1\s+oldrel\s+would be created\s+1\.4\.2", out, re.M), out
    assert re.search(r"^2\s+newrel\s+would be created\s+2\.1", out, re.M), out
    status, out, _ = cli("images", "apply", "--dry-run", "--json", str(wanted))
    dry = json.loads(out)
    assert dry["dry_run"] is True and dry["action"] == "edit" and dry["note"] is None
    assert [line["status"] for line in dry["plan"]["lines"]] == ["ready", "ready"]
    assert dry["changes"]["packages"] == {"added": ["both"], "removed": ["extra"]}
    assert dry["changes"]["env"]["changed"] == {"APP_ENV": {"from": "test", "to": "prod"}}
    status, out, _ = cli("images", "apply", "--dry-run", str(_spec(tmp_path, name="new-one")))
    assert status == 0 and "1/new-one: would be created" in out, out
    assert "packages" not in out and "env: + APP_ENV=test" in out
    assert cli("images", "spec", "1/my-tool")[1] == before  # unchanged
    status, out, _ = cli("builds", "get", "--json", build["trace_id"])
    assert status == 0 and json.loads(out)["trace_id"] == build["trace_id"]


def test_no_wait_then_follow_list_get_spec_and_delete(
    cli: Any, tmp_path: Path, served: Served
) -> None:
    wanted = _spec(tmp_path, name="follow-me", packages=["slow"], env={"APP_ENV": "prod"})

    # --no-wait returns with the trace ID while the build waits for the mirror; builds get
    # --follow streams its stages (the mirror lets the package go two seconds after it was
    # asked for: the follower is connected by then).
    served.mirror.gate.clear()
    served.mirror.held.clear()
    status, out, err = cli("images", "apply", "--no-wait", str(wanted))
    assert status == 0, err
    found = re.search(r"^1/follow-me: created; build (\w+) in progress$", out, re.M)
    assert found, out
    trace = found[1]

    def release() -> None:
        served.mirror.held.wait(60)
        time.sleep(2)
        served.mirror.gate.set()

    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    try:
        status, out, err = cli("builds", "get", trace, "--follow")
    finally:
        served.mirror.gate.set()
        releaser.join()
    assert status == 0, err
    assert re.search(r"^1: fetching", err, re.M) and re.search(r"^2: created 2\.1$", err, re.M)
    assert re.search(rf"^1/follow-me: created \(trace {trace}, create, attempt 1\)$", out, re.M), (
        out
    )
    assert re.search(r"^2\s+newrel\s+created\s+2\.1", out, re.M), out

    status, out, _ = cli("images", "list")
    assert re.search(rf"^1/follow-me\s+tiny\s+created\s+{trace}\s+1:1\.4\.2", out, re.M), out
    status, out, _ = cli("images", "list", "--json")
    assert "1/follow-me" in [item["name"] for item in json.loads(out)["items"]]
    status, out, _ = cli("images", "get", "follow-me")
    assert status == 0 and f"last build: created (trace {trace})" in out, out
    status, out, _ = cli("images", "get", "--json", "1/follow-me")
    assert json.loads(out)["spec"]["packages"] == ["slow"]
    status, out, _ = cli("images", "spec", "--json", "follow-me")
    assert json.loads(out)["spec"]["env"] == {"APP_ENV": "prod"}

    status, out, _ = cli("images", "delete", "follow-me")
    assert status == 0 and "1/follow-me: deleted" in out
    status, out, err = cli("images", "get", "1/follow-me")
    assert status == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("couturier: error: no private image 1/follow-me (`couturier images list`")
    status, out, err = cli("images", "delete", "follow-me")
    assert status == 1 and "no private image" in err and "follow-me" in err
    status, out, err = cli("builds", "get", trace)
    assert status == 1 and err.startswith("couturier: error: no build with trace ID"), err


def test_tokens_create_list_revoke_and_a_revoked_token_is_one_line(
    cli: Any, tmp_path: Path, served: Served
) -> None:
    # The first token is a write token: managing tokens needs admin.
    status, out, err = cli("tokens", "list")
    assert status == 1 and err.count("\n") == 1
    assert err.startswith("couturier: error: ") and "needs a token of scope admin" in err
    admin = _admin_token(served)

    status, out, err = cli(
        "tokens", "create", "--scope", "pull", "--description", "ci", token=admin
    )
    assert status == 0, err
    pull = out.strip()
    assert re.fullmatch(r"ctr_[0-9a-f]{16}_[0-9a-f]{64}", pull)
    token_id = pull.split("_")[1]
    status, out, _ = cli("tokens", "list", token=admin)
    assert re.search(rf"^{token_id}\s+pull\s+ci\s", out, re.M), out
    assert "ctr_" not in out
    status, out, err = cli(
        "tokens", "create", "--scope", "pull", "--description", "two\nlines", token=admin
    )
    assert status == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith("couturier: error: the request has 1 problem: description ")
    status, out, err = cli("tokens", "revoke", "0123456789abcdef", token=admin)
    assert status == 1 and err.count("\n") == 1 and "0123456789abcdef" in err, err
    status, out, _ = cli("tokens", "list", "--json", token=admin)
    assert token_id in {t["id"] for t in json.loads(out)["items"]}

    assert cli("images", "list", token=pull)[0] == 0
    status, out, err = cli("tokens", "revoke", token_id, token=admin)
    assert status == 0 and f"token {token_id}: revoked" in out
    status, out, err = cli("images", "list", token=pull)
    assert status == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("couturier: error: ") and "revoked" in err
    assert "COUTURIER_TOKEN" in err
    status, out, err = cli("images", "list", "--json", token=pull)
    assert json.loads(out)["error"]["code"] == "token-revoked"


def _admin_token(served: Served) -> str:
    """A new admin token of tenant 1, made by ``couturier admin token create`` on the server's
    installation."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "couturier.cli.main",
            "admin",
            "token",
            "create",
            "--tenant",
            "1",
            "--scope",
            "admin",
        ],
        env=_server_env(served),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()


def test_destinations_add_list_remove_and_a_metadata_url_is_one_line(
    cli: Any, tmp_path: Path, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = _admin_token(served)
    status, out, err = cli("destinations", "add", "http://169.254.169.254", token=admin)
    assert status == 1 and out == "" and err.count("\n") == 1, err
    assert "link-local or cloud metadata" in err
    ca = make_certificate("Destination CA")
    (tmp_path / "ca.pem").write_bytes(ca.pem)
    monkeypatch.setattr("sys.stdin", io.StringIO("token-secret-42\n"))
    status, out, err = cli(
        "destinations",
        "add",
        "https://127.0.0.1:5999",
        "--prefix",
        "team/images",
        "--username",
        "robot",
        "--password-stdin",
        "--ca-file",
        str(tmp_path / "ca.pem"),
        token=admin,
    )
    assert status == 0, err
    number = re.fullmatch(r"destination (\d+): https://127.0.0.1:5999\n", out)
    assert number is not None, out
    status, out, _ = cli("destinations", "list", token=admin)
    assert re.search(r"https://127.0.0.1:5999\s+team/images\s+robot\s+yes\s+yes", out), out
    status, out, _ = cli("destinations", "list", "--json", token=admin)
    assert "token-secret-42" not in out
    assert json.loads(out)["items"][0]["password"] is True
    # A build's lines are pushed there; nothing answers, so each line says it was not pushed.
    status, out, err = cli("images", "apply", str(_spec(tmp_path, name="pushed-one")))
    assert status == 0, err
    assert re.search(r"^1/pushed-one: created \(trace", out, re.M), out
    where = "https://127.0.0.1:5999/team/images/pushed-one"
    for line in ("1", "2"):
        assert re.search(rf"^{line}: not pushed to {where}: .*after 4 attempts", out, re.M), out
    assert cli("images", "delete", "pushed-one")[0] == 0
    assert cli("destinations", "remove", number[1], token=admin)[0] == 0
    status, out, err = cli("destinations", "remove", number[1], token=admin)
    assert status == 1 and err.count("\n") == 1 and f"no destination {number[1]}" in err
    status, out, err = cli("destinations", "list")  # a write token
    assert status == 1 and "needs a token of scope admin" in err


def _server_env(served: Served) -> dict[str, str]:
    log = served.server.log
    env = {**os.environ}
    for key in ("COUTURIER_DATA_DIR", "COUTURIER_CACHE_DIR", "COUTURIER_CONFIG", "HOME"):
        env.pop(key, None)
    root = log.parent
    env.update(environment(root))
    env["COUTURIER_CONFIG"] = str(root / "couturier.yaml")
    return env


def test_a_spec_with_several_violations_lists_every_one(cli: Any, tmp_path: Path) -> None:
    bad = _spec(
        tmp_path,
        name="Bad_Name",
        packages=["no-such-package"],
        env={"lower-case": "x", "EMPTY": ""},
        bundles=["no-such-bundle"],
    )
    status, out, err = cli("images", "apply", str(bad))
    assert status == 1 and out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"couturier: error: spec file {bad} has ")
    for field in ("name", "packages[0]", "env.EMPTY", "bundles[0]"):
        assert field in err, (field, err)
    status, out, _ = cli("images", "apply", "--json", str(bad))
    error = json.loads(out)["error"]
    assert error["code"] == "spec-invalid"
    fields = {v["field"] for v in error["violations"]}
    assert {"name", "packages[0]", "env.EMPTY", "bundles[0]"} <= fields
    assert error["fields"]["violations"] == len(error["violations"]) >= 4
    # A dry run has the server check it whole too (POST /v1/plan).
    status, out, err = cli("images", "apply", "--dry-run", str(bad))
    assert status == 1 and out == "" and err.count("\n") == 1
    assert all(field in err for field in ("name", "packages[0]", "env.EMPTY", "bundles[0]"))
    # Nothing was made.
    names = [i["name"] for i in json.loads(cli("images", "list", "--json")[1])["items"]]
    assert not any("Bad" in name for name in names)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_server_that_is_not_there_or_no_server_is_one_line(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    status, out, err = cli("images", "list", "--server", f"http://127.0.0.1:{port}")
    assert status == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(
        f"couturier: error: cannot reach the Couturier server at http://127.0.0.1:{port}"
    )
    assert "check --server" in err
    status, out, _ = cli("images", "list", "--json", "--server", f"http://127.0.0.1:{port}")
    problem = json.loads(out)["error"]
    assert problem["code"] == "server-unreachable" and problem["retryable"] is True

    # A server that is not Couturier's (here a plain file server): one line saying so.
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    other = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}"
        status, out, err = cli("images", "list", "--server", url)
    finally:
        other.shutdown()
        other.server_close()
    assert status == 1 and err.count("\n") == 1, err
    assert f"the server at {url} is not answering as a Couturier server: GET /v1/images" in err

    status, out, err = cli("builds", "get", "x", "--server", "ftp://example.org")
    assert status == 1 and "--server must be the server's http:// or https:// URL" in err
    monkeypatch.delenv("COUTURIER_SERVER")
    status, out, err = cli("images", "list")
    assert status == 1 and "no Couturier server to talk to" in err and "--server URL" in err


@pytest.mark.parametrize("name", ["../x", "./x", "1/..", "1/a/b", "a/b", "1/"])
def test_a_name_that_is_no_image_path_is_not_found_without_asking_another_route(
    cli: Any, name: str
) -> None:
    for command in ("get", "export", "delete"):
        extra = ("--output", "unused") if command == "export" else ()
        status, _out, err = cli("images", command, name, *extra)
        assert status == 1 and err.count("\n") == 1, err
        assert err.startswith(f"couturier: error: no private image {name}"), err


def test_a_wrong_token_and_a_token_in_a_readable_settings_file(
    cli: Any,
    tmp_path: Path,
    served: Served,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "ctr_0123456789abcdef_" + "0" * 64
    status, _, err = cli("images", "list", token=wrong)
    assert status == 1 and err.count("\n") == 1 and wrong not in err
    assert "COUTURIER_TOKEN" in err
    status, _, err = cli("images", "list", token="with space")
    assert status == 1 and "with space" not in err and "not sent" in err

    config = tmp_path / "client.yaml"
    config.write_text(f"server: {served.server.url}\ntoken: {served.token}\n")
    config.chmod(0o644)
    monkeypatch.delenv("COUTURIER_SERVER")
    monkeypatch.delenv("COUTURIER_TOKEN", raising=False)
    assert main(["--config", str(config), "images", "list"]) == 0
    err = capsys.readouterr().err
    assert f"couturier: warning: settings file {config} holds an API token" in err
    assert f"chmod 600 {config}" in err and served.token not in err
    config.chmod(0o600)
    assert main(["--config", str(config), "images", "list"]) == 0
    assert "warning" not in capsys.readouterr().err
    config.write_text(f"server: {served.server.url}\ntoken: ctr_not-a-token-at-all\n")
    assert main(["--config", str(config), "images", "list"]) == 1
    err = capsys.readouterr().err
    assert "token must be an API token (ctr_ID_SECRET)" in err and "not-a-token" not in err


def test_server_and_token_settings(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    token = "ctr_0123456789abcdef_" + "a" * 64
    config.write_text(f"server: https://couturier.example.org/\ntoken: {token}\n")
    config.chmod(0o600)
    settings = load_settings(config, env={"HOME": str(tmp_path)})
    assert (settings.server, settings.token, settings.warnings) == (
        "https://couturier.example.org",
        token,
        (),
    )
    assert token not in repr(settings)
    env = {"HOME": str(tmp_path), "COUTURIER_SERVER": "http://h:1", "COUTURIER_TOKEN": "t"}
    settings = load_settings(config, env=env)
    assert (settings.server, settings.token) == ("http://h:1", "t")
    for bad in ("ftp://x", "http://user:pw@host", "http://h/?q=1", "http://"):
        config.write_text(f"server: {bad!r}\n")
        with pytest.raises(ConfigError, match="server must be the server's http"):
            load_settings(config, env={"HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="server must be"):
        load_settings(None, env={"HOME": str(tmp_path), "COUTURIER_SERVER": "localhost:8080"})
    config.write_text("token: 12345\n")
    with pytest.raises(ConfigError, match=r"token must be an API token") as refused:
        load_settings(config, env={"HOME": str(tmp_path)})
    assert "12345" not in str(refused.value) and "12345" not in repr(refused.value.fields)


def test_a_build_where_no_line_is_created_exits_1(cli: Any, tmp_path: Path) -> None:
    # No release has both 3.0-1: every line is skipped.
    spec = _spec(tmp_path, name="no-lines", packages=["both=3.0-1"])
    status, out, err = cli("images", "apply", str(spec))
    if status == 1 and "spec-invalid" in cli("images", "apply", "--json", str(spec))[1]:
        pytest.skip("the server refuses a version no release has as a violation")
    assert status == 1, err
    assert re.search(r"^1/no-lines: image build failed", out, re.M), out
    assert re.search(r"^2: .*both", out, re.M), out
    assert cli("images", "delete", "no-lines")[0] == 0


def test_dry_run_shows_the_servers_plan_of_the_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lines' part of a dry run, from a server that answers POST /v1/plan (an httpx mock
    transport standing in for it)."""
    import httpx

    from couturier.cli import images as images_cli
    from couturier.cli.remote import Remote

    plan = {
        "name": "my-tool",
        "starter": "tiny",
        "architecture": "amd64",
        "lines": [
            {
                "version": "1",
                "release": "oldrel",
                "status": "ready",
                "full_version": "1.4.2",
                "reason": None,
                "packages": [{"name": "tool"}, {"name": "extra"}],
                "size": {"installed": 10, "download": 2048},
            },
            {
                "version": "2",
                "release": "newrel",
                "status": "skipped",
                "full_version": None,
                "reason": {
                    "code": "package-not-found",
                    "message": "extra is not in newrel",
                    "fields": {"package": "extra", "release": "newrel"},
                },
                "packages": [],
                "size": {"installed": 0, "download": 0},
            },
        ],
    }
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/v1/images":
            return httpx.Response(200, json={"items": [], "next": None})
        if request.url.path == "/v1/plan" and plan:
            assert json.loads(request.content)["packages"] == ["extra"]
            return httpx.Response(200, json=plan)
        return httpx.Response(404, json={"error": {"code": "not-found", "message": "Not Found"}})

    def client(settings: Any, server: Any) -> Remote:
        transport = httpx.MockTransport(answer)
        mocked = httpx.Client(base_url="http://couturier.test", transport=transport)
        return Remote("http://couturier.test", "t", mocked)

    monkeypatch.setattr(images_cli, "remote", client)
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    spec = _spec(tmp_path, packages=["extra"])
    assert main(["images", "apply", "--dry-run", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "my-tool: would be created (dry run: nothing was changed)" in out
    assert "packages: + extra" in out and "env: + APP_ENV=test" in out
    assert re.search(r"^1\s+oldrel\s+would be created\s+1\.4\.2\s+2\s+2\.0 KiB$", out, re.M), out
    assert re.search(r"^2\s+newrel\s+would be skipped\s+-", out, re.M), out
    assert "2: extra is not in newrel" in out
    assert seen == ["GET /v1/images", "POST /v1/plan"]  # nothing written

    plan["lines"][0] = {**plan["lines"][1], "version": "1", "release": "oldrel"}
    seen.clear()
    assert main(["images", "apply", "--dry-run", "--json", str(spec)]) == 1  # no line would be
    dry = json.loads(capsys.readouterr().out)
    assert dry["action"] == "create" and dry["plan"]["lines"][0]["status"] == "skipped"
    assert dry["note"] is None

    # An older server, without POST /v1/plan: the diff, and a note on the lines.
    plan.clear()
    assert main(["images", "apply", "--dry-run", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "packages: + extra" in out
    assert "lines: the lines' plan needs a server with POST /v1/plan" in out


def test_export_writes_an_oci_layout_of_every_tag_and_referrer(cli: Any, tmp_path: Path) -> None:
    status, _, err = cli("images", "apply", str(_spec(tmp_path, name="export-me")))
    assert status == 0, err
    status, out, _ = cli("images", "get", "--json", "export-me")
    lines = {line["line"]: line for line in json.loads(out)["last_build"]["lines"]}
    output = tmp_path / "exported"
    status, out, err = cli("images", "export", "export-me", "--output", str(output))
    assert status == 0, err
    assert out.startswith(f"1/export-me: exported to {output} (")

    index = json.loads((output / "index.json").read_text())
    tagged = {
        entry["annotations"]["org.opencontainers.image.ref.name"]: entry["digest"]
        for entry in index["manifests"]
        if "org.opencontainers.image.ref.name" in entry.get("annotations", {})
    }
    for label, line in lines.items():
        for tag in line["tags"]:
            assert tagged[tag] == line["digest"]
        inspected = subprocess.run(
            ["skopeo", "inspect", f"oci:{output}:{label}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(inspected.stdout)["Digest"] == line["digest"]
    kinds = {entry.get("artifactType") for entry in index["manifests"]}
    assert {"application/spdx+json", "application/vnd.cyclonedx+json"} <= kinds

    # A directory that is not empty is refused, and left as it was.
    status, out, err = cli("images", "export", "export-me", "--output", str(output))
    assert status == 1 and out == "" and err.count("\n") == 1 and "not empty" in err
    assert json.loads((output / "index.json").read_text()) == index
    status, _, err = cli("images", "export", "no-such", "--output", str(tmp_path / "x"))
    assert status == 1 and "no private image" in err and not (tmp_path / "x").exists()


def test_signing_key_prints_the_tenants_public_key_and_verify_checks_an_image_in_v2(
    cli: Any, served: Served, tmp_path: Path
) -> None:
    status, pem, err = cli("signing-key")
    assert status == 0, err
    assert pem.startswith("-----BEGIN PUBLIC KEY-----") and "PRIVATE" not in pem
    status, out, err = cli("signing-key", "--all", "--json")
    assert status == 0, err
    (key,) = json.loads(out)["items"]
    assert (key["pem"], key["current"]) == (pem, True)
    status, starters, _ = cli("signing-key", "--starters")
    assert status == 0 and starters != pem

    status, out, err = cli("images", "apply", "--json", str(_spec(tmp_path, name="signed")))
    assert status == 0, err
    host = served.server.url.removeprefix("http://")
    # The server's keys and its registry (the CLI's token through the token flow).
    status, out, err = cli("verify", f"{host}/1/signed:1", "--json")
    assert status == 0, err
    checks = json.loads(out)["checks"]
    assert {c["check"] for c in checks} == {
        "signature",
        "provenance",
        "spdx",
        "cyclonedx",
        "sbom-matches-dpkg",
    }
    assert all(c["holds"] for c in checks), checks
    # The starter key did not sign it: the signature check names itself.
    (tmp_path / "starters.pub").write_text(starters)
    status, out, err = cli("verify", f"{host}/1/signed:1", "--key", str(tmp_path / "starters.pub"))
    assert status == 1
    assert "does not verify: signature, provenance, spdx, cyclonedx" in err
    status, _, err = cli("verify", f"{host}/1/absent:1")
    assert status == 1 and "names no image" in err
