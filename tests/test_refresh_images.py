"""The refresh of private images (in process, embedded job runner, SQLite and a real
PostgreSQL) over a signed fixture repository of real ``.deb`` files that the test updates
between two refreshes: only images whose planned packages changed are rebuilt, with a change
record naming the upgrade and the CVE IDs of its changelog; a line past its end of life is
not rebuilt; an unchanged image gets no build."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from couturier.api.app import create_app
from couturier.cli.main import main
from couturier.errors import ConfigError
from couturier.services import tokens as token_service
from couturier.services.installation import Installation
from couturier.services.refresh import REFRESH_JOB
from couturier.services.registry_store import registry_reader
from couturier.services.schedule import RefreshScheduler
from couturier.services.starter_lines import KIND as STARTER_JOB
from couturier.settings import load_settings
from couturier.store.actions import Delivery
from couturier.store.freshness import LineState, RefreshRun
from couturier.store.models import Job
from tests.fixture_repo import SigningKey, build_repo
from tests.service import Clock
from tests.test_cli_starters import STANZAS
from tests.test_images_api import bearer, finished, site_installation

CHANGELOG_1_0 = """\
libfoo (1.0-1) unstable; urgency=medium

  * Initial release; fixes CVE-2025-0001 upstream.

 -- Couturier Tests <test@example.invalid>  Mon, 02 Nov 2026 10:00:00 +0000
"""
CHANGELOG_1_1 = (
    """\
libfoo (1.1-1) unstable; urgency=high

  * Security update: fix CVE-2026-1111 (heap overflow) and
    CVE-2026-22222 (path traversal).

 -- Couturier Tests <test@example.invalid>  Tue, 03 Nov 2026 10:00:00 +0000

