"""The REST API in process (FastAPI's test client), on SQLite and on a real PostgreSQL: bearer
auth, tokens, starters, pages, the 422 shape and isolation between tenants. ``serve`` as a
real process is tests/test_serve.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from couturier.api.app import create_app
from couturier.api.errors import HTTP_STATUS
from couturier.errors import Code
from couturier.services import actions as action_service
from couturier.services import bundles as bundle_service
from couturier.services import tokens as token_service
from couturier.services.destinations import DestinationRequest, register_destination
from couturier.services.installation import (
    FirstStart,
    Installation,
    create_tenant,
    entitle,
    open_installation,
)
from couturier.services.tokens import Principal
from couturier.store.images import TenantImages
from couturier.store.models import Build, Image
from tests.conftest import make_settings
from tests.fixture_repo import SigningKey, build_repo
from tests.service import Clock
from tests.test_cli_starters import RELEASES, STANZAS, TINY

Installed = tuple[Installation, FirstStart]


@pytest.fixture
def client(installed: Installed) -> Iterator[TestClient]:
    installation, _ = installed
    with TestClient(create_app(installation)) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_token(installation: Installation, tenant_id: int = 1) -> str:
    return token_service.issue_token(installation, tenant_id, "admin").token


def assert_errors(body: Any, *fields: str) -> list[dict[str, Any]]:
    """The body is the 422 shape, naming ``fields`` in order."""
    assert set(body) == {"errors"}, body
    for error in body["errors"]:
        assert set(error) == {"field", "value", "rule", "message"}, error
        assert error["rule"] and error["message"]
    assert [e["field"] for e in body["errors"]] == list(fields), body
    errors: list[dict[str, Any]] = body["errors"]
    return errors


def test_health_and_readiness_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readiness_fails_when_the_database_is_gone(installed: Installed) -> None:
    installation, _ = installed
    gone = replace(installation, store=type(installation.store)(_broken_engine()))
    with TestClient(create_app(gone)) as test_client:
        answer = test_client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "database-unavailable"
    assert answer.json()["error"]["retryable"] is True


def test_readiness_fails_when_the_job_runner_stopped(installed: Installed) -> None:
    installation, _ = installed
    app = create_app(installation, workers=1)
    with TestClient(app) as test_client:
        assert test_client.get("/readyz").json() == {"status": "ready"}
        app.state.builds.stop()
        answer = test_client.get("/readyz")
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert (error["code"], error["retryable"]) == ("jobs-not-running", True)
    assert error["message"] == "the job runner is stopped"
    fields = error["fields"]
    assert (fields["jobs"], fields["reason"]) == ("embedded", error["message"])
    assert (fields["threads"], fields["alive"]) == (2, 0)  # the worker and the heartbeat


def _broken_engine() -> Any:
    from sqlalchemy import create_engine

    return create_engine("postgresql+psycopg://nobody@/db?host=/nonexistent&port=1")


def test_a_missing_invalid_expired_or_revoked_token_is_401(
    client: TestClient, installed: Installed, clock: Clock
) -> None:
    installation, first = installed
    answer = client.get("/v1/starters")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["error"]["code"] == "token-missing"
    for header in ({"Authorization": "Basic eDp5"}, bearer("ctr_x"), bearer(first.token + "0")):
        assert client.get("/v1/starters", headers=header).status_code == 401
    answer = client.get("/v1/starters", headers=bearer("ctr_x"))
    assert answer.json()["error"]["hint"]  # every 401 and 403 says what to do, none is empty
    short = token_service.issue_token(installation, 1, "pull", expires_days=1)
    assert client.get("/v1/starters", headers=bearer(short.token)).status_code == 200
    clock.advance(days=1, seconds=1)
    answer = client.get("/v1/starters", headers=bearer(short.token))
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "token-expired")


def test_a_scope_too_low_is_403(client: TestClient, installed: Installed) -> None:
    installation, first = installed
    pull = token_service.issue_token(installation, 1, "pull").token
    for token in (pull, first.token):  # pull and write
        answer = client.get("/v1/tokens", headers=bearer(token))
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "scope-too-low")
        assert answer.json()["error"]["hint"] == "ask an admin for a token of scope admin"
    assert client.get("/v1/tokens", headers=bearer(admin_token(installation))).status_code == 200


def test_tokens_are_made_listed_without_secrets_and_revoked_at_once(
    client: TestClient, installed: Installed
) -> None:
    installation, _ = installed
    admin = bearer(admin_token(installation))
    made = client.post(
        "/v1/tokens", headers=admin, json={"scope": "pull", "expires_days": 30, "description": "ci"}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["token"].startswith(f"ctr_{body['id']}_")
    assert (body["scope"], body["description"], body["revoked"]) == ("pull", "ci", None)
    assert body["expires"] is not None

    listed = client.get("/v1/tokens", headers=admin)
    assert listed.status_code == 200
    assert "token" not in listed.text.replace('"tokens"', "")
    secret = body["token"].rsplit("_", 1)[1]
    assert secret not in listed.text
    assert body["id"] in {item["id"] for item in listed.json()["items"]}
    assert listed.json()["next"] is None
    one = client.get(f"/v1/tokens/{body['id']}", headers=admin).json()
    assert one == {k: v for k, v in body.items() if k != "token"}

    assert client.get("/v1/starters", headers=bearer(body["token"])).status_code == 200
    revoked = client.delete(f"/v1/tokens/{body['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is not None
    answer = client.get("/v1/starters", headers=bearer(body["token"]))
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "token-revoked")


def test_another_tenants_token_is_404(client: TestClient, installed: Installed) -> None:
    installation, _ = installed
    other = create_tenant(installation, "other")
    theirs = bearer(admin_token(installation, other.id))
    mine = token_service.issue_token(installation, 1, "pull")
    for method in ("GET", "DELETE"):
        answer = client.request(method, f"/v1/tokens/{mine.info.id}", headers=theirs)
        assert answer.status_code == 404, (method, answer.text)
        missing = client.request(method, f"/v1/tokens/{'0' * 16}", headers=theirs)
        # the same answer as for a token that does not exist, but for the id it names
        assert answer.json()["error"]["fields"] == {"token": mine.info.id}
        mentioned = answer.text.replace(mine.info.id, "0" * 16)
        assert (missing.status_code, missing.text) == (404, mentioned)
    listed = client.get("/v1/tokens?limit=500", headers=theirs).json()
    assert mine.info.id not in {item["id"] for item in listed["items"]}
    assert client.get("/v1/starters", headers=theirs).json() == {"items": [], "next": None}
    assert token_service.authenticate(installation, mine.token, "pull")  # still valid


def test_malformed_requests_are_422_with_every_violation(
    client: TestClient, installed: Installed
) -> None:
    installation, _ = installed
    admin = {**bearer(admin_token(installation)), "Content-Type": "application/json"}
    answer = client.post("/v1/tokens", headers=admin, content=b'{"scope": "pull",')
    assert answer.status_code == 422
    assert_errors(answer.json(), "body")
    for content in (b"\xff\xfe", b"\x147\xff", b"[]", b"null", b'"x"', b"1e999999"):
        answer = client.post("/v1/tokens", headers=admin, content=content)
        assert answer.status_code == 422, (content, answer.text)
        assert_errors(answer.json(), *[e["field"] for e in answer.json()["errors"]])

    answer = client.post(
        "/v1/tokens",
        headers=admin,
        json={"scope": "root", "expires_days": 0, "description": "d" * 201, "extra": 1},
    )
    assert answer.status_code == 422
    errors = assert_errors(answer.json(), "scope", "expires_days", "description", "extra")
    assert errors[0]["value"] == "root"

    answer = client.post("/v1/tokens", headers=admin, json={})
    assert_errors(answer.json(), "scope")
    # JSON's "\ud800" is a lone surrogate, which UTF-8 cannot encode: echoing it in the 422
    # raised while the answer was written (a 500); a newline or an RTL override was stored
    for description in ("\ud800", "a\nb", "a\u202eb"):
        content = json.dumps({"scope": "pull", "description": description})
        answer = client.post("/v1/tokens", headers=admin, content=content)
        assert answer.status_code == 422, (description, answer.text)
        (error,) = assert_errors(answer.json(), "description")
        assert error["value"] == description, error
        assert "one line" in error["rule"] or "unicode" in error["rule"], error
    content = json.dumps({"name": "ab", "starter": "nope\ud800", "description": "\udfff"})
    answer = client.post("/v1/images", headers=admin, content=content)
    assert answer.status_code == 422, answer.text
    assert {e["value"] for e in answer.json()["errors"]} >= {"nope\ud800", "\udfff"}
    for days in (True, "30", 30.5):  # true was taken for 1 day
        answer = client.post(
            "/v1/tokens", headers=admin, json={"scope": "pull", "expires_days": days}
        )
        assert answer.status_code == 422, (days, answer.text)
        assert_errors(answer.json(), "expires_days")
    for query in ("limit=0", "limit=501", "limit=x", "cursor=%FF", "cursor=" + "a" * 401):
        answer = client.get(f"/v1/tokens?{query}", headers=admin)
        assert answer.status_code == 422, (query, answer.text)
        assert len(answer.json()["errors"]) == 1
    answer = client.get("/v1/tokens?cursor=bm90IGEgY3Vyc29y", headers=admin)
    assert_errors(answer.json(), "cursor")
    assert client.get("/v1/tokens/%00", headers=admin).status_code == 404


def test_lists_page_with_limit_and_cursor(client: TestClient, installed: Installed) -> None:
    installation, _ = installed
    admin = bearer(admin_token(installation))
    for _ in range(4):
        token_service.issue_token(installation, 1, "pull")
    seen: list[str] = []
    url = "/v1/tokens?limit=2"
    while True:
        page = client.get(url, headers=admin).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        if page["next"] is None:
            break
        url = f"/v1/tokens?limit=2&cursor={page['next']}"
    assert len(seen) == len(set(seen)) == 6

    page = client.get("/v1/starters?limit=3", headers=admin).json()
    rest = client.get(f"/v1/starters?limit=500&cursor={page['next']}", headers=admin).json()
    names = [s["name"] for s in page["items"] + rest["items"]]
    assert names == sorted(names) and "python" in names and rest["next"] is None


def test_the_openapi_document_describes_the_422_shape(client: TestClient) -> None:
    document = client.get("/v1/openapi.json").json()
    assert {"/v1/starters", "/v1/starters/{starter}", "/v1/tokens", "/v1/tokens/{token_id}"} <= set(
        document["paths"]
    )
    unprocessable = document["paths"]["/v1/tokens"]["post"]["responses"]["422"]
    schema = unprocessable["content"]["application/json"]["schema"]["$ref"]
    assert schema.endswith("/ValidationErrors")
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert client.get("/v1/nothing").json()["error"]["code"] == "not-found"
    assert client.put("/healthz").status_code == 405


# -- starters over a fixture repository --------------------------------------------------------


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Path:
    root = tmp_path_factory.mktemp("api-repo") / "repo"
    return build_repo(root, STANZAS, key=signing_key, arch=("amd64",))


@pytest.fixture
def site(
    tmp_path: Path, repo: Path, signing_key: SigningKey, database_url: str, clock: Clock
) -> Iterator[Installation]:
    """An installation whose settings read the fixture repository and offer the site starter
    ``tiny`` beside the shipped ones."""
    settings = make_settings(
        tmp_path, repo, signing_key.keyring, RELEASES, architectures=("amd64",)
    )
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    settings = replace(settings, starters_dir=tmp_path / "site", database_url=database_url)
    installation, _ = open_installation(settings, clock=clock)
    try:
        yield installation
    finally:
        installation.close()


def test_a_starter_shows_its_lines_with_versions_and_the_newest_marked(
    site: Installation,
) -> None:
    other = create_tenant(site, "other")
    entitle(site, other.id, ["python"])
    with TestClient(create_app(site)) as client:
        mine = bearer(token_service.issue_token(site, 1, "pull").token)
        answer = client.get("/v1/starters/tiny", headers=mine)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["name"], body["newest"], body["architecture"]) == ("tiny", "2", "amd64")
        old, new = body["lines"]
        assert (old["label"], old["release"], old["full_version"]) == ("1", "oldrel", "1.4.2")
        assert (old["eol"], old["ended"], old["newest"]) == ("2020-01-01", True, False)
        assert (new["full_version"], new["newest"]) == ("2.1", True)

        answer = client.get("/v1/starters/tiny?arch=arm64", headers=mine)
        assert answer.status_code == 422
        assert_errors(answer.json(), "arch")

        theirs = bearer(token_service.issue_token(site, other.id, "pull").token)
        answer = client.get("/v1/starters/tiny", headers=theirs)
        assert answer.status_code == 404  # offered, but not to this tenant
        assert "tiny" not in answer.json()["error"]["hint"]
        answer = client.get("/v1/starters/pyton", headers=theirs)
        assert "did you mean python" in answer.json()["error"]["message"]
        listed = client.get("/v1/starters", headers=theirs).json()
        assert [s["name"] for s in listed["items"]] == ["python"]


# Path parameters that name a tenant's resource, and how to make one of tenant A's: every route
# of the OpenAPI document that takes one must answer 404 to tenant B. A new route with a new
# parameter fails here until its resource is added.
def _a_resource(installation: Installation, parameter: str) -> str:
    if parameter == "token_id":
        return token_service.issue_token(installation, 1, "pull").info.id
    if parameter == "starter":
        return "ruby"  # tenant 1 is entitled to every starter, tenant B only to python
    if parameter == "tenant":
        return "1"
    if parameter == "line":
        return "2"
    if parameter in ("name", "trace_id"):
        image, trace = _an_image(installation)
        return image if parameter == "name" else trace
    if parameter == "bundle":
        if not bundle_service.bundle_names(installation.settings, 1):
            conf = installation.settings.data_dir / "app.conf"
            conf.write_text("x=1\n")
            bundle_service.create_bundle(
                installation.settings, "app-conf", "files", [conf], "/etc/app", tenant=1
            )
        return "app-conf"
    if parameter == "version":
        return "1"
    if parameter == "destination":
        request = DestinationRequest("http://127.0.0.1:5000", username="u", password="p")
        return str(
            register_destination(
                installation, token_service.Principal(1, "test", "admin"), request
            )["id"]
        )
    if parameter == "action_id":
        return _an_action(installation)
    raise AssertionError(f"no resource of tenant A for the path parameter {parameter!r}")


def _an_action(installation: Installation) -> str:
    """Tenant 1's action ``isolated`` (an email action: registering it reaches nothing)."""
    owner = Principal(1, "test", "admin")
    listed, _ = action_service.action_page(installation, owner, 10, None)
    if not listed:
        body = {
            "name": "isolated",
            "events": ["image-deleted"],
            "then": {"kind": "email", "to": "ops@example.org"},
        }
        listed = [action_service.create_action(installation, owner, body)]
    return str(listed[0]["id"])


