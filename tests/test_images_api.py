"""Private images and their builds over the REST API (in process), on SQLite and on a real
PostgreSQL, built by the embedded job runner from a signed fixture repository of real ``.deb``
files (no network): create, the gallery, 409, every violation at once, edit, rebuild
coalescing, delete, the build's events, and the job queue's claims and leases."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from couturier.api.app import create_app
from couturier.errors import Code, StateError
from couturier.jobs import ClaimedJob, EmbeddedQueue
from couturier.services import tokens as token_service
from couturier.services.gc import collect_garbage
from couturier.services.installation import Installation, create_tenant, entitle, open_installation
from couturier.services.registry_sink import installation_blobs
from couturier.services.registry_store import registry_reader
from couturier.store.models import Build, Image, Job
from tests.conftest import make_settings
from tests.fixture_repo import SigningKey, build_repo
from tests.service import Clock
from tests.test_cli_starters import RELEASES, STANZAS, TINY

# ``extra`` is in oldrel only: a spec adding it skips line 2 (newrel).
REPO = {
    "oldrel": [*STANZAS["oldrel"], {"Package": "extra", "Version": "1.0-1"}],
    "newrel": [*STANZAS["newrel"], {"Package": "both", "Version": "2.0-1"}],
}
REPO["oldrel"].append({"Package": "both", "Version": "1.0-1"})
SPEC: dict[str, Any] = {
    "name": "my-tool",
    "description": "the tiny starter, customized",
    "starter": "tiny",
    "env": {"APP_ENV": "test"},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    root = tmp_path_factory.mktemp("images-repo") / "repo"
    return build_repo(root, REPO, key=signing_key, arch=("amd64",))


def site_installation(
    tmp_path: Path, repo: Path, keyring: Path, database_url: str | None, clock: Clock | None = None
) -> Installation:
    """An installation reading the fixture repository, with the site starter ``tiny``."""
    settings = make_settings(tmp_path, repo, keyring, RELEASES, architectures=("amd64",))
    (tmp_path / "site").mkdir(exist_ok=True)
    (tmp_path / "site" / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    settings = replace(settings, starters_dir=tmp_path / "site")
    if database_url:
        settings = replace(settings, database_url=database_url)
    installation, _ = open_installation(settings, clock=clock or Clock())
    return installation


@pytest.fixture
def site(
    tmp_path: Path, repo: Path, signing_key: SigningKey, database_url: str
) -> Iterator[Installation]:
    installation = site_installation(tmp_path, repo, signing_key.keyring, database_url)
    try:
        yield installation
    finally:
        installation.close()


@pytest.fixture
def client(site: Installation) -> Iterator[TestClient]:
    with TestClient(create_app(site, workers=2)) as test_client:
        yield test_client


@pytest.fixture
def writer(site: Installation) -> dict[str, str]:
    return bearer(token_service.issue_token(site, 1, "write").token)


def finished(client: TestClient, headers: dict[str, str], trace_id: str) -> dict[str, Any]:
    """The build ``trace_id`` once it has ended."""
    deadline = time.monotonic() + 90
    while True:
        answer = client.get(f"/v1/builds/{trace_id}", headers=headers)
        assert answer.status_code == 200, answer.text
        build: dict[str, Any] = answer.json()
        if build["status"] != "in progress":
            return build
        assert time.monotonic() < deadline, build
        time.sleep(0.1)


def test_an_image_is_created_built_and_shown_in_the_gallery(
    client: TestClient, site: Installation, writer: dict[str, str]
) -> None:
    answer = client.post("/v1/images", json=SPEC, headers=writer)
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["name"] == "1/my-tool"
    assert accepted["build"]["status"] == "in progress"
    trace = accepted["build"]["trace_id"]

    build = finished(client, writer, trace)
    assert (build["status"], build["trigger"], build["attempts"]) == ("created", "create", 1)
    assert build["image"] == "1/my-tool"
    old, new = build["lines"]
    assert (old["line"], old["status"], old["full_version"]) == ("1", "created", "1.4.2")
    assert (new["line"], new["status"], new["full_version"]) == ("2", "created", "2.1")
    assert {"2.1", "2", "latest"} <= set(new["tags"])
    assert new["digest"].startswith("sha256:") and new["problem"] is None
    assert new["seconds"] is not None and new["started"] <= new["finished"]

    gallery = client.get("/v1/images", headers=writer).json()
    (card,) = gallery["items"]
    assert gallery["next"] is None
    assert (card["name"], card["starter"], card["label"]) == ("1/my-tool", "tiny", "private image")
    assert card["description"] == SPEC["description"]
    assert card["build"] == {"trace_id": trace, "status": "created"}
    assert [(line["line"], line["digest"]) for line in card["lines"]] == [
        ("1", old["digest"]),
        ("2", new["digest"]),
    ]

    detail = client.get("/v1/images/1/my-tool", headers=writer).json()
    assert detail["last_build"]["trace_id"] == trace
    assert detail["spec"]["env"] == {"APP_ENV": "test"}
    spec = client.get("/v1/images/1/my-tool/spec", headers=writer)
    assert spec.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(spec.text) == {**SPEC}

    tags = registry_reader(site).tags(1, "1/my-tool")
    assert tags is not None and {"2.1", "1.4.2", "latest"} <= set(tags)
    assert registry_reader(site).tags(2, "1/my-tool") is None  # another tenant sees nothing

    listed = client.get("/v1/builds?image=1/my-tool", headers=writer).json()
    assert [b["trace_id"] for b in listed["items"]] == [trace]

    # The SBOMs of each created line, linked from the card.
    links = card["lines"][1]["sbom"]
    spdx = client.get(links["spdx"], headers=writer)
    assert spdx.headers["content-type"] == "application/spdx+json"
    assert spdx.json()["spdxVersion"] == "SPDX-2.3"
    names = {package["name"] for package in spdx.json()["packages"]}
    assert {"tool", "base-files"} <= names
    cdx = client.get(links["cyclonedx"], headers=writer)
    assert cdx.headers["content-type"] == "application/vnd.cyclonedx+json"
    assert cdx.json()["bomFormat"] == "CycloneDX"
    answer = client.get("/v1/images/1/my-tool/lines/3/sbom", headers=writer)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "line-not-found"
    answer = client.get("/v1/images/1/my-tool/lines/2/sbom?arch=arm64", headers=writer)
    assert answer.status_code == 422


def test_a_name_in_use_is_409_and_every_violation_is_one_422(
    client: TestClient, site: Installation, writer: dict[str, str]
) -> None:
    assert client.post("/v1/images", json=SPEC, headers=writer).status_code == 202
    answer = client.post("/v1/images", json=SPEC, headers=writer)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "name-taken"
    assert answer.json()["error"]["fields"] == {"image": "1/my-tool"}

    other = create_tenant(site, "other")
    entitle(site, other.id, ["python"])
    theirs = bearer(token_service.issue_token(site, other.id, "write").token)
    bad = {
        "name": "X",
        "starter": "tiny",
        "packages": ["nope-auto=1"],
        "env": {"A": ""},
        "architectures": ["s390x"],
        "colour": "red",
    }
    answer = client.post("/v1/images", json=bad, headers=theirs)
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    fields = {error["field"] for error in errors}
    assert {"architectures[0]", "colour", "name", "starter", "env.A"} <= fields, errors
    (starter,) = [e for e in errors if e["field"] == "starter"]
    assert "not entitled" in starter["rule"] and starter["value"] == "tiny"
    (colour,) = [e for e in errors if e["field"] == "colour"]
    assert colour["rule"].endswith("env, bundles, architectures)")  # the API takes it too
    # The same spec by tenant 1 (entitled to tiny) is only refused for its real mistakes.
    answer = client.post("/v1/images", json={**bad, "name": "fine"}, headers=writer)
    assert "starter" not in {e["field"] for e in answer.json()["errors"]}
    assert client.post("/v1/images", json=[1], headers=writer).status_code == 422
    assert client.get("/v1/images", headers=theirs).json()["items"] == []


def test_a_name_that_is_not_found_is_shown_escaped(
    client: TestClient, writer: dict[str, str]
) -> None:
    """What a user typed is quoted with its control and invisible characters escaped: the
    message names ``1/\\u202eabc``, never a right-to-left override that turns it around."""
    for path in ("/v1/images/1/%E2%80%AEabc", "/v1/builds?image=1/%E2%80%AEabc"):
        answer = client.get(path, headers=writer)
        assert answer.status_code == 404, answer.text
        error = answer.json()["error"]
        assert error["code"] == "image-not-found"
        assert error["message"] == "no private image '1/\\u202eabc'", error
        assert error["fields"] == {"image": "1/\u202eabc", "suggestions": []}
    answer = client.get("/v1/builds?image=%00", headers=writer)
    assert answer.json()["error"]["message"] == "no private image '\\x00'"
    answer = client.get("/v1/images/1/no-such", headers=writer)
    assert answer.json()["error"]["message"] == "no private image 1/no-such"  # plain: as is


def test_an_edit_adds_a_package_and_rebuilds_and_may_not_change_the_starter(
    client: TestClient, writer: dict[str, str]
) -> None:
    first = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]["trace_id"]
    assert finished(client, writer, first)["status"] == "created"

    answer = client.put(
        "/v1/images/1/my-tool", json={**SPEC, "packages": ["extra"]}, headers=writer
    )
    assert answer.status_code == 202, answer.text
    second = answer.json()["build"]["trace_id"]
    assert second != first
    build = finished(client, writer, second)
    assert (build["status"], build["trigger"]) == ("some lines created", "edit")
    old, new = build["lines"]
    assert old["status"] == "created" and "latest" in old["tags"]  # the only created line
    assert new["status"] == "skipped" and new["problem"]["code"] == "package-not-found"
    assert set(new["problem"]) == {"code", "message", "fields"}
    detail = client.get("/v1/images/1/my-tool", headers=writer).json()
    assert detail["spec"]["packages"] == ["extra"]
    assert detail["build"] == {"trace_id": second, "status": "some lines created"}

    answer = client.put(
        "/v1/images/1/my-tool",
        json={**SPEC, "starter": "python", "name": "renamed"},
        headers=writer,
    )
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"name", "starter"}
    assert client.put("/v1/images/1/nope", json=SPEC, headers=writer).status_code == 404
    assert client.put("/v1/images/2/my-tool", json=SPEC, headers=writer).status_code == 404


def test_tag_history_after_three_builds_and_timestamp_tags_untouched(
    client: TestClient, site: Installation, writer: dict[str, str]
) -> None:
    """Create, rebuild unchanged, edit: ``latest`` moves only when the digest changes, each
    move is kept with its build's trace ID, and the timestamp tag of the first build (the
    clock stands still, so the edit's has the same name) is never moved: the edit's gets
    ``-2``."""
    first = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]["trace_id"]
    one = finished(client, writer, first)["lines"][1]
    second = client.post("/v1/images/1/my-tool/builds", headers=writer).json()["build"]["trace_id"]
    two = finished(client, writer, second)["lines"][1]
    assert two["digest"] == one["digest"] and two["tags"] == one["tags"]
    edited = {**SPEC, "env": {"APP_ENV": "production"}}
    third = client.put("/v1/images/1/my-tool", json=edited, headers=writer).json()
    three = finished(client, writer, third["build"]["trace_id"])["lines"][1]
    assert three["digest"] != one["digest"]
    (stamp,) = [t for t in one["tags"] if t.startswith("2.1-")]
    assert f"{stamp}-2" in three["tags"] and stamp not in three["tags"]
    registry = registry_reader(site)
    kept = registry.manifest(1, "1/my-tool", stamp)
    assert kept is not None and kept.digest == one["digest"]
    moved = registry.manifest(1, "1/my-tool", f"{stamp}-2")
    assert moved is not None and moved.digest == three["digest"]

    history = client.get("/v1/images/1/my-tool/tags?limit=100", headers=writer).json()
    latest = [item for item in history["items"] if item["tag"] == "latest"]
    assert [(i["digest"], i["trace_id"]) for i in latest] == [
        (three["digest"], third["build"]["trace_id"]),
        (one["digest"], first),
    ]
    assert latest[0]["until"] is None and latest[1]["until"] == latest[0]["since"]
    # Pages: one move at a time, newest first, until the last.
    page = client.get("/v1/images/1/my-tool/tags?limit=1", headers=writer).json()
    seen = page["items"]
    while page["next"]:
        page = client.get(
            f"/v1/images/1/my-tool/tags?limit=1&cursor={page['next']}", headers=writer
        ).json()
        seen += page["items"]
    assert seen == history["items"]
    for cursor in ("not-a-cursor", "%00", "x" * 300):
        answer = client.get(f"/v1/images/1/my-tool/tags?cursor={cursor}", headers=writer)
        assert answer.status_code == 422, answer.text
        assert len(answer.json()["errors"]) == 1
    other = bearer(token_service.issue_token(site, create_tenant(site, "other").id, "pull").token)
    assert client.get("/v1/images/1/my-tool/tags", headers=other).status_code == 404


def test_delete_removes_the_image_its_builds_and_its_repository(
    client: TestClient, site: Installation, writer: dict[str, str]
) -> None:
    trace = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]["trace_id"]
    finished(client, writer, trace)
    registry = registry_reader(site)
    assert registry.manifest(1, "1/my-tool", "latest") is not None
    reader = bearer(token_service.issue_token(site, 1, "pull").token)
    assert client.delete("/v1/images/1/my-tool", headers=reader).status_code == 403
    assert client.delete("/v1/images/1/my-tool", headers=writer).status_code == 204
    assert client.get("/v1/images/1/my-tool", headers=writer).status_code == 404
    answer = client.get(f"/v1/builds/{trace}", headers=writer)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "build-not-found"
    assert client.get("/v1/images", headers=writer).json()["items"] == []
    assert registry.manifest(1, "1/my-tool", "latest") is None
    assert registry.tags(1, "1/my-tool") is None
    with site.store.unit() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Build)) == 0
    # The name is free again.
    assert client.post("/v1/images", json=SPEC, headers=writer).status_code == 202


def test_an_unknown_image_name_suggests_the_tenants_own_nearest_names(
    client: TestClient, site: Installation, writer: dict[str, str]
) -> None:
    assert client.post("/v1/images", json=SPEC, headers=writer).status_code == 202
    answer = client.get("/v1/images/1/my-tol", headers=writer)
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert (error["code"], error["hint"]) == ("image-not-found", "did you mean 1/my-tool?")
    assert error["fields"] == {"image": "1/my-tol", "suggestions": ["1/my-tool"]}
    # Another tenant learns nothing of tenant 1's names, asking either way.
    other = create_tenant(site, "other")
    theirs = bearer(token_service.issue_token(site, other.id, "write").token)
    for path in ("/v1/images/1/my-tol", f"/v1/images/{other.id}/my-tool"):
        answer = client.get(path, headers=theirs)
        assert answer.status_code == 404
        assert answer.json()["error"]["fields"]["suggestions"] == [], answer.text


def sse_events(text: str) -> list[tuple[str, dict[str, Any], int | None]]:
    """The events of a server-sent event stream: name, data (JSON), id (or None)."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if not line.startswith(":"))
        if "event" in fields:
            number = int(fields["id"]) if "id" in fields else None
            events.append((fields["event"], json.loads(fields["data"]), number))
    return events


