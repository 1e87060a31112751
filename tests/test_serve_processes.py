"""Several API processes: ``couturier serve`` on PostgreSQL as an operator runs it, and the
supervisor of :mod:`couturier.cli.processes` in a process of its own (it forks, and signals
sent to it must not reach pytest): children started, one that dies started again, a stop
passed on to all, a killed supervisor leaving no child behind, a child failing at once
stopping the service."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from couturier.cli.parser import parser as build_parser
from couturier.cli.serve import AUTO_PROCESSES_MAX, api_processes
from couturier.settings import load_settings
from tests.test_serve import Server, environment, first_token

_GALLERY_COUNT = (
    r'^couturier_http_requests_total\{method="GET",route="/v1/images",status="200"\} (\S+)$'
)
_SUPERVISED = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import couturier.cli.processes as processes

    processes.MAX_PAUSE_SECONDS = 0.4
    out = Path(sys.argv[1])

    def run(index, ready):
        (out / f"{index}-{os.getpid()}").write_text("")
        if (out / f"fail-{index}").exists():
            return 3
        ready()
        (out / f"ready-{index}-{os.getpid()}").write_text("")
        while True:
            time.sleep(0.05)

    sys.exit(processes.supervise(2, run))
    """
)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _marks(out: Path, kind: str = "") -> dict[int, list[int]]:
    """Per child index, the pids that started as it (``kind`` "ready-": that became ready)."""
    found: dict[int, list[int]] = {}
    for mark in out.iterdir():
        name = mark.name.removeprefix(kind)
        if name != mark.name or not kind:
            parts = name.split("-")
            if len(parts) == 2 and parts[0].isdigit():
                found.setdefault(int(parts[0]), []).append(int(parts[1]))
    return found


def _started(out: Path) -> dict[int, list[int]]:
    return _marks(out)


def _ready(out: Path) -> dict[int, list[int]]:
    return _marks(out, "ready-")


