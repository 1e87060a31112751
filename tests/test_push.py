"""The registry push client (:mod:`couturier.oci.registry`, :mod:`couturier.oci.push`) on an
image built by the service over the fixture repository: the referrers API branch and the
bearer token flow against a stand-in registry that records requests (Debian's
``docker-registry`` has neither; see :mod:`tests.registry_standin`), and the faults a
destination may have (401, 500, a connection reset in the middle of an upload): retried with
backoff, then one clear error."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from couturier.api.app import create_app
from couturier.oci.cosign import ATTESTATION_ARTIFACT_TYPE, SIGNATURE_ARTIFACT_TYPE
from couturier.oci.documents import INDEX_MEDIA_TYPE as INDEX
from couturier.oci.documents import Platform
from couturier.oci.layout import Layout, LayoutWriter
from couturier.oci.push import fallback_tag, push
from couturier.oci.pushsource import LayoutPushSource, PushItem, PushSource
from couturier.oci.registry import Credentials, PushError, RegistryClient, RetryPolicy
from couturier.oci.sink import write_referrer
from couturier.services import tokens as token_service
from couturier.services.pushes import RepositoryPushSource
from couturier.services.registry_store import registry_reader
from tests.fixture_repo import SigningKey, build_repo
from tests.registry import Registry
from tests.registry_standin import PASSWORD, TOKEN, USER, standin
from tests.test_images_api import REPO, SPEC, bearer, site_installation
from tests.test_oci_layout import write_release
from tests.test_referrers import attach_sboms

SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"


@dataclass(frozen=True)
class Built:
    """An image built by the service: its repository in the service's registry (the blob
    store) as a push source, and each created line's root digest and tags."""

    source: PushSource
    lines: list[dict[str, Any]]

    @property
    def items(self) -> list[PushItem]:
        return [PushItem(line["digest"], tuple(line["tags"])) for line in self.lines]


def finished_build(client: TestClient, headers: dict[str, str], trace_id: str) -> dict[str, Any]:
    """The build ``trace_id`` once it has ended (its pushes, when any, recorded with it)."""
    deadline = time.monotonic() + 120
    while True:
        build: dict[str, Any] = client.get(f"/v1/builds/{trace_id}", headers=headers).json()
        if build["status"] != "in progress":
            return build
        assert time.monotonic() < deadline, build
        time.sleep(0.1)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Iterator[Built]:
    root = tmp_path_factory.mktemp("push")
    repo = build_repo(root / "repo", REPO, key=signing_key, arch=("amd64",))
    (root / "site").mkdir()
    installation = site_installation(root / "site", repo, signing_key.keyring, None)
    try:
        headers = bearer(token_service.issue_token(installation, 1, "write").token)
        with TestClient(create_app(installation, workers=1)) as client:
            answer = client.post("/v1/images", json=SPEC, headers=headers)
            build = finished_build(client, headers, answer.json()["build"]["trace_id"])
        assert build["status"] == "created", build
        reader = registry_reader(installation)
        yield Built(RepositoryPushSource(reader, 1, "1/my-tool"), build["lines"])
    finally:
        installation.close()


def platform_manifest(built: Built, line: dict[str, Any]) -> str:
    """The digest of the line's one platform manifest (its root, or its index's only one)."""
    root = json.loads(built.source.manifest(line["digest"])[1])
    return str(root["manifests"][0]["digest"]) if "manifests" in root else str(line["digest"])