def test_the_events_of_a_build_stream_until_it_ends(
    client: TestClient, writer: dict[str, str]
) -> None:
    trace = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]["trace_id"]
    answer = client.get(f"/v1/builds/{trace}/events", headers=writer)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = sse_events(answer.text)
    assert events[-1] == ("end", {"trace_id": trace, "status": "created"}, None)
    stages = [(data["line"], data["stage"]) for name, data, _ in events if name == "stage"]
    assert ("2", "created") in stages and ("1", "created") in stages
    assert stages.index(("2", "resolving")) < stages.index(("2", "created"))
    # Each stage has an id, growing: a client that reconnects names the last one it got and
    # is sent the ones after it only, then the end.
    numbers = [number for name, _, number in events if name == "stage"]
    assert numbers == sorted(set(numbers)) and None not in numbers
    resumed = client.get(
        f"/v1/builds/{trace}/events", headers={**writer, "Last-Event-ID": str(numbers[2])}
    )
    assert [number for _, _, number in sse_events(resumed.text)] == [*numbers[3:], None]
    bad = client.get(f"/v1/builds/{trace}/events", headers={**writer, "Last-Event-ID": "x"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "last-event-id"
    # Once ended, the stream is its end at once.
    again = client.get(f"/v1/builds/{trace}/events", headers=writer).text
    assert again.startswith("event: end")
    assert client.get("/v1/builds/0123/events", headers=writer).status_code == 404


def test_a_rebuild_asked_for_while_one_waits_is_that_build(site: Installation) -> None:
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site, workers=0)) as client:  # nothing runs: builds wait
        first = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]
        again = client.post("/v1/images/1/my-tool/builds", headers=writer)
        assert again.status_code == 202
        assert again.json()["build"] == first
        edit = client.put(
            "/v1/images/1/my-tool", json={**SPEC, "description": "new"}, headers=writer
        )
        assert edit.json()["build"] == first
        build = client.get(f"/v1/builds/{first['trace_id']}", headers=writer).json()
        assert (build["trigger"], build["attempts"]) == ("edit", 0)
        assert client.post("/v1/images/1/nope/builds", headers=writer).status_code == 404
    with site.store.unit() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Job)) == 1
    # A worker starting now builds the spec as it is now.
    with TestClient(create_app(site, workers=1)) as client:
        build = finished(client, writer, first["trace_id"])
        assert (build["status"], build["attempts"]) == ("created", 1)
    with site.store.unit() as uow:
        builds = select(func.count()).select_from(Job).where(Job.kind == "build")
        assert uow.session.scalar(builds) == 0


