"""The refresh of the starter images' own lines (``starters/tiny``) over the fixture
repository that the test updates between refreshes (SQLite and a real PostgreSQL): an
installation's refresh re-plans them and rebuilds a line whose packages changed (a new
digest), while an unchanged line records "checked, unchanged" and keeps its digest; a
tenant's refresh (``POST /v1/refresh``) leaves the shared starter alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from couturier.services.installation import Installation
from couturier.services.refresh import refresh
from couturier.store.starter_builds import StarterBuild
from tests.fixture_repo import SigningKey, build_repo
from tests.service import Clock
from tests.test_refresh_images import (
    CHANGELOG_1_0,
    client,
    clock,
    create,
    repo,
    repo_suites,
    settled,
    site,
    tag_digest,
    writer,
)

__all__ = ["client", "clock", "repo", "site", "writer"]  # the fixtures, used here


def starter_lines(site: Installation) -> tuple[str, dict[str, dict[str, Any]]]:
    """The starter ``tiny``'s build record: its status and each line's stored result."""
    with site.store.unit() as uow:
        row = uow.session.get(StarterBuild, "tiny")
        assert row is not None
        return row.status, {line["line"]: dict(line) for line in row.lines}


def publish_tool(repo: Path, signing_key: SigningKey, version: str, day: int) -> None:
    """The fixture repository again with ``tool`` (a package of the starter's line 2, in
    release newrel) at ``version``."""
    suites = repo_suites("1.0-1", CHANGELOG_1_0)
    suites["newrel"] = [
        {**stanza, "Version": version} if stanza["Package"] == "tool" else stanza
        for stanza in suites["newrel"]
    ]
    build_repo(
        repo,
        suites,
        key=signing_key,
        arch=("amd64",),
        date=dt.datetime(2026, 11, day, tzinfo=dt.UTC),
    )


def test_an_installations_refresh_rebuilds_a_starter_line_whose_packages_changed(
    client: TestClient,
    site: Installation,
    writer: dict[str, str],
    repo: Path,
    *,
    signing_key: SigningKey,
    clock: Clock,
) -> None:
    builds = client.app.state.builds  # type: ignore[attr-defined]
    create(client, writer, {"name": "plain", "starter": "tiny"})
    settled(site)  # the first private image asked for the starter's lines
    status, lines = starter_lines(site)
    assert status == "built" and lines["2"]["status"] == "created"
    first = {label: tag_digest(site, "starters/tiny", label) for label in ("1", "2")}
    assert first["2"] == lines["2"]["digest"]

    # Nothing changed: the starter's lines are checked, none is built.
    result = refresh(builds)
    assert sorted(result.queued) == ["1/plain", "starters/tiny"]
    settled(site)
    status, lines = starter_lines(site)
    assert status == "built"
    assert {label: line["outcome"] for label, line in lines.items()} == {
        "1": "end of life",
        "2": "unchanged",
    }
    assert {label: tag_digest(site, "starters/tiny", label) for label in first} == first

    # A new version of tool, a package of line 2: line 2 is rebuilt, line 1 is not.
    publish_tool(repo, signing_key, "1:2.1-4", day=3)
    clock.advance(days=1)
    result = refresh(builds)
    assert "starters/tiny" in result.queued
    settled(site)
    status, lines = starter_lines(site)
    assert status == "built"
    assert (lines["2"]["status"], lines["2"]["outcome"]) == ("created", "built")
    second = tag_digest(site, "starters/tiny", "2")
    assert second == lines["2"]["digest"] != first["2"]
    assert tag_digest(site, "starters/tiny", "latest") == second
    assert tag_digest(site, "starters/tiny", "1") == first["1"]
    assert lines["1"]["outcome"] == "end of life"

    # A tenant's refresh rebuilds the tenant's image, never the shared starter.
    publish_tool(repo, signing_key, "1:2.1-5", day=4)
    clock.advance(days=1)
    answer = client.post("/v1/refresh", headers=writer)
    assert answer.status_code == 202, answer.text
    assert answer.json()["queued"] == ["1/plain"]
    settled(site)
    assert tag_digest(site, "starters/tiny", "2") == second
    assert starter_lines(site)[1]["2"]["digest"] == second