def _an_image(installation: Installation) -> tuple[str, str]:
    """Tenant 1's image ``isolated`` with a finished build (made in the database: a build
    would read Debian's mirror with these settings); its name and the build's trace id."""
    now = installation.clock()
    with installation.store.unit(write=True) as uow:
        images = TenantImages(uow.session, 1)
        image = images.image("isolated")
        if image is None:
            spec = {"name": "isolated", "starter": "python", "description": ""}
            image = images.add_image(
                Image(
                    tenant_id=1,
                    name="isolated",
                    starter="python",
                    description="",
                    spec=spec,
                    created_at=now,
                    updated_at=now,
                )
            )
            images.add_build(
                Build(
                    tenant_id=1,
                    image_id=image.id,
                    trace_id="f" * 32,
                    status="created",
                    trigger="create",
                    attempts=1,
                    spec=spec,
                    created_at=now,
                    started_at=now,
                    finished_at=now,
                )
            )
    return "isolated", "f" * 32


# Routes that make a new resource under a name the caller chooses: tenant B's request makes its
# own (tests/test_api_endpoints.py checks it), and tenant A's stays as it was.
_CREATES = {("post", "/v1/bundles/{bundle}")}


def test_every_route_taking_a_resource_of_tenant_a_is_404_to_tenant_b(
    client: TestClient, installed: Installed
) -> None:
    installation, _ = installed
    other = create_tenant(installation, "other")
    entitle(installation, other.id, ["python"])
    theirs = bearer(admin_token(installation, other.id))
    mine = bearer(admin_token(installation))
    document = client.get("/v1/openapi.json").json()
    checked = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            if not names:
                continue
            url = path
            for name in names:
                url = url.replace(f"{{{name}}}", _a_resource(installation, name))
            body = {} if "requestBody" in operation else None
            if method == "get" and "starter" not in names and "line" not in names:
                # tenant A reaches it (a starter's lines would read Debian's mirror here; a
                # line's SBOM needs a layout, which a build makes: tests/test_images_api.py)
                assert client.request(method, url, headers=mine).status_code == 200, url
            answer = client.request(method, url, headers=theirs, json=body)
            if (method, path) in _CREATES:
                assert answer.status_code != 404, (method, url, answer.text)
                continue
            assert answer.status_code == 404, (method, url, answer.text)
            checked.append((method, path))
    assert bundle_service.bundle_names(installation.settings, 1) == ["app-conf"]
    assert client.get("/v1/bundles/app-conf", headers=mine).status_code == 200
    assert ("get", "/v1/tokens/{token_id}") in checked
    assert ("delete", "/v1/bundles/{bundle}/{version}") in checked
    assert ("get", "/v1/starters/{starter}/lines/{line}/packages") in checked
    assert ("delete", "/v1/tokens/{token_id}") in checked
    assert ("get", "/v1/starters/{starter}") in checked
    for route in [
        ("get", "/v1/images/{tenant}/{name}"),
        ("put", "/v1/images/{tenant}/{name}"),
        ("delete", "/v1/images/{tenant}/{name}"),
        ("get", "/v1/images/{tenant}/{name}/spec"),
        ("get", "/v1/images/{tenant}/{name}/lines/{line}/sbom"),
        ("post", "/v1/images/{tenant}/{name}/builds"),
        ("get", "/v1/builds/{trace_id}"),
        ("get", "/v1/builds/{trace_id}/events"),
        ("get", "/v1/actions/{action_id}"),
        ("delete", "/v1/actions/{action_id}"),
        ("post", "/v1/actions/{action_id}/test"),
        ("get", "/v1/actions/{action_id}/deliveries"),
    ]:
        assert route in checked