# -- the embedded queue ---------------------------------------------------------------------


def _job(lock: str, state: str = "queued", worker: str | None = None, beat: int = 0) -> Job:
    now = dt.datetime.now(dt.UTC)
    return Job(
        kind="build",
        lock_key=lock,
        state=state,
        attempts=1 if state == "running" else 0,
        worker=worker,
        payload={},
        created_at=now,
        run_after=now - dt.timedelta(seconds=1),
        heartbeat_at=now - dt.timedelta(seconds=beat) if state == "running" else None,
    )


def test_claims_run_one_job_per_lock_key_and_take_up_abandoned_ones(site: Installation) -> None:
    queue = EmbeddedQueue(site.store, {"build": lambda job: None}, workers=2, lease=30)
    host = os.uname().nodename[:40]
    with site.store.unit(write=True) as uow:
        uow.session.add_all(
            [
                _job("image:1", "running", f"{host}:{os.getpid()}:other:0"),  # alive? no: nonce
                _job("image:2", "running", "elsewhere:1:x:0", beat=5),  # beats: busy
                _job("image:2"),
                _job("image:3", "running", "elsewhere:1:x:0", beat=120),  # past the lease
                _job("image:4"),
            ]
        )
    claimed = [queue.claim("w") for _ in range(4)]
    taken = [(job.lock_key, job.attempts) for job in claimed if job is not None]
    # The abandoned ones first, one more attempt each; then image:4; image:2 waits.
    assert taken == [("image:1", 2), ("image:3", 2), ("image:4", 1)]
    assert claimed[3] is None


