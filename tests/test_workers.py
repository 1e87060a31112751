"""The scale setup: ``couturier serve`` and two ``couturier worker`` processes on a real
PostgreSQL (``jobs: procrastinate``), building from a fixture repository served over HTTP that
stalls on one ``.deb`` (:class:`tests.test_serve_builds.StallingMirror`).

Ten images are made through the API; the first worker is killed (SIGKILL) while its build
stalls; the other worker takes that build up once the dead worker's heartbeat is older than
``--stalled-after`` (5 s here). Every build completes, the killed one with two attempts, and no
image ever has two builds running at once (the build records' timings), including a rebuild
asked for while the killed build ran, and one more rebuild request that coalesces onto it."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from couturier.errors import StateError
from couturier.jobs.procrastinate_queue import ensure_schema
from couturier.store import open_store
from tests.fixture_repo import SigningKey
from tests.test_serve import Server, couturier, environment, first_token
from tests.test_serve_builds import STALLED_DEB, StallingMirror, mirror, served_environment

__all__ = ["mirror"]  # the fixture, imported to be used here

IMAGES = 10


class Worker:
    """A ``couturier worker`` process and its log."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._stderr = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "couturier.cli.main", "worker", "--stalled-after", "5"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + 60
        while "worker running" not in self.stderr():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{self.stderr()}")
            time.sleep(0.1)

    def stderr(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=60)
        self._stderr.close()
        return status


