"""Debian's cosign verifies what Couturier signs, in Couturier's registry and in a destination.

A ``couturier serve`` process builds tenant 1's ``1/my-tool`` (two architectures: each line's
tag names an index) over the fixture repository and pushes it to a ``docker-registry`` (the
referrers tag fallback). Then trixie's ``cosign`` (:mod:`tests.cosign`: fetched through
Couturier's own catalog and fetcher) runs ``verify`` and ``verify-attestation --type
slsaprovenance1|spdxjson`` with the tenant's public key from ``GET /v1/signing-key``, against
``/v2/`` of the serve (the token flow, a tenant token as the password) and against the
destination, by tag and with ``--experimental-oci11`` (the referrers). ``couturier verify``
checks the same. A tampered signature or attestation layer makes both fail; a rotated key
keeps verifying what it signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from couturier.oci.cosign import ATTESTATION_ARTIFACT_TYPE, SIGNATURE_ARTIFACT_TYPE, cosign_tag
from couturier.oci.documents import INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from couturier.oci.registry import RegistryClient
from tests.cosign import Cosign, cosign, docker_login
from tests.fixture_repo import SigningKey, build_repo
from tests.registry import Registry, docker_registry
from tests.test_images_api import REPO
from tests.test_serve import Server, couturier, first_token
from tests.test_serve_builds import StallingMirror, _finished, served_environment

__all__ = ["cosign", "docker_registry"]  # fixtures of this module

pytestmark = [pytest.mark.network, pytest.mark.e2e]

ARCHITECTURES = ("amd64", "arm64")
ACCEPT = f"{INDEX_MEDIA_TYPE},{MANIFEST_MEDIA_TYPE}"


@dataclass(frozen=True)
class Signed:
    """A serve holding tenant 1's signed ``1/my-tool``, pushed to ``registry`` as
    ``mirror/my-tool``; ``key`` is the tenant's public key file."""

    server: Server
    env: dict[str, str]
    registry: Registry
    token: str
    key: Path
    build: dict[str, Any]

    @property
    def host(self) -> str:
        return self.server.url.removeprefix("http://")

    @property
    def line(self) -> dict[str, Any]:
        return self.build["lines"][-1]

    def ours(self, tag: str) -> str:
        return f"{self.host}/1/my-tool:{tag}"

    def theirs(self, tag: str) -> str:
        return f"{self.registry.host}/mirror/my-tool:{tag}"


@pytest.fixture(scope="module")
def signed(
    tmp_path_factory: pytest.TempPathFactory,
    signing_key: SigningKey,
    docker_registry: Registry,
    cosign: Cosign,
) -> Iterator[Signed]:
    root = tmp_path_factory.mktemp("cosign-serve")
    repo = build_repo(root / "repo", REPO, key=signing_key, arch=ARCHITECTURES)
    mirror = StallingMirror(repo)
    mirror.release.set()
    thread = threading.Thread(target=mirror.serve_forever, daemon=True)
    thread.start()
    env = served_environment(root, mirror, signing_key, None)
    settings = yaml.safe_load((root / "couturier.yaml").read_text())
    settings["architectures"] = list(ARCHITECTURES)
    (root / "couturier.yaml").write_text(yaml.safe_dump(settings))
    server = Server(env, root / "serve.log")
    try:
        token = first_token(server.stderr())
        issued = couturier(env, "admin", "token", "create", "--tenant", "1", "--scope", "admin")
        assert issued.returncode == 0, issued.stderr
        admin = {"Authorization": f"Bearer {issued.stdout.strip()}"}
        destination = {"url": docker_registry.url, "prefix": "mirror"}
        made = httpx.post(f"{server.url}/v1/destinations", json=destination, headers=admin)
        assert made.status_code == 201, made.text
        spec = {"name": "my-tool", "starter": "tiny"}
        made = httpx.post(f"{server.url}/v1/images", json=spec, headers=admin)
        assert made.status_code == 202, made.text
        build = _finished(
            server.url, f"Authorization: Bearer {token}", made.json()["build"]["trace_id"]
        )
        assert build["status"] == "created", build
        assert all(push["status"] == "pushed" for push in build["pushes"]), build["pushes"]
        key = httpx.get(f"{server.url}/v1/signing-key", headers=admin)
        assert key.headers["content-type"].startswith("application/x-pem-file")
        (root / "tenant1.pub").write_text(key.text)
        docker_login(cosign, server.url.removeprefix("http://"), "couturier", token)
        yield Signed(server, env, docker_registry, token, root / "tenant1.pub", build)
    finally:
        server.stop()
        mirror.shutdown()
        mirror.server_close()


def _passes(done: Any) -> None:
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("where", ["couturier", "destination"])
def test_cosign_verifies_the_signature_and_attestations(
    signed: Signed,
    cosign: Cosign,
    where: str,
) -> None:
    for tag in signed.line["tags"][:2]:
        image = signed.ours(tag) if where == "couturier" else signed.theirs(tag)
        _passes(cosign.verify(signed.key, image))
        _passes(cosign.verify(signed.key, image, "--experimental-oci11"))
        for kind in ("slsaprovenance1", "spdxjson", "cyclonedx"):
            done = cosign.verify_attestation(signed.key, image, kind)
            _passes(done)
            statement = json.loads(
                base64.b64decode(json.loads(done.stdout.splitlines()[0])["payload"])
            )
            subject = statement["subject"][0]["digest"]["sha256"]
            assert f"sha256:{subject}" == signed.line["digest"]
    provenance = json.loads(
        base64.b64decode(
            json.loads(
                cosign.verify_attestation(
                    signed.key, signed.ours("latest"), "slsaprovenance1"
                ).stdout.splitlines()[0]
            )["payload"]
        )
    )["predicate"]
    assert provenance["runDetails"]["metadata"]["invocationId"] == signed.build["trace_id"]
    assert provenance["buildDefinition"]["externalParameters"]["spec"]["name"] == "my-tool"