def test_a_worker_thread_that_ended_makes_the_queue_not_running(site: Installation) -> None:
    def leave(job: ClaimedJob) -> None:
        raise SystemExit  # not an Exception: it ends the worker's thread, as a bug could

    queue = EmbeddedQueue(site.store, {"leave": leave}, workers=2, lease=30, poll=0.05)
    queue.start()
    try:
        queue.check_running()
        with site.store.unit(write=True) as uow:
            now = dt.datetime.now(dt.UTC)
            queue.enqueue(uow, kind="leave", lock_key="x", tenant_id=None, build_id=None, now=now)
        queue.notify()
        deadline = time.monotonic() + 60
        while True:
            try:
                queue.check_running()
            except StateError as error:
                assert error.code == Code.JOBS_NOT_RUNNING
                assert error.message == "1 of the job runner's 3 threads stopped"
                assert (error.fields["threads"], error.fields["alive"]) == (3, 2)
                break
            assert time.monotonic() < deadline, "the worker thread did not end"
            time.sleep(0.05)
    finally:
        queue.stop()


@pytest.fixture(scope="module")
def two_arch_repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    root = tmp_path_factory.mktemp("images-repo-2") / "repo"
    return build_repo(root, REPO, key=signing_key, arch=("amd64", "arm64"))


