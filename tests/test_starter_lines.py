"""A starter's own lines in the service, over the fixture repository (site starter ``tiny``),
on SQLite and on a real PostgreSQL: nothing is built at the first start; the first private
image of a starter, or a request for a line's packages or SBOM, queues one build of the
starter's lines (requests meanwhile coalesce onto it); once built they are kept in the
registry repository ``starters/tiny``, and the line's SBOM is served from them."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from couturier.services import tokens as token_service
from couturier.services.installation import Installation, create_tenant
from couturier.store.models import Job
from couturier.store.registry import RegistryRecords
from couturier.store.starter_builds import StarterBuild
from tests.test_images_api import SPEC, client, repo, site, writer
from tests.test_registry_api import _basic, _login

__all__ = ["client", "repo", "site", "writer"]  # the fixtures, imported to be used here


def _starter_builds(site: Installation) -> list[tuple[str, str]]:
    with site.store.unit() as uow:
        rows = uow.session.scalars(select(StarterBuild).order_by(StarterBuild.starter))
        return [(row.starter, row.status) for row in rows]


def _in_registry(site: Installation) -> set[str]:
    """The tags of the registry repository ``starters/tiny``."""
    with site.store.unit() as uow:
        return {tag.tag for tag in RegistryRecords(uow.session).tags("starters/tiny")}


def _built(client: TestClient, headers: dict[str, str], line: str) -> dict[str, Any]:
    """The line's packages once the starter's build of it has ended."""
    deadline = time.monotonic() + 90
    while True:
        answer = client.get(f"/v1/starters/tiny/lines/{line}/packages", headers=headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        if found["build"]["status"] not in {"queued", "building"}:
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)


def test_nothing_is_built_at_the_first_start_and_a_line_request_builds_the_starter_once(
    client: TestClient, site: Installation, writer: dict[str, str]
) -> None:
    assert _starter_builds(site) == []
    assert not _in_registry(site)

    answer = client.get("/v1/starters/tiny/lines/2/sbom", headers=writer)
    assert answer.status_code == 404, answer.text
    error = answer.json()["error"]
    assert error["code"] == "line-not-found"
    assert error["fields"]["starter_build"] in {"queued", "building", "built"}

    found = _built(client, writer, "2")
    build = found["build"]
    assert (build["status"], build["line_status"]) == ("built", "created"), found
    assert build["digest"].startswith("sha256:")
    assert build["full_version"] == found["full_version"]
    assert _starter_builds(site) == [("tiny", "built")]
    # Stored as the registry repository starters/tiny, tagged as a starter's lines are.
    assert {"1", "2", "latest"} <= _in_registry(site)

    sbom = client.get("/v1/starters/tiny/lines/2/sbom", headers=writer)
    assert sbom.status_code == 200, sbom.text
    assert sbom.headers["content-type"].startswith("application/spdx+json")
    names = {package["name"] for package in sbom.json()["packages"]}
    assert {row["name"] for row in found["packages"]} <= names
    cyclonedx = client.get("/v1/starters/tiny/lines/1/sbom?format=cyclonedx", headers=writer)
    assert cyclonedx.status_code == 200 and cyclonedx.json()["bomFormat"] == "CycloneDX"

    # Kept: asked for again, nothing is queued.
    assert client.get("/v1/starters/tiny/lines/1/packages", headers=writer).status_code == 200
    with site.store.unit() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Job)) == 0

    missing = client.get("/v1/starters/tiny/lines/9/sbom", headers=writer)
    assert missing.status_code == 404
    assert missing.json()["error"]["fields"]["known"] == ["1", "2"]
    bad = client.get("/v1/starters/tiny/lines/2/sbom?arch=s390x", headers=writer)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "arch"


def test_the_first_private_image_queues_the_starters_lines_once(
    client: TestClient, site: Installation, writer: dict[str, str]
) -> None:
    for name in ("one", "two"):
        answer = client.post("/v1/images", json={**SPEC, "name": name}, headers=writer)
        assert answer.status_code == 202, answer.text
    found = _built(client, writer, "1")
    assert found["build"]["status"] == "built"
    with site.store.unit() as uow:
        (row,) = uow.session.scalars(select(StarterBuild))
        assert (row.starter, row.attempts) == ("tiny", 1)
        assert [line["status"] for line in row.lines] == ["created", "created"]


def _status(site: Installation, starter: str) -> str | None:
    with site.store.unit() as uow:
        row = uow.session.get(StarterBuild, starter)
        return row.status if row is not None else None


def test_a_pull_of_a_starter_never_built_asks_for_its_lines(
    client: TestClient, site: Installation
) -> None:
    pull = token_service.issue_token(site, 1, "pull").token
    headers = _login(client, pull, "starters/tiny")
    answer = client.get("/v2/starters/tiny/manifests/latest", headers=headers)
    assert answer.status_code == 404  # not built yet: this pull asked for it
    deadline = time.monotonic() + 90
    while _status(site, "tiny") != "built":
        assert time.monotonic() < deadline, _status(site, "tiny")
        time.sleep(0.1)
    answer = client.get("/v2/starters/tiny/manifests/latest", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["docker-content-digest"].startswith("sha256:")

    # A tenant without the starter asks for nothing by pulling it.
    other = create_tenant(site, "other")
    theirs = token_service.issue_token(site, other.id, "pull").token
    answer = client.get(
        "/v2/token",
        params=[("service", "testserver"), ("scope", "repository:starters/ruby:pull")],
        headers=_basic(str(other.id), theirs),
    )
    bearer = {"Authorization": f"Bearer {answer.json()['token']}"}
    assert client.get("/v2/starters/ruby/manifests/latest", headers=bearer).status_code == 404
    assert _status(site, "ruby") is None