def test_every_code_answers_the_http_status_docs_errors_md_gives_it() -> None:
    table = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
    documented = {
        code: status
        for code, status in re.findall(r"^\| `([a-z-]+)` \|.*\| (\d{3}|—) \|$", table, re.M)
    }
    assert set(documented) == {str(code) for code in Code}
    for code, status in HTTP_STATUS.items():
        expected = 500 if documented[str(code)] == "—" else int(documented[str(code)])
        assert status == expected, code


def test_a_database_locked_past_the_busy_timeout_is_503_and_nothing_is_half_written(
    tmp_path: Path,
) -> None:
    import sqlite3

    from couturier.store import open_store
    from tests.service import plain_settings

    settings = plain_settings(tmp_path)
    opened, _ = open_installation(settings)
    opened.close()
    installation = replace(opened, store=open_store(settings.database, busy_timeout_ms=100))
    admin = bearer(admin_token(installation))
    with TestClient(create_app(installation)) as client:
        before = len(client.get("/v1/tokens?limit=500", headers=admin).json()["items"])
    holder = sqlite3.connect(tmp_path / "data" / "couturier.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer (an admin command) holds the lock
        with TestClient(create_app(installation)) as client:
            answer = client.post("/v1/tokens", headers=admin, json={"scope": "pull"})
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "1"
            error = answer.json()["error"]
            assert (error["code"], error["retryable"]) == ("database-unavailable", True)
            assert client.get("/v1/tokens", headers=admin).status_code == 200  # reads go on
            holder.execute("ROLLBACK")
            assert (
                client.post("/v1/tokens", headers=admin, json={"scope": "pull"}).status_code == 201
            )
            listed = client.get("/v1/tokens?limit=500", headers=admin).json()["items"]
    finally:
        holder.close()
        installation.close()
    assert len(listed) == before + 1  # the retried one only
