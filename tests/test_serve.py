"""``couturier serve`` and ``couturier admin`` as real processes, as an operator runs them:
the first start's token on stderr, what the admin commands print on stdout, both working on
one database at once, and the server's answers over HTTP (httpx)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from couturier.store.key import KEY_FILE


def environment(tmp_path: Path, database_url: str | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "COUTURIER_DATA_DIR": str(tmp_path / "data"),
        "COUTURIER_CACHE_DIR": str(tmp_path / "cache"),
    }
    if database_url:
        env["COUTURIER_DATABASE_URL"] = database_url
    return env


def couturier(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "couturier.cli.main", *argv],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


class Server:
    """A ``couturier serve --port 0 [ARGS]`` process: its URL and what it printed."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.log = log
        self._stderr = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "couturier.cli.main", "serve", "--port", "0", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + 60
        while "startup complete" not in self.stderr():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start:\n{self.stderr()}")
            time.sleep(0.1)
        found = re.search(r"serving on (https?://127\.0\.0\.1:\d+)", self.stderr())
        assert found, self.stderr()
        self.url = found[1]

    def stderr(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=30)
        self._stderr.close()
        return status


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(environment(tmp_path), tmp_path / "serve.log")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def first_token(stderr: str) -> str:
    tokens = re.findall(r"^ctr_\w+$", stderr, re.MULTILINE)
    assert len(tokens) == 1, stderr
    return tokens[0]


def test_serve_starts_prints_a_write_token_once_and_answers(server: Server, tmp_path: Path) -> None:
    token = first_token(server.stderr())
    assert "first start: made tenant 1 (default)" in server.stderr()
    key = tmp_path / "data" / KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").status_code == 200
        assert client.get("/v1/starters").status_code == 401
        answer = client.get("/v1/starters", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200
        assert "python" in {s["name"] for s in answer.json()["items"]}
        headers = {"Authorization": f"Bearer {token}"}
        # write may not manage tokens
        assert (
            client.get("/v1/tokens", headers={"Authorization": f"Bearer {token}"}).status_code
            == 403
        )
        broken = client.post(
            "/v1/tokens",
            content=b'{"scope": ',
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        # Malformed JSON is refused before the token is looked at (FastAPI reads the body
        # first); a well-formed body is not looked at without the scope.
        assert broken.status_code == 422
        assert broken.json()["errors"][0]["field"] == "body"
        wrong = client.post("/v1/tokens", json={"scope": "root"}, headers=headers)
        assert wrong.status_code == 403
        assert client.get("/v1/openapi.json").json()["info"]["title"] == "Couturier"
    assert token not in server.stderr().split(token, 1)[1]  # printed once, never logged
    assert server.stop() == 0
    assert "Shutting down" in server.stderr()

    again = Server(environment(tmp_path), tmp_path / "again.log")
    try:
        assert "ctr_" not in again.stderr() and "first start" not in again.stderr()
        with httpx.Client(base_url=again.url, timeout=30) as client:
            headers = {"Authorization": f"Bearer {token}"}
            assert client.get("/v1/starters", headers=headers).status_code == 200
    finally:
        assert again.stop() == 0


def test_admin_commands_work_beside_a_running_server(server: Server, tmp_path: Path) -> None:
    env = environment(tmp_path)
    made = couturier(env, "admin", "tenant", "create", "acme")
    assert made.returncode == 0, made.stderr
    assert made.stdout == "2\n" and "ctr_" not in made.stderr  # serve did the first start
    issued = couturier(env, "admin", "token", "create", "--tenant", "2", "--scope", "admin")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert re.fullmatch(r"ctr_[0-9a-f]{16}_[0-9a-f]{64}", token) and issued.stdout == token + "\n"
    entitled = couturier(env, "admin", "entitle", "--tenant", "2", "python", "node")
    assert entitled.returncode == 0, entitled.stderr

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        starters = client.get("/v1/starters", headers=headers).json()
        assert [s["name"] for s in starters["items"]] == ["node", "python"]
        made_token = client.post("/v1/tokens", headers=headers, json={"scope": "pull"})
        assert made_token.status_code == 201
        broken = client.post(
            "/v1/tokens",
            content=b'{"scope": ',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert broken.status_code == 422
        assert broken.json()["errors"][0]["field"] == "body"
        # tenant 1's first token, seen by tenant 2: not found
        ones = client.get("/v1/tokens", headers=headers).json()["items"]
        assert len(ones) == 2
    listing = couturier(env, "admin", "tenant", "list", "--json")
    assert listing.returncode == 0
    assert '"acme"' in listing.stdout


def test_admin_first_use_sets_up_and_refuses_mistakes_in_one_line(tmp_path: Path) -> None:
    env = environment(tmp_path)
    made = couturier(env, "admin", "tenant", "create", "acme")
    assert made.returncode == 0 and made.stdout == "2\n"
    assert "first start: made tenant 1 (default)" in made.stderr
    first_token(made.stderr)
    for argv, says in (
        (("admin", "entitle", "--tenant", "2", "pyhton"), "did you mean python?"),
        (("admin", "entitle", "--tenant", "9", "python"), "no tenant 9"),
        (("admin", "token", "create", "--tenant", "9", "--scope", "pull"), "no tenant 9"),
        (("admin", "tenant", "create", "acme"), "exists already (ID 2)"),
    ):
        done = couturier(env, *argv)
        assert done.returncode == 1, (argv, done.stderr)
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1 and says in done.stderr, (argv, done.stderr)
    usage = couturier(env, "admin", "token", "create", "--tenant", "2", "--scope", "root")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    never = ("admin", "token", "create", "--tenant", "2", "--scope", "pull", "--expires", "0")
    usage = couturier(env, *never)
    assert usage.returncode == 2 and "'0' is not a number of days (1 to 3650)" in usage.stderr


def test_serve_refuses_a_key_it_cannot_trust_and_a_busy_port(tmp_path: Path) -> None:
    env = environment(tmp_path)
    assert couturier(env, "admin", "tenant", "list").returncode == 0
    key = tmp_path / "data" / KEY_FILE
    key.chmod(0o640)
    refused = couturier(env, "serve", "--port", "0")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "chmod 600" in refused.stderr
    key.chmod(0o600)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = couturier(env, "serve", "--port", port)
    assert busy.returncode == 1
    assert busy.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr


def test_a_first_start_on_a_busy_port_makes_nothing(tmp_path: Path) -> None:
    env = environment(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = couturier(env, "serve", "--port", port)
    assert busy.returncode == 1
    assert busy.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert "ctr_" not in busy.stderr
    assert not (tmp_path / "data" / KEY_FILE).exists()


@pytest.mark.postgres
def test_admin_commands_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    env = environment(tmp_path, postgres_url.replace("+psycopg", ""))
    made = couturier(env, "admin", "tenant", "create", "acme")
    assert made.returncode == 0, made.stderr
    assert made.stdout == "2\n"
    issued = couturier(env, "admin", "token", "create", "--tenant", "2", "--scope", "pull")
    assert issued.returncode == 0 and issued.stdout.startswith("ctr_")
    assert not (tmp_path / "data" / "couturier.db").exists()
