"""``/v2/``'s HTTP semantics (in process), over an in-memory reader the test fills
(:mod:`tests.registry_memory`, a stand-in for the store-backed reader that the real-client tests
of :mod:`tests.test_registry_clients` use): the token flow and its challenge, manifests and
blobs by GET and HEAD, byte ranges, tag pagination, referrers and their filter, the spec's
error codes for every malformed part, and one tenant's credential against another's
repositories."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from couturier.api.app import create_app
from couturier.services.installation import FirstStart, Installation, create_tenant, entitle
from couturier.services.registry_auth import BEARER_SECONDS
from couturier.services.tokens import Principal, issue_token, revoke_token
from tests.registry_memory import INDEX, MANIFEST, MemoryRegistry, digest_of
from tests.service import Clock

Installed = tuple[Installation, FirstStart]
ARTIFACT = "application/spdx+json"
LAYER = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def content(tmp_path: Path) -> MemoryRegistry:
    """Tenant 1's ``1/app`` (an index of one amd64 manifest, tags ``1.0``…, an SBOM referrer),
    an empty ``1/empty``, tenant 2's ``2/other`` and the starter ``starters/tiny`` that only
    tenant 1 is entitled to."""
    registry = MemoryRegistry(tmp_path / "blobs")
    registry.add_repository("1/app", owner=1)
    registry.add_repository("1/empty", owner=1)
    registry.add_repository("2/other", owner=2)
    registry.add_repository("starters/tiny", owner=None, entitled={1})
    layer = registry.add_blob("1/app", LAYER)
    config = registry.add_blob("1/app", b'{"architecture":"amd64","os":"linux"}')
    manifest = registry.add_manifest(
        "1/app",
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config,
                "size": 37,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer,
                    "size": len(LAYER),
                }
            ],
        },
    )
    platform = {"architecture": "amd64", "os": "linux"}
    descriptor = {
        "mediaType": MANIFEST,
        "digest": manifest.digest,
        "size": len(manifest.content),
        "platform": platform,
    }
    tags = ("1", "1.0", "1.0.1", "20261130", "latest")
    registry.add_manifest(
        "1/app", {"schemaVersion": 2, "mediaType": INDEX, "manifests": [descriptor]}, tags
    )
    subject = {"mediaType": MANIFEST, "digest": manifest.digest, "size": len(manifest.content)}
    for kind in (ARTIFACT, "application/vnd.cyclonedx+json"):
        registry.add_manifest(
            "1/app",
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "artifactType": kind,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": digest_of(b"{}"),
                    "size": 2,
                },
                "layers": [],
                "subject": subject,
            },
        )
    registry.add_manifest(
        "2/other", {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}, ("latest",)
    )
    registry.add_manifest(
        "starters/tiny", {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}, ("2",)
    )
    return registry


@pytest.fixture
def client(installed: Installed, content: MemoryRegistry) -> Iterator[TestClient]:
    installation, _ = installed
    with TestClient(create_app(installation, registry_reader=content)) as test_client:
        yield test_client


def _basic(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def _login(client: TestClient, token: str, *repositories: str) -> dict[str, str]:
    """The token flow as podman does it: the bearer header for ``repositories``."""
    scopes = [("scope", f"repository:{name}:pull") for name in repositories]
    answer = client.get(
        "/v2/token", params=[("service", "testserver"), *scopes], headers=_basic("1", token)
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token"] == body["access_token"] and body["expires_in"] == BEARER_SECONDS
    return {"Authorization": f"Bearer {body['token']}"}


def _error(answer: httpx.Response) -> str:
    (error,) = answer.json()["errors"]
    assert set(error) == {"code", "message", "detail"} and error["message"]
    code: str = error["code"]
    return code


@pytest.fixture
def tenant_two(installed: Installed) -> str:
    installation, _ = installed
    create_tenant(installation, "two")
    entitle(installation, 2, ["python"])
    return issue_token(installation, 2, "pull").token


def test_the_base_answers_401_with_the_challenge_then_200_after_the_token_flow(
    client: TestClient, installed: Installed
) -> None:
    token = installed[1].token
    answer = client.get("/v2/")
    assert answer.status_code == 401 and _error(answer) == "UNAUTHORIZED"
    assert answer.headers["www-authenticate"] == (
        'Bearer realm="http://testserver/v2/token",service="testserver"'
    )
    assert answer.headers["docker-distribution-api-version"] == "registry/2.0"

    login = client.get("/v2/token", params={"service": "testserver"}, headers=_basic("1", token))
    assert login.status_code == 200 and login.headers["cache-control"] == "no-store"
    bearer = {"Authorization": f"Bearer {login.json()['token']}"}
    answer = client.get("/v2/", headers=bearer)
    assert (answer.status_code, answer.json()) == (200, {})
    # a tenant token is accepted directly, as the bearer or the basic password (curl)
    assert client.get("/v2/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/v2/", headers=_basic("anyone", token)).status_code == 200


def test_bad_credentials_are_401_with_a_challenge(
    client: TestClient, installed: Installed, clock: Clock
) -> None:
    token = installed[1].token
    wrong = token[:-4] + "0000"
    answer = client.get("/v2/token", headers=_basic("1", wrong))
    assert answer.status_code == 401 and _error(answer) == "UNAUTHORIZED"
    assert answer.headers["www-authenticate"] == 'Basic realm="http://testserver/v2/token"'
    assert client.get("/v2/token").status_code == 401
    for header in ("Bearer e30.e30.AAAA", "Bearer nope", f"Bearer {wrong}", "Basic !!!", "X"):
        answer = client.get("/v2/", headers={"Authorization": header})
        assert answer.status_code == 401, header
        invalid = answer.headers["www-authenticate"].endswith(',error="invalid_token"')
        assert invalid == header.startswith("Bearer"), header  # the others offer no token

    bearer = _login(client, token, "1/app")
    assert client.get("/v2/1/app/tags/list", headers=bearer).status_code == 200
    clock.advance(seconds=BEARER_SECONDS)
    answer = client.get("/v2/1/app/tags/list", headers=bearer)
    assert answer.status_code == 401
    assert 'scope="repository:1/app:pull"' in answer.headers["www-authenticate"]


def test_the_oauth_form_of_the_token_endpoint(client: TestClient, installed: Installed) -> None:
    """containerd posts ``grant_type=password`` first and falls back to GET only on 404/405."""
    form = {
        "grant_type": "password",
        "username": "1",
        "password": installed[1].token,
        "scope": "repository:1/app:pull repository:1/empty:pull",
        "service": "testserver",
        "client_id": "containerd-client",
    }
    answer = client.post("/v2/token", data=form)
    assert answer.status_code == 200, answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    assert client.get("/v2/1/empty/tags/list", headers=bearer).status_code == 200
    wrong = client.post("/v2/token", data={**form, "password": "ctr_nope"})
    assert wrong.status_code == 401 and _error(wrong) == "UNAUTHORIZED"
    for bad in ({**form, "grant_type": "refresh_token"}, {}):
        refused = client.post("/v2/token", data=bad)
        assert refused.status_code == 400 and _error(refused) == "UNSUPPORTED"
    as_json = client.post("/v2/token", json=form)
    assert as_json.status_code == 400 and _error(as_json) == "UNSUPPORTED"


def test_a_revoked_token_gets_no_bearer_token_and_is_no_bearer_itself(
    client: TestClient, installed: Installed
) -> None:
    installation, _ = installed
    issued = issue_token(installation, 1, "pull")
    bearer = _login(client, issued.token, "1/app")
    revoke_token(installation, Principal(1, issued.info.id, "admin"), issued.info.id)
    assert client.get("/v2/token", headers=_basic("1", issued.token)).status_code == 401
    direct = {"Authorization": f"Bearer {issued.token}"}
    assert client.get("/v2/1/app/tags/list", headers=direct).status_code == 401
    # a bearer token made before stays valid until it expires (BEARER_SECONDS)
    assert client.get("/v2/1/app/tags/list", headers=bearer).status_code == 200


def test_the_realm_is_the_public_url_behind_a_proxy(
    installed: Installed, content: MemoryRegistry
) -> None:
    installation, _ = installed
    proxied = replace(
        installation,
        settings=replace(installation.settings, public_url="https://couturier.example.org"),
    )
    with TestClient(create_app(proxied, registry_reader=content)) as client:
        answer = client.get("/v2/1/app/manifests/latest")
    assert answer.headers["www-authenticate"] == (
        'Bearer realm="https://couturier.example.org/v2/token",'
        'service="couturier.example.org",scope="repository:1/app:pull"'
    )


def test_manifests_by_tag_and_digest_with_get_and_head(
    client: TestClient, installed: Installed, content: MemoryRegistry
) -> None:
    bearer = _login(client, installed[1].token, "1/app")
    index = client.get("/v2/1/app/manifests/latest", headers=bearer)
    assert index.status_code == 200
    assert index.headers["content-type"] == INDEX
    digest = index.headers["docker-content-digest"]
    assert digest == digest_of(index.content)
    assert int(index.headers["content-length"]) == len(index.content)
    (platform,) = index.json()["manifests"]

    manifest = client.get(f"/v2/1/app/manifests/{platform['digest']}", headers=bearer)
    assert manifest.headers["content-type"] == MANIFEST
    assert digest_of(manifest.content) == platform["digest"]
    assert client.get(f"/v2/1/app/manifests/{digest}", headers=bearer).content == index.content

    head = client.head("/v2/1/app/manifests/1.0", headers=bearer)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["docker-content-digest"] == digest
    assert head.headers["content-length"] == str(len(index.content))
    assert head.headers["content-type"] == INDEX


def test_blobs_stream_whole_and_by_range(client: TestClient, installed: Installed) -> None:
    bearer = _login(client, installed[1].token, "1/app")
    digest = digest_of(LAYER)
    url = f"/v2/1/app/blobs/{digest}"
    whole = client.get(url, headers=bearer)
    assert whole.status_code == 200 and whole.content == LAYER
    assert whole.headers["docker-content-digest"] == digest
    assert whole.headers["content-length"] == str(len(LAYER))
    assert whole.headers["accept-ranges"] == "bytes"

    ranges = {
        "bytes=0-99": (0, 100),
        "bytes=10000-": (10000, len(LAYER)),
        "bytes=-40": (len(LAYER) - 40, len(LAYER)),
        "bytes=10200-99999": (10200, len(LAYER)),
    }
    for header, (start, end) in ranges.items():
        part = client.get(url, headers={**bearer, "Range": header})
        assert part.status_code == 206, header
        assert part.content == LAYER[start:end], header
        assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{len(LAYER)}"
        assert part.headers["content-length"] == str(end - start)
    for header in ("bytes=10240-", "bytes=99999-100000", "bytes=-0"):
        past = client.get(url, headers={**bearer, "Range": header})
        assert past.status_code == 416, header
        assert past.headers["content-range"] == f"bytes */{len(LAYER)}"
        assert _error(past) == "RANGE_INVALID"
    for ignored in ("bytes=9-2", "lines=1-2", "bytes=0-1,5-6", "bytes=x-"):
        answer = client.get(url, headers={**bearer, "Range": ignored})
        assert (answer.status_code, answer.content) == (200, LAYER), ignored

    head = client.head(url, headers=bearer)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(LAYER))
    head = client.head(url, headers={**bearer, "Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10"
    # a manifest is a blob of its repository too
    index = client.get("/v2/1/app/manifests/latest", headers=bearer)
    blob = client.get(f"/v2/1/app/blobs/{index.headers['docker-content-digest']}", headers=bearer)
    assert blob.content == index.content


def test_tags_paginate_with_n_last_and_link(client: TestClient, installed: Installed) -> None:
    bearer = _login(client, installed[1].token, "1/app", "1/empty")
    every = client.get("/v2/1/app/tags/list", headers=bearer)
    assert every.json() == {"name": "1/app", "tags": ["1", "1.0", "1.0.1", "20261130", "latest"]}
    assert "link" not in every.headers

    seen: list[str] = []
    url: str | None = "/v2/1/app/tags/list?n=2"
    while url is not None:
        page = client.get(url, headers=bearer)
        assert page.status_code == 200
        seen += page.json()["tags"]
        link = page.headers.get("link")
        url = link[1 : link.index(">")] if link else None
        if url:
            assert link is not None and link.endswith('; rel="next"')
    assert seen == every.json()["tags"]
    answer = client.get("/v2/1/app/tags/list?n=10&last=1.0", headers=bearer)
    assert answer.json()["tags"] == ["1.0.1", "20261130", "latest"]
    assert client.get("/v2/1/app/tags/list?n=0", headers=bearer).json()["tags"] == []
    assert client.get("/v2/1/empty/tags/list", headers=bearer).json() == {
        "name": "1/empty",
        "tags": [],
    }
    for n in ("-1", "x", "1.5", "9" * 20, "٣"):
        answer = client.get("/v2/1/app/tags/list", params={"n": n}, headers=bearer)
        assert answer.status_code == 400 and _error(answer) == "PAGINATION_NUMBER_INVALID", n


def test_referrers_are_an_index_filtered_by_artifact_type(
    client: TestClient, installed: Installed
) -> None:
    bearer = _login(client, installed[1].token, "1/app")
    index = client.get("/v2/1/app/manifests/latest", headers=bearer).json()
    subject = index["manifests"][0]["digest"]
    answer = client.get(f"/v2/1/app/referrers/{subject}", headers=bearer)
    assert answer.status_code == 200 and answer.headers["content-type"] == INDEX
    body = answer.json()
    assert (body["schemaVersion"], body["mediaType"]) == (2, INDEX)
    assert {m["artifactType"] for m in body["manifests"]} == {
        ARTIFACT,
        "application/vnd.cyclonedx+json",
    }
    assert "oci-filters-applied" not in answer.headers
    only = client.get(
        f"/v2/1/app/referrers/{subject}", params={"artifactType": ARTIFACT}, headers=bearer
    )
    assert [m["artifactType"] for m in only.json()["manifests"]] == [ARTIFACT]
    assert only.headers["oci-filters-applied"] == "artifactType"
    nothing = client.get(f"/v2/1/app/referrers/sha256:{'0' * 64}", headers=bearer)
    assert (nothing.status_code, nothing.json()["manifests"]) == (200, [])


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v2/1/App/manifests/latest", 400, "NAME_INVALID"),
        ("GET", "/v2/1/a..b/tags/list", 400, "NAME_INVALID"),
        ("GET", f"/v2/1/{'a' * 300}/tags/list", 400, "NAME_INVALID"),
        ("GET", "/v2/1/app/manifests/sha256:xyz", 400, "DIGEST_INVALID"),
        ("GET", "/v2/1/app/manifests/-bad-tag", 400, "MANIFEST_INVALID"),
        ("GET", "/v2/1/app/manifests/nope", 404, "MANIFEST_UNKNOWN"),
        ("GET", f"/v2/1/app/manifests/sha256:{'a' * 64}", 404, "MANIFEST_UNKNOWN"),
        ("GET", f"/v2/1/app/manifests/sha512:{'a' * 128}", 404, "MANIFEST_UNKNOWN"),
        ("GET", "/v2/1/app/blobs/sha256:ABC", 400, "DIGEST_INVALID"),
        ("GET", "/v2/1/app/blobs/latest", 400, "DIGEST_INVALID"),
        ("GET", f"/v2/1/app/blobs/sha256:{'a' * 64}", 404, "BLOB_UNKNOWN"),
        ("GET", "/v2/1/app/referrers/latest", 400, "DIGEST_INVALID"),
        ("GET", "/v2/1/missing/manifests/latest", 404, "NAME_UNKNOWN"),
        ("GET", f"/v2/1/missing/blobs/sha256:{'a' * 64}", 404, "NAME_UNKNOWN"),
        ("GET", "/v2/1/missing/tags/list", 404, "NAME_UNKNOWN"),
        ("GET", f"/v2/1/missing/referrers/sha256:{'a' * 64}", 404, "NAME_UNKNOWN"),
        ("GET", "/v2/1/app/nothing/here", 404, "UNSUPPORTED"),
        ("GET", "/v2/_catalog", 404, "UNSUPPORTED"),
        ("POST", "/v2/1/app/blobs/uploads/", 405, "UNSUPPORTED"),
        ("PUT", "/v2/1/app/manifests/latest", 405, "UNSUPPORTED"),
        ("DELETE", f"/v2/1/app/blobs/sha256:{'a' * 64}", 405, "UNSUPPORTED"),
        ("PATCH", "/v2/1/app/blobs/uploads/x", 405, "UNSUPPORTED"),
        ("GET", "/v2/1/app/blobs/uploads/x", 405, "UNSUPPORTED"),
    ],
)
def test_each_bad_request_gets_the_specs_error(
    client: TestClient, installed: Installed, method: str, path: str, *, status: int, code: str
) -> None:
    headers = {"Authorization": f"Bearer {installed[1].token}"}
    answer = client.request(method, path, headers=headers)
    assert answer.status_code == status, answer.text
    assert _error(answer) == code
    assert answer.headers["docker-distribution-api-version"] == "registry/2.0"
    if method == "GET" and status == 404:
        assert client.head(path, headers=headers).status_code == 404


@pytest.mark.parametrize(
    "path", ["/v2/1/app/manifests/sha256:xyz", "/v2/1/app/blobs/sha256:ABC", "/v2/1/app/blobs/x"]
)
def test_a_malformed_digest_is_told_what_a_digest_looks_like(
    client: TestClient, installed: Installed, path: str
) -> None:
    headers = {"Authorization": f"Bearer {installed[1].token}"}
    error = client.get(path, headers=headers).json()["errors"][0]
    assert error["code"] == "DIGEST_INVALID"
    assert "did not match" not in error["message"]
    assert "64 lowercase hex digits" in error["message"]


def _everything(repository: str, digest: str) -> list[str]:
    return [
        f"/v2/{repository}/manifests/latest",
        f"/v2/{repository}/manifests/{digest}",
        f"/v2/{repository}/blobs/{digest_of(LAYER)}",
        f"/v2/{repository}/tags/list",
        f"/v2/{repository}/referrers/{digest}",
    ]


def test_another_tenants_repositories_are_out_of_reach_and_indistinguishable(
    client: TestClient, installed: Installed, tenant_two: str
) -> None:
    owner = _login(client, installed[1].token, "1/app")
    digest = client.get("/v2/1/app/manifests/latest", headers=owner).headers[
        "docker-content-digest"
    ]
    # tenant 2 asks for tenant 1's repository: its bearer token grants nothing there
    login = client.get(
        "/v2/token",
        params=[("service", "testserver"), ("scope", "repository:1/app:pull,push")],
        headers=_basic("2", tenant_two),
    )
    assert login.status_code == 200
    for bearer in (login.json()["token"], tenant_two):
        headers = {"Authorization": f"Bearer {bearer}"}
        answers: list[tuple[int, Any]] = []
        for repository in ("1/app", "1/never-made"):
            for path in _everything(repository, digest):
                answer = client.get(path, headers=headers)
                assert answer.status_code in (401, 404), path
                assert LAYER not in answer.content and digest not in answer.text, path
                answers.append((answer.status_code, _error(answer)))
                assert client.head(path, headers=headers).status_code in (401, 404), path
        # an existing repository of tenant 1 answers exactly as one that does not exist
        assert answers[:5] == answers[5:]
    # its own repositories and entitled starters stay as they are; tiny is not its starter
    two = _login(client, tenant_two, "2/other", "starters/tiny")
    assert client.get("/v2/2/other/tags/list", headers=two).json()["tags"] == ["latest"]
    answer = client.get("/v2/starters/tiny/tags/list", headers=two)
    assert (answer.status_code, _error(answer)) == (404, "NAME_UNKNOWN")
    one = _login(client, installed[1].token, "starters/tiny", "2/other")
    assert client.get("/v2/starters/tiny/tags/list", headers=one).json()["tags"] == ["2"]
    assert client.get("/v2/2/other/tags/list", headers=one).status_code == 401


def test_a_bearer_token_is_signed_by_the_installation(
    client: TestClient, installed: Installed
) -> None:
    bearer = _login(client, installed[1].token, "1/app")["Authorization"].split(" ")[1]
    header, claims, signature = bearer.split(".")
    padded = claims + "=" * (-len(claims) % 4)
    decoded = json.loads(base64.urlsafe_b64decode(padded))
    assert decoded["sub"] == "1"
    assert decoded["access"] == [{"type": "repository", "name": "1/app", "actions": ["pull"]}]
    # widened to tenant 2's repository, the token's signature no longer matches
    decoded["access"][0]["name"] = "2/other"
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode().rstrip("=")
    answer = client.get(
        "/v2/2/other/tags/list", headers={"Authorization": f"Bearer {header}.{forged}.{signature}"}
    )
    assert answer.status_code == 401
    assert hashlib.sha256(bearer.encode()).hexdigest() not in answer.text


def test_v2_stays_out_of_the_v1_openapi_document(client: TestClient) -> None:
    paths = client.get("/v1/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/v2")]


def test_a_host_header_that_cannot_be_quoted_makes_no_challenge_of_it(client: TestClient) -> None:
    for host in ('evil"host', "a b", "x\\y", "[::1", "h:99999999"):
        answer = client.get("/v2/", headers={"Host": host})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == (
            'Bearer realm="http://localhost/v2/token",service="localhost"'
        ), host
    answer = client.get("/v2/", headers={"Host": "[::1]:8080"})
    assert 'realm="http://[::1]:8080/v2/token"' in answer.headers["www-authenticate"]


_PARTS = st.sampled_from(
    [
        "1",
        "2",
        "app",
        "starters",
        "tiny",
        "manifests",
        "blobs",
        "tags",
        "list",
        "referrers",
        "uploads",
        "latest",
        "sha256:" + "a" * 64,
        "sha256:",
        "..",
        "%2F",
        "A",
        "-",
        "",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parts=st.lists(st.one_of(_PARTS, st.text(max_size=12)), max_size=7),
    query=st.dictionaries(st.sampled_from(["n", "last", "artifactType"]), st.text(max_size=20)),
    range_header=st.one_of(st.none(), st.text(max_size=30), st.from_regex(r"bytes=\d*-\d*")),
    method=st.sampled_from(["GET", "HEAD", "PUT", "DELETE"]),
)
def test_no_request_gets_a_500_or_another_shape(
    client: TestClient,
    installed: Installed,
    *,
    parts: list[str],
    query: dict[str, str],
    range_header: str | None,
    method: str,
) -> None:
    """Whatever the path, query and range, ``/v2/`` answers below 500, and every error in the
    spec's shape."""
    headers = {"Authorization": f"Bearer {installed[1].token}"}
    if range_header is not None and range_header.isascii() and range_header.isprintable():
        headers["Range"] = range_header
    path = "/v2/" + "/".join(quote(part, safe=":") for part in parts)
    answer = client.request(method, path, params=query, headers=headers)
    assert answer.status_code < 500, (path, answer.text)
    # (a path of dot segments is resolved by the client: it may leave /v2/ altogether)
    if answer.status_code >= 400 and method != "HEAD" and answer.url.path.startswith("/v2/"):
        assert set(answer.json()) == {"errors"}, (path, answer.text)