def test_a_spec_may_narrow_the_architectures(
    tmp_path: Path, two_arch_repo: Path, signing_key: SigningKey
) -> None:
    settings = make_settings(tmp_path, two_arch_repo, signing_key.keyring, RELEASES)
    assert settings.architectures == ("amd64", "arm64")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    installation, _ = open_installation(replace(settings, starters_dir=tmp_path / "site"))
    try:
        writer = bearer(token_service.issue_token(installation, 1, "write").token)
        with TestClient(create_app(installation, workers=1)) as client:
            spec = {**SPEC, "architectures": ["arm64"]}
            trace = client.post("/v1/images", json=spec, headers=writer).json()["build"]
            build = finished(client, writer, trace["trace_id"])
            assert (build["status"], build["architectures"]) == ("created", ["arm64"])
            registry = registry_reader(installation)
            stored = registry.manifest(1, "1/my-tool", "2.1")
            assert stored is not None
            manifest = json.loads(stored.content)
            assert "manifests" not in manifest  # one architecture: no index
            config = registry.blob(1, "1/my-tool", manifest["config"]["digest"])
            assert config is not None
            assert json.loads(config.path.read_bytes())["architecture"] == "arm64"
            card = client.get("/v1/images", headers=writer).json()["items"][0]
            assert card["architectures"] == ["arm64"]
            sbom = client.get(card["lines"][1]["sbom"]["spdx"], headers=writer).json()
            assert "arm64" in json.dumps(sbom)
            answer = client.get("/v1/images/1/my-tool/lines/2/sbom?arch=amd64", headers=writer)
            assert answer.status_code == 422
            spec_yaml = client.get("/v1/images/1/my-tool/spec", headers=writer).text
            assert yaml.safe_load(spec_yaml)["architectures"] == ["arm64"]
    finally:
        installation.close()