class Sleeps:
    """A retry policy's sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def test_referrers_go_through_the_referrers_api_where_the_registry_has_it(built: Built) -> None:
    source = built.source
    with standin("registry") as server:
        with RegistryClient(server.url, credentials=Credentials(USER, PASSWORD)) as client:
            report = push(source, client, "team/my-tool", built.items)
            again = push(source, client, "team/my-tool", built.items)

        # 2 lines x SPDX, CDX, cosign's signature and attestations (every line is signed)
        assert report.referrers_by == "api" and report.referrers == 8
        assert report.uploaded > 0 and report.mounted == 0
        # The bearer flow: a challenge, the token endpoint with the credentials, then the token.
        assert (
            "GET",
            "/token?service=standin&scope=repository%3Ateam%2Fmy-tool%3Apull%2Cpush",
        ) in [(method, path) for method, path in server.requests]
        paths = [path for _, path in server.requests]
        # No tag fallback; only cosign's own tags sha256-<hex>.sig and .att.
        assert not any(re.search("/manifests/sha256-[0-9a-f]{64}$", path) for path in paths)
        assert any(path.endswith(".sig") for path in paths)
        assert any("/referrers/sha256:" in path for path in paths)
        for line in built.lines:
            assert (
                server.manifests[("team/my-tool", line["tags"][0])][1]
                == (server.manifests[("team/my-tool", line["digest"])][1])
            )
            with RegistryClient(server.url, credentials=Credentials(USER, PASSWORD)) as client:
                listed = client.referrers("team/my-tool", platform_manifest(built, line))
            assert listed is not None
            assert sorted(m["artifactType"] for m in listed["manifests"]) == sorted(
                [SPDX, CYCLONEDX, SIGNATURE_ARTIFACT_TYPE, ATTESTATION_ARTIFACT_TYPE]
            )
        # Pushed again: every blob is found present, none uploaded.
        assert again.uploaded == 0 and again.present == report.uploaded + report.present
        assert TOKEN not in repr(client) and PASSWORD not in repr(Credentials(USER, PASSWORD))


def test_a_destination_answering_401_is_a_push_denied_error_without_retries(
    built: Built,
) -> None:
    sleeps = Sleeps()
    with standin("401") as server:
        retry = RetryPolicy(sleep=sleeps)
        credentials = Credentials(USER, "wrong")
        with (
            RegistryClient(server.url, credentials=credentials, retry=retry) as client,
            pytest.raises(PushError) as raised,
        ):
            push(built.source, client, "my-tool", built.items[:1])
    assert raised.value.code == "push-denied"
    assert raised.value.fields["status"] == 401
    assert "refused the credentials" in raised.value.message
    assert "wrong" not in str(raised.value) and sleeps.delays == []
    assert len(server.requests) == 2  # anonymous, then once with the credentials


def test_a_destination_answering_500_is_retried_with_backoff_then_unreachable(
    built: Built,
) -> None:
    sleeps = Sleeps()
    with standin("500") as server:
        retry = RetryPolicy(attempts=4, first_delay=0.5, factor=2.0, sleep=sleeps)
        with (
            RegistryClient(server.url, retry=retry) as client,
            pytest.raises(PushError) as raised,
        ):
            push(built.source, client, "my-tool", built.items[:1])
    error = raised.value
    assert error.code == "push-unreachable" and error.retryable
    assert (error.fields["status"], error.fields["attempts"]) == (500, 4)
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert len(server.requests) == 4


def test_a_reset_in_the_middle_of_an_upload_starts_it_over_then_fails_clearly(
    built: Built,
) -> None:
    sleeps = Sleeps()
    with standin("reset") as server:
        retry = RetryPolicy(attempts=3, sleep=sleeps)
        with (
            RegistryClient(server.url, retry=retry) as client,
            pytest.raises(PushError) as raised,
        ):
            push(built.source, client, "my-tool", built.items[:1])
    error = raised.value
    assert error.code == "push-unreachable"
    assert (error.fields["operation"], error.fields["attempts"]) == ("upload blob", 3)
    assert error.fields["status"] is None and error.fields["reason"]
    # Each attempt opened an upload session of its own and was cut in its PUT.
    sessions = [path for method, path in server.requests if method == "POST"]
    puts = [path for method, path in server.requests if method == "PUT"]
    assert len(sessions) == 3 and len(puts) == 3
    assert len(set(puts)) == 3 and not server.blobs
    assert len(sleeps.delays) == 2


def test_the_fallback_tag_of_a_digest_is_the_tag_schema_of_the_spec() -> None:
    assert fallback_tag("sha256:" + "ab" * 32) == "sha256-" + "ab" * 32


def test_a_registry_refusing_a_whole_blob_at_once_gets_it_in_chunks(built: Built) -> None:
    with standin("chunked") as server, RegistryClient(server.url) as client:
        report = push(built.source, client, "my-tool", built.items[:1])
    assert report.uploaded > 0
    patches = [path for method, path in server.requests if method == "PATCH"]
    assert len(patches) >= report.uploaded
    for digest, data in server.blobs.items():
        assert built.source.blob(digest).read_bytes() == data


def test_a_token_realm_at_a_metadata_address_is_refused_before_it_is_asked(
    built: Built,
) -> None:
    from couturier.services.destinations import unsafe_host

    with standin("registry") as server:
        server.realm = "http://169.254.169.254/latest/meta-data/token"
        credentials = Credentials(USER, PASSWORD)
        with (
            RegistryClient(server.url, credentials=credentials, guard=unsafe_host) as client,
            pytest.raises(PushError) as raised,
        ):
            push(built.source, client, "my-tool", built.items[:1])
    assert raised.value.code == "push-rejected"
    assert "token endpoint refused" in raised.value.message
    assert "link-local or cloud metadata" in raised.value.message
    assert not any(path.startswith("/token") for _, path in server.requests)


def test_a_layout_is_pushed_with_its_referrers_merged_into_the_tag_fallback(
    tmp_path: Path, docker_registry: Registry
) -> None:
    """A two-platform layout with SBOMs of its arm64 manifest, to Debian's docker-registry
    (no referrers API): the fallback tag lists them, and a referrer pushed later from another
    layout of the same image joins them instead of replacing them."""
    first, second = tmp_path / "first", tmp_path / "second"
    write_release(first, "1.0", ["1.0", "latest"])
    shutil.copytree(first, second)
    subject = Layout(first).manifest_descriptor("latest", Platform.for_debian("arm64"))
    spdx, cdx = attach_sboms(first, subject)
    with LayoutWriter(second) as writer:
        extra = write_referrer(writer, subject, "application/vnd.example+json", b"[1]", SPDX)
    index = Layout(first).tagged("latest")
    item = PushItem(index.digest, ("1.0", "latest"))
    with RegistryClient(docker_registry.url) as client:
        report = push(LayoutPushSource(first), client, "layouts/hello", [item])
        later = push(LayoutPushSource(second), client, "layouts/hello", [item])
        found = client.get_manifest("layouts/hello", fallback_tag(subject.digest), INDEX)
        tagged = client.get_manifest("layouts/hello", "1.0", INDEX)
    assert (report.referrers_by, report.referrers, report.manifests) == ("tag", 2, 5)
    assert later.uploaded == 1 and later.referrers == 1  # only the new artifact's payload
    assert found is not None and tagged is not None
    listed = json.loads(found[1])["manifests"]
    assert sorted(m["digest"] for m in listed) == sorted([spdx.digest, cdx.digest, extra.digest])
    assert tagged[1] == LayoutPushSource(first).manifest(index.digest)[1]
