"""The refresh at scale: ``couturier serve`` and two ``couturier worker`` processes on a real
PostgreSQL (``jobs: procrastinate``), over the fixture repository served by a local mirror.

A tenant's refresh of six unchanged images fans out as one ``refresh-image`` job per image,
each run once by one of the workers; none is rebuilt; each worker loads the index snapshots
it plans on once for the whole refresh, not once per image (its log counts each load).

The daily refresh is procrastinate's periodic task: two workers started after the scheduled
minute of the day, in an installation whose last scheduled refresh ran three days before,
catch that time up once (one of them runs it) and not the days missed; that refresh, the
installation's, checks the starter image's lines too."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from couturier.store import Store, open_store
from couturier.store.freshness import LineState, RefreshRun
from couturier.store.models import Image
from couturier.store.starter_builds import StarterBuild
from tests.fixture_repo import SigningKey, build_repo
from tests.test_images_api import REPO
from tests.test_serve import Server, first_token
from tests.test_serve_builds import StallingMirror, served_environment
from tests.test_workers import Worker, _all_finished
from tests.threaded import serving

IMAGES = 6


@pytest.fixture
def mirror(tmp_path: Path, signing_key: SigningKey) -> Iterator[StallingMirror]:
    """The fixture repository over HTTP, stalling on no file."""
    root = build_repo(tmp_path / "repo", REPO, key=signing_key, arch=("amd64",))
    with serving(StallingMirror(root, stalled_deb="no-such.deb")) as server:
        yield server


def set_schedule(env: dict[str, str], expression: str) -> None:
    """Write ``refresh_schedule`` into the settings file the processes of ``env`` read."""
    path = Path(env["COUTURIER_CONFIG"])
    body = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**body, "refresh_schedule": expression}))


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def outcomes(store: Store) -> dict[int, dict[str, str]]:
    """Each image's line outcomes by image id."""
    with store.unit() as uow:
        found: dict[int, dict[str, str]] = {}
        for row in uow.session.scalars(select(LineState)):
            found.setdefault(row.image_id, {})[row.line] = row.outcome
        return found


def all_checked(store: Store) -> bool:
    """Whether every image's lines were checked and found unchanged."""
    found = outcomes(store)
    return len(found) == IMAGES and all(
        lines == {"1": "end of life", "2": "unchanged"} for lines in found.values()
    )


def starter_checked(store: Store) -> bool:
    """Whether the starter ``tiny``'s lines were checked and found unchanged."""
    with store.unit() as uow:
        row = uow.session.get(StarterBuild, "tiny")
        found = {line["line"]: line.get("outcome") for line in row.lines} if row else {}
    return found == {"1": "end of life", "2": "unchanged"}


def scheduled(store: Store) -> list[dt.datetime]:
    """The scheduled times the installation ran, oldest first."""
    with store.unit() as uow:
        query = select(RefreshRun.scheduled_for).where(RefreshRun.scheduled_for.is_not(None))
        return sorted(t for t in uow.session.scalars(query) if t is not None)


def checks_run(logs: list[str]) -> Counter[str]:
    """How many times each ``refresh:<image id>`` check job was run, over the workers' logs."""
    return Counter(
        key for log in logs for key in re.findall(r"job \d+ \((refresh:\d+)\): attempt", log)
    )


def snapshot_loads(log: str) -> int:
    return len(re.findall(r"index snapshots of \S+ loaded", log))


@pytest.mark.postgres
def test_a_refresh_fans_out_over_two_workers_and_the_schedule_catches_up_once(
    tmp_path: Path, mirror: StallingMirror, signing_key: SigningKey, postgres_url: str
) -> None:
    env = {
        **served_environment(tmp_path, mirror, signing_key, postgres_url),
        "COUTURIER_JOBS": "procrastinate",
    }
    set_schedule(env, "")
    store = open_store(postgres_url)
    server = Server(env, tmp_path / "serve.log")
    workers = [Worker(env, tmp_path / f"worker-{n}.log") for n in (1, 2)]
    try:
        client = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {first_token(server.stderr())}"},
            timeout=60,
        )
        for number in range(IMAGES):
            spec = {"name": f"img-{'abcdef'[number]}", "starter": "tiny", "env": {"N": "1"}}
            answer = client.post("/v1/images", json=spec)
            assert answer.status_code == 202, answer.text
        builds = _all_finished(client, IMAGES, timeout=240)
        assert {b["status"] for b in builds} == {"created"}
        with store.unit() as uow:
            ids = {f"refresh:{i}" for i in uow.session.scalars(select(Image.id))}

        answer = client.post("/v1/refresh")
        assert answer.status_code == 202, answer.text
        assert answer.json()["count"] == IMAGES
        wait_for(lambda: all_checked(store), "every image checked")
        logs = [worker.stderr() for worker in workers]
        # One job per image, each run once; nothing rebuilt.
        assert checks_run(logs) == dict.fromkeys(ids, 1)
        assert len(_all_finished(client, IMAGES, timeout=30)) == IMAGES
        # Each worker that checked images loaded newrel/amd64's snapshots once (line 1 is
        # past its end of life: not planned), however many images it checked.
        for log in logs:
            ran = len(re.findall(r"\(refresh:\d+\): attempt", log))
            assert snapshot_loads(log) == (1 if ran else 0), log
        assert sum(snapshot_loads(log) for log in logs) < IMAGES

        # Down until after today's scheduled minute; the last scheduled run was 3 days ago.
        for worker in workers:
            assert worker.stop() == 0, worker.stderr()
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
        due = now - dt.timedelta(minutes=1)
        with store.unit(write=True) as uow:
            uow.session.add(
                RefreshRun(
                    scheduled_for=due - dt.timedelta(days=3),
                    started_at=due - dt.timedelta(days=3),
                    scope="schedule",
                )
            )
        set_schedule(env, f"{due.minute} {due.hour} * * *")
        workers = [Worker(env, tmp_path / f"worker-{n}-again.log") for n in (1, 2)]
        wait_for(lambda: len(scheduled(store)) == 2, "the missed time caught up")
        wait_for(
            lambda: "refresh (installation)" in "".join(w.stderr() for w in workers),
            "the scheduled refresh queued its checks",
        )
        # The installation's refresh checks the starter's lines too.
        wait_for(lambda: starter_checked(store), "the starter's lines checked by a worker")
        time.sleep(2)  # a second run would have been deferred by now: both deferrers ran
        assert scheduled(store) == [due - dt.timedelta(days=3), due]
        runs = [w.stderr().count("periodic refresh-schedule for") for w in workers]
        assert sorted(runs) == [0, 1], [w.stderr() for w in workers]
        for worker in workers:
            assert worker.stop() == 0, worker.stderr()
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
        if server.process.poll() is None:
            server.process.kill()
        store.close()