def _published(site: Installation, repository: str) -> dict[str, str]:
    """Each tag of ``repository`` and the digest it names, as tenant 1 pulls them."""
    registry = registry_reader(site)
    found = {}
    for tag in registry.tags(1, repository) or []:
        stored = registry.manifest(1, repository, tag)
        assert stored is not None
        found[tag] = stored.digest
    return found


def test_a_build_whose_worker_died_three_times_is_given_up(site: Installation) -> None:
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site, workers=0)) as client:
        trace = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]["trace_id"]
    with site.store.unit(write=True) as uow:
        (job,) = uow.session.scalars(select(Job).where(Job.kind == "build"))
        job.state, job.attempts, job.worker = "running", 3, "gone.example:1:x:0"
        job.heartbeat_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with TestClient(create_app(site, workers=1)) as client:
        build = finished(client, writer, trace)
    assert (build["status"], build["attempts"]) == ("image build failed", 4)
    problems = [line["problem"] for line in build["lines"]]
    assert [p["code"] for p in problems] == ["build-interrupted", "build-interrupted"]
    assert problems[0]["fields"] == {"trace_id": trace, "attempts": 3}


def test_a_bug_in_a_build_fails_it_instead_of_leaving_it_in_progress(
    site: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("couturier.services.build.build", broken)
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site, workers=1)) as client:
        trace = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]["trace_id"]
        build = finished(client, writer, trace)
    assert build["status"] == "image build failed"
    assert {line["problem"]["code"] for line in build["lines"]} == {"internal"}


def test_one_build_per_image_runs_at_a_time_and_rebuilds_coalesce(
    site: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from couturier.services import build as engine

    real = engine.build
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    go = threading.Event()  # the first builds of both images wait for it, running
    lock = threading.Lock()

    def watched(context: Any, request: Any, **kwargs: Any) -> Any:
        with lock:
            running[request.name] = running.get(request.name, 0) + 1
            most[request.name] = max(most.get(request.name, 0), running[request.name])
        try:
            assert go.wait(30)
            return real(context, request, **kwargs)
        finally:
            with lock:
                running[request.name] -= 1

    monkeypatch.setattr(engine, "build", watched)
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site, workers=3)) as client:
        first = set()
        for name in ("one", "two"):
            answer = client.post("/v1/images", json={**SPEC, "name": name}, headers=writer)
            first.add(answer.json()["build"]["trace_id"])
        deadline = time.monotonic() + 30
        while sorted(running.values()) != [1, 1]:  # both images build at once
            assert time.monotonic() < deadline, running
            time.sleep(0.05)
        rebuilds = [client.post("/v1/images/1/one/builds", headers=writer) for _ in range(3)]
        traces = {answer.json()["build"]["trace_id"] for answer in rebuilds}
        assert len(traces) == 1 and not traces & first  # queued once, behind the running one
        time.sleep(1.5)  # a worker is free (3 workers, 2 builds) and polls: the rebuild waits
        assert running == {"one": 1, "two": 1}
        go.set()
        for trace in first | traces:
            assert finished(client, writer, trace)["status"] == "created"
        listed = client.get("/v1/builds?image=1/one", headers=writer).json()["items"]
    assert [b["trigger"] for b in listed] == ["rebuild", "create"]
    assert most == {"one": 1, "two": 1}