def _builds(client: httpx.Client) -> list[dict[str, Any]]:
    response = client.get("/v1/builds", params={"limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _all_finished(client: httpx.Client, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        builds = _builds(client)
        if len(builds) == count and all(b["status"] != "in progress" for b in builds):
            return builds
        assert time.monotonic() < deadline, json.dumps(builds, indent=1)
        time.sleep(0.3)


@pytest.mark.postgres
def test_two_workers_build_ten_images_and_take_up_a_killed_workers_build(
    tmp_path: Path, mirror: StallingMirror, signing_key: SigningKey, postgres_url: str
) -> None:
    env = {
        **served_environment(tmp_path, mirror, signing_key, postgres_url),
        "COUTURIER_JOBS": "procrastinate",
    }
    server = Server(env, tmp_path / "serve.log")
    workers: list[Worker] = []
    try:
        token = first_token(server.stderr())
        client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        assert "this process runs none" in server.stderr()
        traces = []
        for number in range(IMAGES):
            name = f"img-{'abcdefghij'[number]}"
            spec = {"name": name, "starter": "tiny", "env": {"N": str(number)}}
            response = client.post("/v1/images", json=spec)
            assert response.status_code == 202, response.text
            traces.append(response.json()["build"]["trace_id"])
        time.sleep(1)
        # serve builds nothing itself: the builds wait for a worker.
        assert {(b["status"], b["attempts"]) for b in _builds(client)} == {("in progress", 0)}
        # The first worker alone takes the first build, which stalls on the mirror.
        workers.append(Worker(env, tmp_path / "worker-1.log"))
        assert mirror.stalled.wait(60), workers[0].stderr()
        workers.append(Worker(env, tmp_path / "worker-2.log"))

        # A rebuild of the stalled image while its build runs waits behind it; a second
        # request coalesces onto that waiting rebuild.
        stalled = client.get(f"/v1/builds/{traces[0]}").json()
        assert (stalled["status"], stalled["attempts"]) == ("in progress", 1), stalled
        rebuild = client.post("/v1/images/1/img-a/builds")
        assert rebuild.status_code == 202, rebuild.text
        again = client.post("/v1/images/1/img-a/builds")
        assert again.json()["build"]["trace_id"] == rebuild.json()["build"]["trace_id"]

        workers[0].process.send_signal(signal.SIGKILL)
        workers[0].process.wait(30)

        builds = _all_finished(client, IMAGES + 1, timeout=240)
        assert workers[1].stop() == 0, workers[1].stderr()
        assert "worker stopped" in workers[1].stderr()
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
        if server.process.poll() is None:
            server.process.kill()

    by_trace = {b["trace_id"]: b for b in builds}
    assert all(b["status"] == "created" for b in builds), json.dumps(builds, indent=1)
    assert by_trace[traces[0]]["attempts"] == 2
    assert all(by_trace[t]["attempts"] == 1 for t in traces[1:])
    assert by_trace[rebuild.json()["build"]["trace_id"]]["trigger"] == "rebuild"
    assert sum(path.endswith(STALLED_DEB) for path in mirror.requests) >= 2
    # One image, one build at a time: each build of an image starts after the one before ends.
    for image in {b["image"] for b in builds}:
        runs = sorted((b["started"], b["finished"]) for b in builds if b["image"] == image)
        for (_, finished), (started, _) in itertools.pairwise(runs):
            assert finished <= started, (image, runs)
    # The second worker took up the killed one's build.
    assert "attempt 2" in workers[1].stderr(), workers[1].stderr()


@pytest.mark.postgres
def test_serve_is_ready_only_while_a_worker_is_seen(
    tmp_path: Path, mirror: StallingMirror, signing_key: SigningKey, postgres_url: str
) -> None:
    env = {
        **served_environment(tmp_path, mirror, signing_key, postgres_url),
        "COUTURIER_JOBS": "procrastinate",
    }
    server = Server(env, tmp_path / "serve.log")
    worker: Worker | None = None
    try:
        client = httpx.Client(base_url=server.url, timeout=60)
        answer = client.get("/readyz")
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert (error["code"], error["message"]) == ("jobs-not-running", "no worker has been seen")
        assert error["fields"]["last_seen"] is None
        worker = Worker(env, tmp_path / "worker.log")
        # It registers itself once it listens for jobs, a moment after it says it runs.
        deadline = time.monotonic() + 60
        while (answer := client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.2)
        assert answer.json() == {"status": "ready"}
        assert worker.stop() == 0  # a worker that stops says so: no longer seen
        answer = client.get("/readyz")
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["message"] == "no worker has been seen"
    finally:
        if worker is not None and worker.process.poll() is None:
            worker.process.kill()
        if server.process.poll() is None:
            server.process.kill()


def _stream(
    client: httpx.Client, trace: str, after: int | None = None
) -> Iterator[tuple[str, dict[str, Any], int | None]]:
    """The server-sent events of build ``trace`` as they come: name, data, id."""
    headers = {"Last-Event-ID": str(after)} if after is not None else {}
    path = f"/v1/builds/{trace}/events"
    with client.stream("GET", path, headers=headers) as answer:
        assert answer.status_code == 200
        fields: dict[str, str] = {}
        for line in answer.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                key, _, value = line.partition(": ")
                fields[key] = value
            elif "event" in fields:
                number = int(fields["id"]) if "id" in fields else None
                yield fields["event"], json.loads(fields["data"]), number
                fields = {}


@pytest.mark.postgres
def test_a_workers_build_streams_its_stages_through_serve_and_resumes_after_the_last_id(
    tmp_path: Path, mirror: StallingMirror, signing_key: SigningKey, postgres_url: str
) -> None:
    env = {
        **served_environment(tmp_path, mirror, signing_key, postgres_url),
        "COUTURIER_JOBS": "procrastinate",
    }
    server = Server(env, tmp_path / "serve.log")
    worker: Worker | None = None
    try:
        token = first_token(server.stderr())
        client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        worker = Worker(env, tmp_path / "worker.log")
        answer = client.post("/v1/images", json={"name": "streamed", "starter": "tiny"})
        assert answer.status_code == 202, answer.text
        trace = answer.json()["build"]["trace_id"]
        assert mirror.stalled.wait(60), worker.stderr()
        # The worker's build is stalled at line 2's download: serve (which runs no build)
        # streams the stages it reached so far, each with an id.
        seen: list[tuple[str, dict[str, Any], int | None]] = []
        for event in _stream(client, trace):
            seen.append(event)
            if event[0] == "stage" and event[1]["stage"] == "fetching":
                break
        assert all(name == "stage" and number for name, _, number in seen), seen
        assert ("2", "resolving") in [(data["line"], data["stage"]) for _, data, _ in seen]
        last = seen[-1][2]
        assert last is not None
        # The client went away; the build goes on. Reconnecting with the last id it got, it
        # is sent what came after it, up to the end.
        mirror.release.set()
        rest = list(_stream(client, trace, after=last))
        assert rest[-1] == ("end", {"trace_id": trace, "status": "created"}, None), rest
        numbers = [number for name, _, number in rest if name == "stage"]
        assert numbers and all(number is not None and number > last for number in numbers)
        finals = {(data["line"], data["stage"]) for _, data, _ in seen + rest[:-1]}
        assert {("1", "created"), ("2", "created")} <= finals, rest
        assert "this process runs none" in server.stderr()
    finally:
        if worker is not None and worker.process.poll() is None:
            worker.process.kill()
        if server.process.poll() is None:
            server.process.kill()


def test_worker_refuses_sqlite_in_one_line(tmp_path: Path) -> None:
    refused = couturier(environment(tmp_path), "worker")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "couturier worker needs PostgreSQL" in refused.stderr


def test_procrastinate_jobs_need_postgresql(tmp_path: Path) -> None:
    env = {**environment(tmp_path), "COUTURIER_JOBS": "procrastinate"}
    refused = couturier(env, "serve", "--port", "0")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "jobs: procrastinate needs a PostgreSQL database_url" in refused.stderr
    env["COUTURIER_JOBS"] = "celery"
    refused = couturier(env, "worker")
    assert "jobs must be embedded or procrastinate, got 'celery'" in refused.stderr


@pytest.mark.postgres
def test_worker_refuses_the_embedded_backend(tmp_path: Path, postgres_url: str) -> None:
    refused = couturier(environment(tmp_path, postgres_url), "worker")
    assert refused.returncode == 1
    assert "the settings say jobs: embedded" in refused.stderr


@pytest.mark.postgres
def test_procrastinates_schema_is_applied_once_by_processes_starting_together(
    postgres_url: str,
) -> None:
    stores = [open_store(postgres_url) for _ in range(4)]
    errors: list[BaseException] = []

    def start(index: int) -> None:
        try:
            ensure_schema(stores[index])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    ensure_schema(stores[0])  # again: nothing to do
    with stores[0].unit(write=True) as uow:
        uow.session.connection().exec_driver_sql(
            "COMMENT ON TABLE procrastinate_jobs IS 'procrastinate 0.1'"
        )
    with pytest.raises(StateError, match=r"made by procrastinate 0\.1, this Couturier runs"):
        ensure_schema(stores[1])
    for store in stores:
        store.close()