@pytest.mark.parametrize("where", ["couturier", "destination"])
def test_couturier_verify_checks_signatures_attestations_and_the_dpkg_database(
    signed: Signed, where: str
) -> None:
    tag = signed.line["tags"][0]
    if where == "couturier":
        env = {**signed.env, "COUTURIER_SERVER": signed.server.url, "COUTURIER_TOKEN": signed.token}
        done = couturier(env, "verify", signed.ours(tag), "--json")  # the server's keys
    else:
        argv = ["verify", signed.theirs(tag), "--key", str(signed.key), "--plain-http", "--json"]
        done = couturier(signed.env, *argv)
    assert done.returncode == 0, done.stderr
    checks = json.loads(done.stdout)["checks"]
    names = [check["check"] for check in checks]
    # The index and its two platform manifests; each platform's SBOM against its layers.
    assert names.count("signature") == 3 and names.count("sbom-matches-dpkg") == 2
    assert all(check["holds"] for check in checks), checks


def _tamper(registry: Registry, subject: str, artifact_type: str, change: Any) -> tuple[str, bytes]:
    """Replace the cosign tag of ``subject`` in ``registry`` with a manifest whose first layer
    ``change`` rewrote (as ``(layer descriptor, payload) -> (descriptor, payload)``); the
    original manifest (media type, bytes) to put back."""
    tag = cosign_tag(subject, artifact_type)
    with RegistryClient(registry.url) as client:
        original = client.get_manifest("mirror/my-tool", tag, MANIFEST_MEDIA_TYPE)
        assert original is not None
        manifest = json.loads(original[1])
        layer = manifest["layers"][0]
        payload = client.get_blob("mirror/my-tool", layer["digest"])
        assert payload is not None
        layer, payload = change(layer, payload)
        digest = f"sha256:{hashlib.sha256(payload).hexdigest()}"
        if digest != layer["digest"]:
            path = registry.storage / "upload.bin"
            path.write_bytes(payload)
            client.upload_blob("mirror/my-tool", digest, path)
            layer["digest"], layer["size"] = digest, len(payload)
        manifest["layers"][0] = layer
        client.put_manifest(
            "mirror/my-tool", tag, MANIFEST_MEDIA_TYPE, json.dumps(manifest).encode()
        )
    return original


def _put_back(
    registry: Registry, subject: str, artifact_type: str, original: tuple[str, bytes]
) -> None:
    with RegistryClient(registry.url) as client:
        client.put_manifest("mirror/my-tool", cosign_tag(subject, artifact_type), *original)


def test_a_tampered_signature_or_attestation_fails_cosign_and_couturier_verify(
    signed: Signed,
    cosign: Cosign,
) -> None:
    tag = signed.line["tags"][0]
    image, digest = signed.theirs(tag), signed.line["digest"]
    verify = ["verify", image, "--key", str(signed.key), "--plain-http"]

    def flip_signature(layer: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        annotations = layer["annotations"]
        raw = bytearray(base64.b64decode(annotations["dev.cosignproject.cosign/signature"]))
        raw[-1] ^= 1
        annotations["dev.cosignproject.cosign/signature"] = base64.b64encode(raw).decode()
        return layer, payload

    original = _tamper(signed.registry, digest, SIGNATURE_ARTIFACT_TYPE, flip_signature)
    try:
        assert cosign.verify(signed.key, image).returncode != 0
        done = couturier(signed.env, *verify)
        assert done.returncode == 1
        assert "does not verify: signature" in done.stderr
        assert "not made by a known key" in done.stderr
    finally:
        _put_back(signed.registry, digest, SIGNATURE_ARTIFACT_TYPE, original)
    _passes(cosign.verify(signed.key, image))

    def change_statement(layer: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        envelope = json.loads(payload)
        statement = json.loads(base64.b64decode(envelope["payload"]))
        statement["predicate"]["runDetails"]["metadata"]["invocationId"] = "0" * 32
        envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        return layer, json.dumps(envelope).encode()

    original = _tamper(signed.registry, digest, ATTESTATION_ARTIFACT_TYPE, change_statement)
    try:
        assert cosign.verify_attestation(signed.key, image, "slsaprovenance1").returncode != 0
        done = couturier(signed.env, *verify)
        assert done.returncode == 1
        assert "does not verify: provenance" in done.stderr
    finally:
        _put_back(signed.registry, digest, ATTESTATION_ARTIFACT_TYPE, original)


def test_a_rotated_key_is_listed_and_what_it_signed_still_verifies(
    signed: Signed,
    cosign: Cosign,
    tmp_path: Path,
) -> None:
    done = couturier(signed.env, "admin", "signing-key", "rotate", "--tenant", "1")
    assert done.returncode == 0, done.stderr
    (tmp_path / "new.pub").write_text(done.stdout)
    listed = httpx.get(
        f"{signed.server.url}/v1/signing-key",
        params={"all": "true"},
        headers={"Authorization": f"Bearer {signed.token}"},
    ).json()["items"]
    assert [key["current"] for key in listed] == [False, True]
    assert listed[0]["pem"] == signed.key.read_text() and listed[0]["retired"]
    assert listed[1]["pem"] == done.stdout
    image = signed.ours(signed.line["tags"][0])
    _passes(cosign.verify(signed.key, image))
    assert cosign.verify(tmp_path / "new.pub", image).returncode != 0
    env = {**signed.env, "COUTURIER_SERVER": signed.server.url, "COUTURIER_TOKEN": signed.token}
    assert couturier(env, "verify", image).returncode == 0  # every listed key is tried