def test_a_build_of_a_deleted_image_touches_nothing_of_the_next_image(
    site: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting the newest image while it builds and making another: the new image gets a
    new id, and the deleted image's build, once it ends, changes neither the new image's
    build record nor what its repository (the same name: ``1/my-tool``) publishes."""
    import threading

    from couturier.services import build as engine

    real = engine.build
    held, go, ended = threading.Event(), threading.Event(), threading.Event()

    def hold_first(context: Any, request: Any, **kwargs: Any) -> Any:
        if held.is_set():
            return real(context, request, **kwargs)
        held.set()
        try:
            assert go.wait(30)
            return real(context, request, **kwargs)
        finally:
            ended.set()

    monkeypatch.setattr(engine, "build", hold_first)
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site, workers=2)) as client:
        old = client.post("/v1/images", json=SPEC, headers=writer).json()
        assert held.wait(30)
        assert client.delete("/v1/images/1/my-tool", headers=writer).status_code == 204
        new = client.post("/v1/images", json=SPEC, headers=writer).json()
        assert new["build"]["trace_id"] != old["build"]["trace_id"]
        record = finished(client, writer, new["build"]["trace_id"])
        assert record["status"] == "created"
        with site.store.unit() as uow:
            (image,) = uow.session.scalars(select(Image))
            new_id = image.id
            build_ids = set(uow.session.scalars(select(Build.id)))
        published = _published(site, "1/my-tool")
        assert published
        go.set()
        assert ended.wait(60)
        deadline = time.monotonic() + 30
        while True:  # the held build's job is done (its rows went with the image)
            with site.store.unit() as uow:
                if (
                    uow.session.scalar(
                        select(func.count()).select_from(Job).where(Job.kind == "build")
                    )
                    == 0
                ):
                    break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.get(f"/v1/builds/{new['build']['trace_id']}", headers=writer).json() == (
            record
        )
    assert new_id != 1  # never the deleted image's id
    with site.store.unit() as uow:
        assert set(uow.session.scalars(select(Build.id))) == build_ids
        assert 1 not in build_ids
    assert _published(site, "1/my-tool") == published


def test_rebuilds_asked_for_at_once_queue_one_build(site: Installation) -> None:
    """Concurrent rebuild requests for one image while its build runs queue one build: the
    coalescing path locks the image's row (FOR UPDATE on PostgreSQL)."""
    import threading

    from couturier.services.builds import start_builds
    from couturier.services.images import create_image, rebuild_image

    issued = token_service.issue_token(site, 1, "write")
    principal = token_service.authenticate(site, issued.token, "write")
    builds = start_builds(site, 0)  # nothing runs here
    create_image(builds, principal, SPEC)
    with site.store.unit(write=True) as uow:  # the first build runs: a rebuild must queue
        (job,) = uow.session.scalars(select(Job).where(Job.kind == "build"))
        job.state, job.worker = "running", "elsewhere:1:x:0"
        job.heartbeat_at = dt.datetime.now(dt.UTC)
    many = 8
    barrier = threading.Barrier(many)
    traces: list[str] = []
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            barrier.wait(10)
            answer = rebuild_image(builds, principal, "1", "my-tool")
            traces.append(answer["build"]["trace_id"])
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=rebuild) for _ in range(many)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(traces) == many
    assert len(set(traces)) == 1
    with site.store.unit() as uow:
        states = sorted(uow.session.scalars(select(Job.state).where(Job.kind == "build")))
    assert states == ["queued", "running"]


