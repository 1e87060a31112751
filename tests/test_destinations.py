"""Destinations (``/v1/destinations``) and the push after every build, on the service built
over the fixture repository: an image pushed to Debian's ``docker-registry`` started here
(TLS with a test CA, basic auth from a bcrypt htpasswd file) and pulled by digest from there
with ``podman``, its SBOMs found through the referrers tag fallback, a second repository
mounting the shared blobs; a destination that stays unreachable leaves the lines created
with a push error in the build record; registration refuses what is not http(s) and
link-local or metadata addresses; secrets are never answered; another tenant's destination
is 404."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from couturier.api.app import create_app
from couturier.oci.cosign import ATTESTATION_ARTIFACT_TYPE, SIGNATURE_ARTIFACT_TYPE
from couturier.oci.push import fallback_tag, push
from couturier.oci.pushsource import PushItem
from couturier.oci.registry import Credentials, RegistryClient
from couturier.services import tokens as token_service
from couturier.services.installation import Installation, create_tenant
from couturier.services.pushes import RepositoryPushSource
from couturier.services.registry_store import registry_reader
from couturier.store.destinations import Destination
from tests.certs import key_pem, make_certificate
from tests.fixture_repo import SigningKey, build_repo
from tests.registry import Registry, running_registry
from tests.test_e2e_clients import Podman, podman  # noqa: F401 - the module's podman
from tests.test_images_api import REPO, SPEC, bearer, site_installation
from tests.test_push import CYCLONEDX, SPDX, finished_build

USER, PASSWORD = "pusher", "registry-pass-7"


@pytest.fixture
def site(tmp_path: Path, signing_key: SigningKey, database_url: str) -> Iterator[Installation]:
    """The service over the fixture repository, on SQLite and on PostgreSQL."""
    repo = build_repo(tmp_path / "repo", REPO, key=signing_key, arch=("amd64",))
    (tmp_path / "site").mkdir()
    installation = site_installation(tmp_path / "site", repo, signing_key.keyring, database_url)
    try:
        yield installation
    finally:
        installation.close()


def admin(installation: Installation, tenant: int = 1) -> dict[str, str]:
    return bearer(token_service.issue_token(installation, tenant, "admin").token)


@pytest.fixture(scope="module")
def secured_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, str]]:
    """``docker-registry`` over TLS (a certificate for 127.0.0.1 from a test CA) with basic
    auth for USER; and the CA's PEM."""
    directory = tmp_path_factory.mktemp("secured-registry")
    ca = make_certificate("Couturier test CA")
    server = make_certificate("127.0.0.1", ca=False, issuer=ca, ip_address="127.0.0.1")
    (directory / "server.crt").write_bytes(server.pem)
    (directory / "server.key").write_bytes(key_pem(server))
    hashed = subprocess.run(
        ["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True
    ).stdout
    (directory / "htpasswd").write_text(hashed)
    tls = (directory / "server.crt", directory / "server.key")
    with running_registry(directory / "run", tls=tls, htpasswd=directory / "htpasswd") as reg:
        yield reg, ca.pem.decode()


def registry_get(registry: Registry, ca_pem: str, path: str, accept: str) -> httpx.Response:
    """GET ``/v2/<path>`` of the secured registry with the credentials, trusting the CA."""
    import ssl

    context = ssl.create_default_context(cadata=ca_pem)
    with httpx.Client(verify=context, auth=(USER, PASSWORD), timeout=30) as client:
        return client.get(f"{registry.url}/v2/{path}", headers={"Accept": accept})


def test_a_build_is_pushed_to_docker_registry_and_pulled_from_there_by_digest(
    site: Installation,
    secured_registry: tuple[Registry, str],
    podman: Podman,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    registry, ca_pem = secured_registry
    headers = admin(site)
    with TestClient(create_app(site, workers=1)) as client:
        body = {
            "url": registry.url,
            "prefix": "mirror",
            "username": USER,
            "password": PASSWORD,
            "ca_pem": ca_pem,
        }
        answer = client.post("/v1/destinations", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        made = answer.json()
        assert (made["url"], made["prefix"], made["password"], made["ca"]) == (
            registry.url,
            "mirror",
            True,
            True,
        )
        assert PASSWORD not in answer.text
        accepted = client.post("/v1/images", json=SPEC, headers=headers).json()
        build = finished_build(client, headers, accepted["build"]["trace_id"])

    assert build["status"] == "created"
    pushes = {push["line"]: push for push in build["pushes"]}
    assert set(pushes) == {line["line"] for line in build["lines"]}
    for line in build["lines"]:
        pushed = pushes[line["line"]]
        assert (pushed["status"], pushed["problem"]) == ("pushed", None), pushed
        assert (pushed["repository"], pushed["digest"]) == ("mirror/my-tool", line["digest"])
        assert pushed["report"]["referrers_by"] == "tag"
        # SPDX, CycloneDX, cosign's signature and attestations of the (one) platform manifest
        assert pushed["report"]["referrers"] == 4

    # The password is sealed at rest: the row holds no plain text of it.
    with site.store.unit() as uow:
        (row,) = uow.session.query(Destination).all()
        assert row.password_sealed and PASSWORD not in row.password_sealed

    newest = build["lines"][-1]
    tags = registry_get(registry, ca_pem, "mirror/my-tool/tags/list", "application/json")
    assert set(newest["tags"]) <= set(tags.json()["tags"])
    tagged = registry_get(
        registry,
        ca_pem,
        "mirror/my-tool/manifests/latest",
        "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json",
    )
    assert tagged.headers["docker-content-digest"] == newest["digest"]

    # The SBOMs, through the referrers tag schema: sha256-<hex of the platform manifest>.
    stored = RepositoryPushSource(registry_reader(site), 1, "1/my-tool")
    root = json.loads(stored.manifest(newest["digest"])[1])
    subject = root["manifests"][0]["digest"] if "manifests" in root else newest["digest"]
    index = registry_get(
        registry,
        ca_pem,
        f"mirror/my-tool/manifests/{fallback_tag(subject)}",
        "application/vnd.oci.image.index.v1+json",
    ).json()
    assert sorted(m["artifactType"] for m in index["manifests"]) == sorted(
        [SPDX, CYCLONEDX, SIGNATURE_ARTIFACT_TYPE, ATTESTATION_ARTIFACT_TYPE]
    )

    # podman pulls that very digest from the registry, trusting the test CA.
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_text(ca_pem)
    reference = f"{registry.host}/mirror/my-tool@{newest['digest']}"
    podman("pull", "--quiet", "--cert-dir", str(certs), "--creds", f"{USER}:{PASSWORD}", reference)
    assert (
        podman("image", "inspect", "--format", "{{.Digest}}", reference).strip()
        == (newest["digest"])
    )


def test_a_second_repository_mounts_the_blobs_the_first_holds(
    site: Installation, secured_registry: tuple[Registry, str], tmp_path: Path
) -> None:
    registry, ca_pem = secured_registry
    headers = admin(site)
    with TestClient(create_app(site, workers=1)) as client:
        accepted = client.post("/v1/images", json=SPEC, headers=headers).json()
        build = finished_build(client, headers, accepted["build"]["trace_id"])
    items = [PushItem(line["digest"], ()) for line in build["lines"]]
    source = RepositoryPushSource(registry_reader(site), 1, "1/my-tool")
    credentials = Credentials(USER, PASSWORD)
    with RegistryClient(registry.url, credentials=credentials, ca_pem=ca_pem) as client:
        base = f"mount-{uuid.uuid4().hex[:8]}"  # the registry is the module's: new names
        first = push(source, client, f"{base}/first", items)
        second = push(source, client, f"{base}/second", items, mount_from=f"{base}/first")
    assert first.uploaded > 0
    assert second.uploaded == 0 and second.mounted == first.uploaded + first.present


def test_an_unreachable_destination_leaves_the_lines_created_with_a_push_error(
    site: Installation,
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    headers = admin(site)
    with TestClient(create_app(site, workers=1)) as client:
        body = {"url": f"http://127.0.0.1:{port}", "username": USER, "password": PASSWORD}
        assert client.post("/v1/destinations", json=body, headers=headers).status_code == 201
        accepted = client.post("/v1/images", json=SPEC, headers=headers).json()
        build = finished_build(client, headers, accepted["build"]["trace_id"])
        gallery = client.get("/v1/images/1/my-tool", headers=headers).json()
    assert build["status"] == "created"
    assert [line["status"] for line in build["lines"]] == ["created", "created"]
    first, second = build["pushes"]
    for pushed in (first, second):
        assert pushed["status"] == "failed"
        problem: dict[str, Any] = pushed["problem"]
        assert problem["code"] == "push-unreachable"
        assert problem["fields"]["attempts"] == 4 and problem["fields"]["destination"] == 1
        assert f"127.0.0.1:{port}" in problem["message"] and PASSWORD not in json.dumps(problem)
    assert gallery["last_build"]["status"] == "created"
    kept = registry_reader(site).manifest(1, "1/my-tool", "latest")  # Couturier serves it
    assert kept is not None and kept.digest == build["lines"][-1]["digest"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://registry.example.com", "https:// or http://"),
        ("registry.example.com", "https:// or http://"),
        ("http://169.254.169.254", "link-local or cloud metadata"),
        ("http://[fe80::1]:5000", "link-local or cloud metadata"),
        ("http://metadata.google.internal", "cloud metadata service"),
        ("http://[::ffff:169.254.169.254]", "link-local or cloud metadata"),
        ("https://user:pw@127.0.0.1:5000", "must not carry credentials"),
        ("https://127.0.0.1:5000/v2/x", "registry's address only"),
    ],
)
def test_registration_refuses_urls_that_are_not_http_or_point_at_metadata(
    site: Installation, url: str, words: str
) -> None:
    with TestClient(create_app(site)) as client:
        answer = client.post("/v1/destinations", json={"url": url}, headers=admin(site))
        assert answer.status_code == 422, answer.text
        (error,) = answer.json()["errors"]
        assert error["field"] == "url" and words in error["rule"]
        assert "pw" not in answer.text.replace("//", "")
        assert client.get("/v1/destinations", headers=admin(site)).json()["items"] == []


def test_every_violation_of_a_registration_is_one_422(site: Installation) -> None:
    body = {
        "url": "gopher://x",
        "prefix": "Bad Prefix",
        "password": "p",
        "ca_pem": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
    }
    with TestClient(create_app(site)) as client:
        answer = client.post("/v1/destinations", json=body, headers=admin(site))
        assert answer.status_code == 422
        fields = [error["field"] for error in answer.json()["errors"]]
        assert fields == ["url", "prefix", "username", "ca_pem"]
        unknown = client.post(
            "/v1/destinations", json={"url": "http://127.0.0.1", "x": 1}, headers=admin(site)
        )
        assert unknown.status_code == 422
        secret = "long-secret-" * 400  # over the 4096 characters a password may have
        body = {"url": "http://127.0.0.1:5000", "username": "u", "password": secret}
        long = client.post("/v1/destinations", json=body, headers=admin(site))
        assert long.status_code == 422 and "long-secret" not in long.text
        assert long.json()["errors"][0] == {
            "field": "password",
            "value": "(hidden)",
            "rule": "must be at most 4096 characters on one line",
            "message": "password: must be at most 4096 characters on one line",
        }


def test_destinations_need_admin_and_another_tenants_are_404(site: Installation) -> None:
    create_tenant(site, "other")
    mine, theirs = admin(site, 1), admin(site, 2)
    writer = bearer(token_service.issue_token(site, 1, "write").token)
    with TestClient(create_app(site)) as client:
        body = {"url": "http://127.0.0.1:5000", "username": "u", "password": "secret-value"}
        made = client.post("/v1/destinations", json=body, headers=mine).json()
        assert client.get("/v1/destinations", headers=writer).status_code == 403
        assert client.get("/v1/destinations", headers=theirs).json() == {"items": [], "next": None}
        for method in ("GET", "DELETE"):
            answer = client.request(method, f"/v1/destinations/{made['id']}", headers=theirs)
            assert answer.status_code == 404
            assert answer.json()["error"]["code"] == "destination-not-found"
        listed = client.get("/v1/destinations", headers=mine)
        assert [d["id"] for d in listed.json()["items"]] == [made["id"]]
        assert "secret-value" not in listed.text
        assert client.delete(f"/v1/destinations/{made['id']}", headers=mine).status_code == 204
        assert client.get(f"/v1/destinations/{made['id']}", headers=mine).status_code == 404


def test_a_password_that_no_longer_opens_fails_the_push_not_the_build(
    site: Installation,
) -> None:
    headers = admin(site)
    with TestClient(create_app(site, workers=1)) as client:
        body = {"url": "http://127.0.0.1:5000", "username": USER, "password": PASSWORD}
        made = client.post("/v1/destinations", json=body, headers=headers).json()
        with site.store.unit(write=True) as uow:  # sealed for another row: it does not open
            row = uow.session.get(Destination, made["id"])
            assert row is not None
            row.password_sealed = site.key.seal(PASSWORD.encode(), "destination:999:password")
        accepted = client.post("/v1/images", json=SPEC, headers=headers).json()
        build = finished_build(client, headers, accepted["build"]["trace_id"])
    assert build["status"] == "created"
    assert [p["problem"]["code"] for p in build["pushes"]] == ["secret-unreadable"] * 2
    assert PASSWORD not in json.dumps(build)
