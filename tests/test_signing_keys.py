"""Signing keys: one per tenant, made with it, sealed at rest; ``GET /v1/signing-key``.

On SQLite and PostgreSQL: a tenant's key is made with the tenant (a tenant from before keys
existed gets one when first asked); its private key is stored sealed with the installation
key (never in clear, never answered); each tenant reads only its own public key; ``?all=true``
lists every key with its dates, retired ones after a rotation; ``?starters=true`` the
installation's starter key; a key that no longer opens fails the build's lines before
anything is published. A service build's lines are signed with the tenant's key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from couturier.api.app import create_app
from couturier.oci.cosign import SIGNATURE_ARTIFACT_TYPE
from couturier.oci.signing import key_id, load_public_key
from couturier.oci.verify import verify_image
from couturier.services import signing_keys
from couturier.services import tokens as token_service
from couturier.services.installation import Installation, create_tenant
from couturier.services.registry_store import registry_reader
from couturier.store.signing_keys import SigningKeyRow, SigningKeys
from tests.fixture_repo import SigningKey
from tests.test_images_api import SPEC, bearer, repo, site_installation
from tests.test_push import finished_build
from tests.test_starter_lines import _built as built_starter_line

__all__ = ["repo"]  # the fixture repository of tests/test_images_api.py

PEM = "application/x-pem-file"


@pytest.fixture
def site(
    tmp_path: Path, repo: Path, signing_key: SigningKey, database_url: str
) -> Iterator[Installation]:
    installation = site_installation(tmp_path, repo, signing_key.keyring, database_url)
    try:
        yield installation
    finally:
        installation.close()


def _token(installation: Installation, tenant: int, scope: str = "pull") -> dict[str, str]:
    return bearer(token_service.issue_token(installation, tenant, scope).token)


def test_each_tenant_reads_its_own_public_key_and_never_a_private_one(
    site: Installation,
) -> None:
    two = create_tenant(site, "two").id
    with TestClient(create_app(site, workers=1)) as client:
        assert client.get("/v1/signing-key").status_code == 401
        first = client.get("/v1/signing-key", headers=_token(site, 1))
        second = client.get("/v1/signing-key", headers=_token(site, two))
        starters = client.get("/v1/signing-key?starters=true", headers=_token(site, two))
        listed = client.get("/v1/signing-key?all=true", headers=_token(site, 1)).json()
    for answer in (first, second, starters):
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(PEM)
        assert answer.text.startswith("-----BEGIN PUBLIC KEY-----")
        load_public_key(answer.text.encode())  # an ECDSA P-256 key
        assert "PRIVATE" not in answer.text
    assert len({first.text, second.text, starters.text}) == 3
    (only,) = listed["items"]
    assert (only["pem"], only["current"], only["retired"]) == (first.text, True, None)
    assert only["key_id"] == key_id(first.text)
    # At rest the private key is sealed for its owner: no PEM private key in the row.
    with site.store.unit() as uow:
        rows = uow.session.query(SigningKeyRow).all()
    assert {row.tenant_id for row in rows} == {1, two, None}
    for row in rows:
        assert "PRIVATE KEY" not in row.private_sealed and "BEGIN" not in row.private_sealed


def test_a_rotation_retires_the_key_and_keeps_it_listed(site: Installation) -> None:
    before = signing_keys.current_public_key(site, 1)
    after = signing_keys.rotate(site, 1)
    keys = signing_keys.public_keys(site, 1)
    assert [k.key_id for k in keys] == [before.key_id, after.key_id]
    assert keys[0].retired is not None and keys[1].retired is None
    assert signing_keys.signer_of(site, 1).public_pem() == after.pem
    with pytest.raises(Exception, match="no tenant 99") as raised:
        signing_keys.rotate(site, 99)
    assert getattr(raised.value, "code", "") == "tenant-not-found"


def test_a_tenant_without_a_key_gets_one_when_first_asked(site: Installation) -> None:
    with site.store.unit(write=True) as uow:
        for row in SigningKeys(uow.session, 1).all():
            uow.session.delete(row)
    pem = signing_keys.current_public_key(site, 1).pem
    assert signing_keys.current_public_key(site, 1).pem == pem  # made once
    assert signing_keys.signer_of(site, 1).public_pem() == pem


class StoreContent:
    """A repository of the installation's registry store as tenant 1 reads it (what ``/v2/``
    serves), as a :class:`couturier.oci.verify.ContentReader`."""

    def __init__(self, installation: Installation, repository: str = "1/my-tool") -> None:
        self.reader = registry_reader(installation)
        self.repository = repository

    def manifest(self, reference: str) -> bytes | None:
        found = self.reader.manifest(1, self.repository, reference)
        return found.content if found is not None else None

    def blob(self, digest: str) -> bytes | None:
        found = self.reader.blob(1, self.repository, digest)
        return found.path.read_bytes() if found is not None else None


def test_a_service_build_signs_every_line_with_the_tenants_key(site: Installation) -> None:
    headers = _token(site, 1, "write")
    with TestClient(create_app(site, workers=1)) as client:
        accepted = client.post("/v1/images", json=SPEC, headers=headers).json()
        build = finished_build(client, headers, accepted["build"]["trace_id"])
        pem = client.get("/v1/signing-key", headers=headers).text
    created = [line for line in build["lines"] if line["status"] == "created"]
    assert created, build
    public = load_public_key(pem.encode())
    other = load_public_key(signing_keys.current_public_key(site, None).pem.encode())
    for line in created:
        found = registry_reader(site).referrers(1, "1/my-tool", line["digest"]) or []
        assert [e["artifactType"] for e in found].count(SIGNATURE_ARTIFACT_TYPE) == 1
        checks = verify_image(StoreContent(site), line["tags"][0], [public])
        assert all(check.holds for check in checks), checks
        # The starters' key did not sign a tenant's image.
        problems = {
            c.name: c.problem for c in verify_image(StoreContent(site), line["digest"], [other])
        }
        assert problems["signature"] == "the signature is not made by a known key"


def test_a_key_that_no_longer_opens_fails_the_lines_and_publishes_nothing(
    site: Installation,
) -> None:
    signing_keys.current_public_key(site, 1)
    with site.store.unit(write=True) as uow:
        row = SigningKeys(uow.session, 1).current()
        assert row is not None
        row.private_sealed = SigningKeys(uow.session, None).current().private_sealed  # type: ignore[union-attr]
    headers = _token(site, 1, "write")
    with TestClient(create_app(site, workers=1)) as client:
        accepted = client.post("/v1/images", json=SPEC, headers=headers).json()
        build = finished_build(client, headers, accepted["build"]["trace_id"])
    assert build["status"] == "image build failed"
    for line in build["lines"]:
        assert line["problem"]["code"] == "secret-unreadable", line
        assert not line["tags"]
    assert not (registry_reader(site).tags(1, "1/my-tool") or [])


def test_the_starters_lines_are_signed_with_the_installations_starter_key(
    site: Installation,
) -> None:
    headers = _token(site, 1, "write")
    with TestClient(create_app(site, workers=1)) as client:
        line = built_starter_line(client, headers, "2")
        starters = client.get("/v1/signing-key?starters=true", headers=headers).text
        tenant = client.get("/v1/signing-key", headers=headers).text
    assert line["build"]["line_status"] == "created", line
    content = StoreContent(site, "starters/tiny")
    checks = verify_image(content, "2", [load_public_key(starters.encode())])
    assert all(check.holds for check in checks), checks
    problems = {
        c.name: c.problem for c in verify_image(content, "2", [load_public_key(tenant.encode())])
    }
    assert problems["signature"] == "the signature is not made by a known key"