def test_a_build_whose_recording_raises_ends_failed_or_runs_again_after_the_lease(
    site: Installation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler itself raising (the database dropping while the result is recorded): the
    build ends "image build failed", each unfinished line failed with an internal problem
    naming the trace id; when even that cannot be recorded, the job runs again after its
    lease instead of staying in progress for ever."""
    from couturier.errors import Code, StateError
    from couturier.services import builds as service

    real_record, real_interrupted = service._record, service._interrupted
    calls = {"record": 0, "interrupted": 0}

    def dropped(*args: Any, **kwargs: Any) -> Any:
        calls["record"] += 1
        raise StateError("the database went away", code=Code.DATABASE_UNAVAILABLE)

    monkeypatch.setattr(service, "_record", dropped)
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site, workers=1)) as client:
        trace = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]["trace_id"]
        build = finished(client, writer, trace)
    assert build["status"] == "image build failed"
    problems = [line["problem"] for line in build["lines"]]
    assert problems and {p["code"] for p in problems} == {"internal"}
    assert all(p["fields"] == {"trace_id": trace} for p in problems)
    assert {line["status"] for line in build["lines"]} == {"failed"}

    # Neither the result nor the failure can be recorded on the first attempt: run again.
    def once_dropped(*args: Any, **kwargs: Any) -> Any:
        calls["interrupted"] += 1
        if calls["interrupted"] == 1:
            raise StateError("the database went away", code=Code.DATABASE_UNAVAILABLE)
        return real_interrupted(*args, **kwargs)

    def record_second(*args: Any, **kwargs: Any) -> Any:
        calls["record"] += 1
        if calls["record"] == 2:
            raise StateError("the database went away", code=Code.DATABASE_UNAVAILABLE)
        return real_record(*args, **kwargs)

    monkeypatch.setattr(service, "_record", record_second)
    monkeypatch.setattr(service, "_interrupted", once_dropped)
    with TestClient(create_app(site, workers=1, lease=1.0)) as client:
        trace = client.post("/v1/images/1/my-tool/builds", headers=writer).json()["build"][
            "trace_id"
        ]
        build = finished(client, writer, trace)
    assert (build["status"], build["attempts"]) == ("created", 2)
    with site.store.unit() as uow:
        assert (
            uow.session.scalar(select(func.count()).select_from(Job).where(Job.kind == "build"))
            == 0
        )


def _blobs_of(site: Installation, repository: str) -> set[str]:
    """Every digest tenant 1 can pull from ``repository``: its tagged manifests, their
    configs and layers, and their referrers with theirs."""
    registry = registry_reader(site)
    found: set[str] = set()
    pending = [registry.manifest(1, repository, tag) for tag in registry.tags(1, repository) or []]
    while pending:
        stored = pending.pop()
        if stored is None or stored.digest in found:
            continue
        found.add(stored.digest)
        body = json.loads(stored.content)
        for item in [body.get("config"), *body.get("layers", [])]:
            if item:
                found.add(item["digest"])
        pending.extend(
            registry.manifest(1, repository, m["digest"]) for m in body.get("manifests", [])
        )
        for referrer in registry.referrers(1, repository, stored.digest) or []:
            pending.append(registry.manifest(1, repository, referrer["digest"]))
    return found


def test_gc_after_delete_frees_the_blobs_only_that_image_used_and_keeps_shared_layers(
    client: TestClient, site: Installation, writer: dict[str, str]
) -> None:
    kept = client.post("/v1/images", json=SPEC, headers=writer).json()["build"]["trace_id"]
    other = {**SPEC, "name": "other-tool", "packages": ["extra"]}
    gone = client.post("/v1/images", json=other, headers=writer).json()["build"]["trace_id"]
    assert finished(client, writer, kept)["status"] == "created"
    assert finished(client, writer, gone)["status"] == "some lines created"
    mine, theirs = _blobs_of(site, "1/my-tool"), _blobs_of(site, "1/other-tool")
    shared, only = mine & theirs, theirs - mine
    assert shared and only  # the starter's layers are shared; the added package's are not
    assert client.delete("/v1/images/1/other-tool", headers=writer).status_code == 204

    summary = collect_garbage(site, grace=dt.timedelta(0))
    blobs = installation_blobs(site.settings)
    assert summary.removed >= len(only) and summary.freed > 0
    assert not any(blobs.has(digest) for digest in only)
    assert all(blobs.has(digest) for digest in mine)
    assert _blobs_of(site, "1/my-tool") == mine  # still whole, every blob readable
    for digest in mine:
        assert registry_reader(site).blob(1, "1/my-tool", digest) is not None