def _supervisor(out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _SUPERVISED, str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_supervisor_restarts_a_child_that_died_and_passes_a_stop_on(tmp_path: Path) -> None:
    supervisor = _supervisor(tmp_path)
    try:
        _wait(lambda: len(_ready(tmp_path)) == 2, "two children ready")
        first = _started(tmp_path)
        assert sorted(first) == [0, 1]
        assert sorted(_children(supervisor.pid)) == sorted(p for ps in first.values() for p in ps)
        os.kill(first[1][0], signal.SIGKILL)  # a ready child, however young: started again
        _wait(lambda: len(_ready(tmp_path).get(1, [])) == 2, "child 1 ready again")
        assert _started(tmp_path)[0] == first[0]  # the other one untouched
        children = _children(supervisor.pid)
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        assert "API process 1 ended (status -9); starting it again\n" in supervisor.stderr.read()
        _wait(lambda: not any(_alive(child) for child in children), "children to end")
    finally:
        supervisor.kill()
        supervisor.wait()


def test_a_restart_that_fails_is_tried_again_while_the_others_serve(tmp_path: Path) -> None:
    supervisor = _supervisor(tmp_path)
    try:
        _wait(lambda: len(_ready(tmp_path)) == 2, "two children ready")
        first = _started(tmp_path)
        (tmp_path / "fail-1").write_text("")  # as a database gone: its restarts fail
        os.kill(first[1][0], signal.SIGKILL)
        _wait(lambda: len(_started(tmp_path)[1]) >= 4, "child 1 tried three more times")
        assert supervisor.poll() is None and _alive(first[0][0])  # the other one serves on
        (tmp_path / "fail-1").unlink()  # the database is back
        _wait(lambda: len(_ready(tmp_path)[1]) == 2, "child 1 ready again")
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        said = supervisor.stderr.read()
        assert said.count("API process 1 ended (status 3); starting it again in 0.4 s") >= 3
    finally:
        supervisor.kill()
        supervisor.wait()


def test_a_killed_supervisor_leaves_no_child_behind(tmp_path: Path) -> None:
    supervisor = _supervisor(tmp_path)
    try:
        _wait(lambda: len(_ready(tmp_path)) == 2, "two children ready")
        children = _children(supervisor.pid)
        assert len(children) == 2
        supervisor.kill()
        supervisor.wait()
        _wait(lambda: not any(_alive(child) for child in children), "orphans to end")
    finally:
        supervisor.kill()
        supervisor.wait()


def test_a_child_failing_as_it_first_starts_stops_the_service_with_status_1(
    tmp_path: Path,
) -> None:
    (tmp_path / "fail-1").write_text("")
    supervisor = _supervisor(tmp_path)
    try:
        assert supervisor.wait(timeout=60) == 1
        assert "API process 1 failed as it started (status 3)" in supervisor.stderr.read()
        assert len(_started(tmp_path)[1]) == 1  # not started again
        started = _started(tmp_path)[0]
        _wait(lambda: not any(_alive(pid) for pid in started), "the other child to end")
    finally:
        supervisor.kill()
        supervisor.wait()


def test_how_many_api_processes_serve_runs(tmp_path: Path) -> None:
    sqlite = load_settings(env={"HOME": str(tmp_path), "COUTURIER_DATA_DIR": str(tmp_path)})
    postgres = load_settings(
        env={
            "HOME": str(tmp_path),
            "COUTURIER_DATA_DIR": str(tmp_path),
            "COUTURIER_DATABASE_URL": "postgresql://couturier@db.invalid/couturier",
        }
    )
    assert api_processes(sqlite, None) == 1  # one writer of the file
    assert api_processes(postgres, None) == max(1, min(os.cpu_count() or 1, AUTO_PROCESSES_MAX))
    assert api_processes(sqlite, 3) == 3 and api_processes(postgres, 1) == 1
    parser = build_parser()
    assert parser.parse_args(["serve", "--api-processes", "2"]).api_processes == 2
    for bad in ("0", "65", "two", "-1"):
        with pytest.raises(SystemExit):
            parser.parse_args(["serve", "--api-processes", bad])
    assert isinstance(parser.parse_args(["serve"]), argparse.Namespace)


@pytest.mark.postgres
def test_serve_answers_from_several_processes_on_postgresql(
    tmp_path: Path, postgres_url: str
) -> None:
    env = environment(tmp_path, postgres_url.replace("+psycopg", ""))
    server = Server(env, tmp_path / "serve.log", "--api-processes", "2", "--workers", "0")
    try:
        assert ", 2 API processes)" in server.stderr()
        token = first_token(server.stderr())
        _wait(lambda: server.stderr().count("startup complete") == 2, "both processes")
        children = _children(server.process.pid)
        assert len(children) == 2
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(40):  # a new connection each: the kernel spreads them over both
            with httpx.Client(base_url=server.url, timeout=30) as client:
                answer = client.get("/v1/images", headers=headers)
                assert answer.status_code == 200 and answer.json()["items"] == []
        # Each process counts the requests it answered: none counted all 40.
        counted = []
        for _ in range(10):
            with httpx.Client(base_url=server.url, timeout=30) as client:
                found = re.search(_GALLERY_COUNT, client.get("/metrics").text, re.MULTILINE)
                assert found is not None
                counted.append(float(found[1]))
        assert min(counted) > 0 and max(counted) < 40, counted
        assert server.stop() == 0
        _wait(lambda: not any(_alive(child) for child in children), "the API processes")
        port = int(server.url.rsplit(":", 1)[1])
        with socket.socket() as again:  # nothing holds the port any more
            again.bind(("127.0.0.1", port))
        # Killed outright, it ends at once with its API processes: a start on the same port
        # right after it does not find the port taken.
        killed = Server(env, tmp_path / "killed.log", "--port", str(port), "--api-processes", "2")
        children = _children(killed.process.pid)
        killed.process.kill()
        assert killed.stop() == -signal.SIGKILL
        _wait(lambda: not any(_alive(child) for child in children), "the killed API processes")
        server = Server(env, tmp_path / "again.log", "--port", str(port), "--api-processes", "2")
        assert f"serving on http://127.0.0.1:{port}" in server.stderr()
        assert server.stop() == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