"""
    + CHANGELOG_1_0
)


def repo_suites(libfoo: str, changelog: str) -> dict[str, list[dict[str, str]]]:
    foo = {"Package": "libfoo", "Version": libfoo, "Changelog": changelog}
    return {"oldrel": [*STANZAS["oldrel"], foo], "newrel": [*STANZAS["newrel"], foo]}


@pytest.fixture
def repo(tmp_path: Path, signing_key: SigningKey) -> Path:
    return build_repo(
        tmp_path / "repo",
        repo_suites("1.0-1", CHANGELOG_1_0),
        key=signing_key,
        arch=("amd64",),
        date=dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def site(
    tmp_path: Path, repo: Path, signing_key: SigningKey, database_url: str, clock: Clock
) -> Iterator[Installation]:
    opened = site_installation(tmp_path, repo, signing_key.keyring, database_url, clock)
    # No schedule of the app's own: the test ticks its scheduler under the moved clock.
    installation = replace(opened, settings=replace(opened.settings, refresh_schedule=""))
    try:
        yield installation
    finally:
        installation.close()


@pytest.fixture
def client(site: Installation) -> Iterator[TestClient]:
    # Deliveries are only queued: the test reads what the actions were told from them.
    with TestClient(create_app(site, workers=2, delivery_workers=0)) as test_client:
        yield test_client


@pytest.fixture
def writer(site: Installation) -> dict[str, str]:
    return bearer(token_service.issue_token(site, 1, "write").token)


def settled(site: Installation) -> None:
    """Wait until no build, starter build or image check of the installation waits or
    runs."""
    deadline = time.monotonic() + 90
    while True:
        with site.store.unit() as uow:
            busy = uow.session.scalars(
                select(Job.id).where(
                    Job.state.in_(("queued", "running")),
                    Job.kind.in_(("build", STARTER_JOB, REFRESH_JOB)),
                )
            ).first()
        if busy is None:
            return
        assert time.monotonic() < deadline
        time.sleep(0.1)


def builds_of(client: TestClient, headers: dict[str, str], image: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/builds", params={"image": image}, headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def tag_digest(site: Installation, repository: str, tag: str) -> str:
    reader = registry_reader(site)
    found = reader.manifest(1, repository, tag)
    assert found is not None
    return str(found.digest)


def create(client: TestClient, headers: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/v1/images", json=spec, headers=headers)
    assert answer.status_code == 202, answer.text
    return finished(client, headers, answer.json()["build"]["trace_id"])


def line_outcomes(site: Installation, image_name: str) -> dict[str, str]:
    with site.store.unit() as uow:
        from couturier.store.models import Image

        image_id = uow.session.scalars(select(Image.id).where(Image.name == image_name)).one()
        rows = uow.session.scalars(select(LineState).where(LineState.image_id == image_id))
        return {row.line: row.outcome for row in rows}


def test_a_refresh_rebuilds_only_the_images_whose_packages_changed(
    client: TestClient,
    site: Installation,
    writer: dict[str, str],
    repo: Path,
    *,
    signing_key: SigningKey,
    clock: Clock,
) -> None:
    with_foo = create(
        client, writer, {"name": "with-foo", "starter": "tiny", "packages": ["libfoo"]}
    )
    plain = create(client, writer, {"name": "plain", "starter": "tiny"})
    assert with_foo["status"] == plain["status"] == "created"
    admin = bearer(token_service.issue_token(site, 1, "admin").token)
    action = {
        "name": "fixes",
        "events": ["cves-fixed", "line-end-of-life"],
        "then": {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "s" * 32},
    }
    answer = client.post("/v1/actions", json=action, headers=admin)
    assert answer.status_code == 201, answer.text
    before = {name: tag_digest(site, f"1/{name}", "latest") for name in ("with-foo", "plain")}

    # Nothing changed: every image is checked, none is rebuilt.
    answer = client.post("/v1/refresh", headers=writer)
    assert answer.status_code == 202, answer.text
    assert sorted(answer.json()["queued"]) == ["1/plain", "1/with-foo"]
    settled(site)
    assert len(builds_of(client, writer, "1/with-foo")) == 1
    assert len(builds_of(client, writer, "1/plain")) == 1
    assert line_outcomes(site, "plain") == {"1": "end of life", "2": "unchanged"}

    # libfoo 1.1-1 fixes two CVEs, in both releases; line 1 is past its end of life.
    build_repo(
        repo,
        repo_suites("1.1-1", CHANGELOG_1_1),
        key=signing_key,
        arch=("amd64",),
        date=dt.datetime(2026, 11, 3, tzinfo=dt.UTC),
    )
    clock.advance(days=1)
    answer = client.post("/v1/refresh", headers=writer)
    assert answer.status_code == 202, answer.text
    settled(site)

    assert len(builds_of(client, writer, "1/plain")) == 1
    assert tag_digest(site, "1/plain", "latest") == before["plain"]
    newest = builds_of(client, writer, "1/with-foo")[0]
    assert newest["trigger"] == "refresh"
    line_trace = newest["trace_id"]
    rebuilt = finished(client, writer, line_trace)
    assert rebuilt["status"] == "created"
    (line,) = rebuilt["lines"]  # line 1 is past its end of life: not attempted
    assert line["line"] == "2" and line["status"] == "created"
    assert line["changes"] == {
        "added": [],
        "removed": [],
        "upgraded": [
            {
                "name": "libfoo",
                "old": "1.0-1",
                "new": "1.1-1",
                "cves": ["CVE-2026-1111", "CVE-2026-22222"],
            }
        ],
        "cves": ["CVE-2026-1111", "CVE-2026-22222"],
    }
    assert "latest" in line["tags"]
    assert tag_digest(site, "1/with-foo", "latest") == line["digest"] != before["with-foo"]
    assert line_outcomes(site, "with-foo") == {"1": "end of life", "2": "built"}

    # The rebuilt image is now current: a third refresh builds nothing.
    client.post("/v1/refresh", headers=writer)
    settled(site)
    assert len(builds_of(client, writer, "1/with-foo")) == 2
    assert line_outcomes(site, "with-foo") == {"1": "end of life", "2": "unchanged"}

    # The action heard of the fix once, and of line 1's end of life once per image.
    with site.store.unit() as uow:
        told = [(d.event, d.payload) for d in uow.session.scalars(select(Delivery))]
    (fixed,) = [payload for event, payload in told if event == "cves-fixed"]
    assert (fixed["image"], fixed["line"], fixed["trace_id"]) == ("1/with-foo", "2", line_trace)
    assert fixed["cves"] == ["CVE-2026-1111", "CVE-2026-22222"]
    ended = sorted(p["image"] for event, p in told if event == "line-end-of-life")
    assert ended == ["1/plain", "1/with-foo"]


def test_the_scheduler_runs_at_the_configured_time_and_catches_up_once(
    client: TestClient, site: Installation, clock: Clock, writer: dict[str, str]
) -> None:
    create(client, writer, {"name": "plain", "starter": "tiny"})
    builds = client.app.state.builds  # type: ignore[attr-defined]
    # The clock starts at 2026-11-01 12:00 UTC; the refresh is due daily at 04:30.
    scheduler = RefreshScheduler(builds, "30 4 * * *")
    assert scheduler.tick() is None
    clock.now = dt.datetime(2026, 11, 2, 4, 29, tzinfo=dt.UTC)
    assert scheduler.tick() is None
    clock.now = dt.datetime(2026, 11, 2, 4, 30, 5, tzinfo=dt.UTC)
    assert scheduler.tick() == dt.datetime(2026, 11, 2, 4, 30, tzinfo=dt.UTC)
    assert scheduler.tick() is None  # that time ran already
    settled(site)
    assert line_outcomes(site, "plain") == {"1": "end of life", "2": "unchanged"}

    # Down for three days: the missed runs are caught up once, for the newest time due.
    clock.now = dt.datetime(2026, 11, 5, 9, 0, tzinfo=dt.UTC)
    restarted = RefreshScheduler(builds, "30 4 * * *")
    assert restarted.tick() == dt.datetime(2026, 11, 5, 4, 30, tzinfo=dt.UTC)
    assert restarted.tick() is None
    with site.store.unit() as uow:
        runs = uow.session.scalars(
            select(RefreshRun.scheduled_for).where(RefreshRun.scheduled_for.is_not(None))
        ).all()
    assert sorted(runs) == [
        dt.datetime(2026, 11, 2, 4, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 5, 4, 30, tzinfo=dt.UTC),
    ]


@pytest.mark.parametrize(
    ("expression", "said"),
    [
        ("61 4 * * *", "is not a cron expression"),
        # croniter reads a sixth (seconds) and a seventh (year) field: not the five asked for.
        ("0 4 * * * 30", "is not a cron expression"),
        ("0 4 * * * * *", "is not a cron expression"),
        # A date that never comes: the scheduler would fail at every poll, with a traceback.
        ("0 4 31 2 *", "names no time that comes"),
        ("0 0 31 4,6,9,11 *", "names no time that comes"),
    ],
)
def test_a_refresh_schedule_that_is_not_cron_is_one_config_error(
    tmp_path: Path, expression: str, said: str
) -> None:
    path = tmp_path / "couturier.yaml"
    path.write_text(f'refresh_schedule: "{expression}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert f"refresh_schedule {said}" in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("expression", ["0 4 * * *", "0 4 29 2 *", "@daily", " 30 2 * * 1-5 ", ""])
def test_a_refresh_schedule_of_five_fields_or_an_alias_is_kept(
    tmp_path: Path, expression: str
) -> None:
    path = tmp_path / "couturier.yaml"
    path.write_text(f'refresh_schedule: "{expression}"\n')
    assert load_settings(path, env={}).refresh_schedule == expression.strip()


def test_couturier_refresh_queues_the_checks_that_serve_runs(
    client: TestClient,
    site: Installation,
    writer: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create(client, writer, {"name": "plain", "starter": "tiny"})
    create(client, writer, {"name": "other", "starter": "tiny"})
    config = str(tmp_path / "couturier.yaml")  # the site's settings file, on its database
    body = yaml.safe_load(Path(config).read_text())
    Path(config).write_text(yaml.safe_dump({**body, "database_url": site.settings.database}))
    with site.store.unit(write=True) as uow:
        for row in uow.session.scalars(select(LineState)):
            row.outcome = "built"

    assert main(["--config", config, "refresh", "--image", "1/plain"]) == 0
    out = capsys.readouterr().out
    assert "queued 1/plain" in out and "1/other" not in out
    settled(site)  # the app's workers ran the check queued by the command
    assert line_outcomes(site, "plain") == {"1": "end of life", "2": "unchanged"}
    assert line_outcomes(site, "other") == {"1": "built", "2": "built"}

    assert main(["--config", config, "refresh", "--image", "1/missing"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no image 1/missing" in err
