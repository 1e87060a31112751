"""The API's plans, package families, a line's package set, bundles and metrics, in process, on
SQLite and on a real PostgreSQL, over test_plan's fixture repository (the ``tiny`` starter with
the ``tool-ext`` family: ``tool1-ext`` for line 1, ``tool2-ext`` for line 2). No network."""

from __future__ import annotations

import datetime as dt
import io
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from couturier.api.app import create_app
from couturier.api.bundles import MAX_UPLOAD_BYTES
from couturier.api.limits import MAX_BODY_BYTES
from couturier.services import tokens as token_service
from couturier.services.bundles import store_root
from couturier.services.context import build_context
from couturier.services.installation import Installation, create_tenant, entitle, open_installation
from couturier.services.plan import plan_image
from couturier.services.starters import get_starter
from couturier.store.models import Build, Image, Job
from tests.certs import Issued, key_pem, make_certificate
from tests.hostile import huge_tar, lying_zip
from tests.service import Clock
from tests.test_api import assert_errors, bearer
from tests.test_build import STARTER_DOC, settings_in
from tests.test_bundles import T, make_tar, make_zip
from tests.test_images_api import finished
from tests.test_plan import plan_repo  # noqa: F401 - the module's fixture repository

SPEC = {"name": "tiny-ext", "starter": "tiny", "packages": ["tool-ext-auto"]}


@pytest.fixture
def site(
    tmp_path: Path,
    plan_repo: Path,  # noqa: F811 - the fixture imported above
    signing_key: Any,
    database_url: str,
    clock: Clock,
) -> Iterator[Installation]:
    """An installation over the fixture repository, with the ``tiny`` site starter; tenant 1
    is entitled to every starter."""
    settings = settings_in(tmp_path / "env", plan_repo, signing_key)
    (tmp_path / "env" / "starters").mkdir()
    (tmp_path / "env" / "starters" / "tiny.yaml").write_text(yaml.safe_dump(STARTER_DOC))
    settings = replace(
        settings, starters_dir=tmp_path / "env" / "starters", database_url=database_url
    )
    installation, _ = open_installation(settings, clock=clock)
    try:
        yield installation
    finally:
        installation.close()


@pytest.fixture
def client(site: Installation) -> Iterator[TestClient]:
    with TestClient(create_app(site)) as test_client:
        yield test_client


def token(installation: Installation, scope: str = "pull", tenant: int = 1) -> dict[str, str]:
    return bearer(token_service.issue_token(installation, tenant, scope).token)


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_certificate("Corp Root CA")


# -- plans ----------------------------------------------------------------------------------------


def test_a_plan_is_the_clis_plan_and_a_pull_token_suffices(
    client: TestClient, site: Installation
) -> None:
    answer = client.post("/v1/plan", headers=token(site), json=SPEC)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    starter = get_starter(site.settings, "tiny")
    expected = plan_image(build_context(site.settings), "tiny-ext", starter, ["tool-ext-auto"])
    assert body == expected.to_json()
    autos = {line["version"]: line["autos"] for line in body["lines"]}
    assert autos == {"1": {"tool-ext-auto": "tool1-ext"}, "2": {"tool-ext-auto": "tool2-ext"}}
    assert client.post("/v1/plan?arch=arm64", headers=token(site), json=SPEC).status_code == 422


def test_a_plan_reports_every_violation_and_an_unentitled_starter_is_one(
    client: TestClient, site: Installation
) -> None:
    bad = {
        "name": "Bad Name",
        "starter": "tiny",
        "packages": ["nosuchpackage", "tool-auto"],
        "env": {"LANG": "x"},
        "bundles": ["corp-ca"],
        "colour": "blue",
    }
    answer = client.post("/v1/plan", headers=token(site), json=bad)
    assert answer.status_code == 422, answer.text
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["colour", "name", "env.LANG", "packages[0]", "packages[1]", "bundles[0]"]

    other = create_tenant(site, "other")
    entitle(site, other.id, ["python"])
    theirs = token(site, tenant=other.id)
    answer = client.post("/v1/plan", headers=theirs, json=SPEC)
    assert answer.status_code == 422
    errors = assert_errors(answer.json(), "starter")
    assert errors[0]["value"] == "tiny" and "tiny" not in errors[0]["rule"].split("(")[1]
    for malformed in (b"[]", b"{", b'"spec"'):
        answer = client.post(
            "/v1/plan",
            headers={**token(site), "Content-Type": "application/json"},
            content=malformed,
        )
        assert answer.status_code == 422, (malformed, answer.text)


# -- package families -----------------------------------------------------------------------------


def test_packages_are_searched_by_name_summary_or_version_grouped_by_family(
    client: TestClient, site: Installation
) -> None:
    mine = token(site)
    answer = client.get("/v1/packages?starter=tiny&q=ext", headers=mine)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["starter"], body["lines"], body["newest"]) == ("tiny", ["1", "2"], "2")
    family = {f["name"]: f for f in body["items"]}["tool-ext"]
    assert family["auto"] == "tool-ext-auto"
    assert family["description"].startswith("Universal package for tool-ext - ")
    assert family["members"]["1"]["name"] == "tool1-ext"
    assert family["members"]["2"] == {
        "name": "tool2-ext",
        "version": "2.0-1",
        "summary": "tool2-ext test package",
    }

    blocked = client.get("/v1/packages?starter=tiny&q=tool", headers=mine).json()
    tool = {f["name"]: f for f in blocked["items"]}["tool"]
    assert tool["auto"] is None
    assert "ships tool 2.1-1 on its newest line 2" in tool["blocked"]

    by_version = client.get("/v1/packages?starter=tiny&q=2.0-1", headers=mine).json()
    assert "tool-ext" in {f["name"] for f in by_version["items"]}
    by_summary = client.get("/v1/packages?starter=tiny&q=ext+test+package", headers=mine).json()
    assert "tool-ext" in {f["name"] for f in by_summary["items"]}

    first = client.get("/v1/packages?starter=tiny&q=tool&limit=1", headers=mine).json()
    assert len(first["items"]) == 1 and first["next"] is not None
    rest = client.get(
        f"/v1/packages?starter=tiny&q=tool&limit=500&cursor={first['next']}", headers=mine
    ).json()
    names = [f["name"] for f in first["items"] + rest["items"]]
    assert names == sorted(names) and len(names) == first["total"]


def test_packages_of_a_starter_the_tenant_lacks_are_404(
    client: TestClient, site: Installation
) -> None:
    other = create_tenant(site, "other")
    theirs = token(site, tenant=other.id)
    for url in ("/v1/packages?starter=tiny", "/v1/packages?starter=nope"):
        answer = client.get(url, headers=theirs)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "starter-not-found")
    assert client.get("/v1/packages", headers=theirs).status_code == 422


def test_a_starter_whose_releases_the_settings_lack_is_planned_and_searched_without_them(
    client: TestClient, site: Installation
) -> None:
    """Tenant 1 is entitled to every starter, python too, whose releases (bookworm, trixie,
    forky) these settings do not configure: each line is skipped with the reason, never a
    500."""
    spec = {"name": "py", "starter": "python", "packages": ["curl"]}
    answer = client.post("/v1/plan", headers=token(site), json=spec)
    assert answer.status_code == 200, answer.text
    lines = answer.json()["lines"]
    assert [(line["version"], line["status"]) for line in lines] == [
        ("3.11", "skipped"),
        ("3.13", "skipped"),
        ("3.14", "skipped"),
    ]
    reason = lines[0]["reason"]
    assert (reason["code"], reason["fields"]["release"]) == ("release-unknown", "bookworm")
    answer = client.get("/v1/packages?starter=python&q=curl", headers=token(site))
    assert answer.status_code == 200, answer.text
    assert (answer.json()["total"], answer.json()["items"]) == (0, [])


# -- a line's package set -------------------------------------------------------------------------


def test_a_lines_package_set_is_its_sbom_preview(client: TestClient, site: Installation) -> None:
    mine = token(site)
    answer = client.get("/v1/starters/tiny/lines/2/packages", headers=mine)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["release"], body["full_version"], body["status"]) == ("newrel", "2.1", "ready")
    assert body["architecture"] == "amd64" and body["newest"] is True
    packages = {p["name"]: p for p in body["packages"]}
    assert set(packages) == {"base-files", "libfoo", "tool"}
    assert packages["tool"]["purl"].startswith("pkg:deb/couturier-fixture/tool@2.1-1?arch=all")
    assert packages["libfoo"]["pulled_in_by"] == "tool"
    assert body["size"]["download"] == sum(p["size"] for p in body["packages"])

    # a shipped starter whose releases these settings do not configure: the line says why
    python = get_starter(site.settings, "python")
    label = python.lines[0].version
    answer = client.get(f"/v1/starters/python/lines/{label}/packages", headers=mine)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "skipped"
    assert answer.json()["reason"]["code"] == "release-unknown"

    answer = client.get("/v1/starters/tiny/lines/9/packages", headers=mine)
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "line-not-found")
    answer = client.get("/v1/starters/tiny/lines/2/packages?arch=arm64", headers=mine)
    assert_errors(answer.json(), "arch")
    other = create_tenant(site, "other")
    answer = client.get("/v1/starters/tiny/lines/2/packages", headers=token(site, tenant=other.id))
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "starter-not-found")


# -- bundles --------------------------------------------------------------------------------------


def upload(
    client: TestClient,
    headers: dict[str, str],
    name: str,
    files: list[tuple[str, bytes]],
    kind: str = "certificates",
    **fields: str,
) -> Any:
    return client.post(
        f"/v1/bundles/{name}",
        headers=headers,
        data={"type": kind, **fields},
        files=[("files", (filename, data)) for filename, data in files],
    )


def test_bundles_are_uploaded_listed_read_and_deleted_per_tenant(
    client: TestClient, site: Installation, ca: Issued
) -> None:
    writer = token(site, "write")
    made = upload(client, writer, "corp-ca", [("root.pem", ca.pem)])
    assert made.status_code == 201, made.text
    assert (made.json()["version"], made.json()["files"][0]["path"]) == (1, "root.crt")
    assert upload(client, writer, "corp-ca", [("root.pem", ca.pem)]).json()["version"] == 2
    conf = upload(
        client, writer, "app-conf", [("app.conf", b"x=1\n")], kind="files", target="/etc/app"
    )
    assert conf.status_code == 201, conf.text
    assert (store_root(site.settings, 1) / "corp-ca" / "2" / "bundle.json").is_file()
    assert store_root(site.settings, 1) == site.settings.data_dir / "tenants" / "1" / "bundles"

    reader = token(site)
    listed = client.get("/v1/bundles", headers=reader).json()
    assert [(b["name"], b["versions"], b["type"]) for b in listed["items"]] == [
        ("app-conf", [1], "files"),
        ("corp-ca", [1, 2], "certificates"),
    ]
    page = client.get("/v1/bundles?limit=1", headers=reader).json()
    assert [b["name"] for b in page["items"]] == ["app-conf"] and page["next"]
    one = client.get("/v1/bundles/corp-ca", headers=reader).json()
    assert [v["version"] for v in one["versions"]] == [1, 2]
    assert one["versions"][0]["damaged"] is None
    assert upload(client, reader, "corp-ca", [("root.pem", ca.pem)]).status_code == 403

    other = create_tenant(site, "other")
    entitle(site, other.id, ["tiny"])
    theirs = token(site, "write", tenant=other.id)
    assert client.get("/v1/bundles", headers=theirs).json() == {"items": [], "next": None}
    assert client.get("/v1/bundles/corp-ca", headers=theirs).status_code == 404
    assert client.delete("/v1/bundles/corp-ca/1", headers=theirs).status_code == 404
    # the same name is theirs to use: its own version 1, in its own store
    assert upload(client, theirs, "corp-ca", [("root.pem", ca.pem)]).json()["version"] == 1
    assert (store_root(site.settings, other.id) / "corp-ca" / "1").is_dir()
    # a plan of tenant B cannot name tenant A's other bundle
    spec = {**SPEC, "packages": [], "bundles": ["app-conf"]}
    answer = client.post("/v1/plan", headers=theirs, json=spec)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "bundles[0]"

    assert client.delete("/v1/bundles/corp-ca/1", headers=writer).status_code == 204
    assert client.delete("/v1/bundles/corp-ca/1", headers=writer).status_code == 404
    assert client.get("/v1/bundles/corp-ca", headers=reader).json()["versions"][0]["version"] == 2
    assert client.delete("/v1/bundles/corp-ca/2", headers=writer).status_code == 204
    assert client.get("/v1/bundles/corp-ca", headers=reader).status_code == 404
    # numbers are never given again
    assert upload(client, writer, "corp-ca", [("root.pem", ca.pem)]).json()["version"] == 3
    assert client.get("/v1/bundles/corp-ca", headers=theirs).json()["versions"][0]["version"] == 1


def _add_image(site: Installation, tenant: int, name: str, bundles: list[str]) -> None:
    now = dt.datetime.now(dt.UTC)
    spec = {"name": name, "starter": "tiny", "bundles": bundles}
    with site.store.unit(write=True) as uow:
        uow.session.add(
            Image(
                tenant_id=tenant,
                name=name,
                starter="tiny",
                description="",
                spec=spec,
                created_at=now,
                updated_at=now,
            )
        )


def test_a_bundle_version_an_image_uses_cannot_be_deleted(
    client: TestClient, site: Installation, ca: Issued
) -> None:
    writer = token(site, "write")
    for _ in range(3):
        assert upload(client, writer, "corp-ca", [("root.pem", ca.pem)]).status_code == 201
    _add_image(site, 1, "pinned", ["corp-ca@1"])
    _add_image(site, 1, "newest", ["corp-ca"])
    other = create_tenant(site, "other")
    _add_image(site, other.id, "theirs", ["corp-ca@2"])  # another tenant's: not a user
    versions = client.get("/v1/bundles/corp-ca", headers=writer).json()["versions"]
    assert [v["used_by"] for v in versions] == [["pinned"], [], ["newest"]]

    answer = client.delete("/v1/bundles/corp-ca/1", headers=writer)
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["fields"]["images"]) == ("bundle-in-use", ["pinned"])
    answer = client.delete("/v1/bundles/corp-ca/3", headers=writer)
    assert answer.json()["error"]["fields"]["images"] == ["newest"]
    assert client.delete("/v1/bundles/corp-ca/2", headers=writer).status_code == 204
    versions = client.get("/v1/bundles/corp-ca", headers=writer).json()["versions"]
    assert [v["version"] for v in versions] == [1, 3]


# -- hostile uploads ------------------------------------------------------------------------------


def _nothing_stored(site: Installation) -> None:
    root = store_root(site.settings, 1)
    leftovers = [p for p in root.rglob("*") if p.is_file() and p.name != ".lock"]
    assert leftovers == [], leftovers


def test_hostile_uploads_are_refused_and_store_nothing(
    client: TestClient, site: Installation, ca: Issued, tmp_path: Path
) -> None:
    writer = token(site, "write")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(3):
            archive.writestr(f"zero{number}.bin", b"\0" * (20 * 1024 * 1024))
    gzip_bomb = io.BytesIO()
    with tarfile.open(fileobj=gzip_bomb, mode="w:gz") as tar:
        info = tarfile.TarInfo("zero.bin")
        info.size = 100 * 1024 * 1024  # 100 MiB of zeros: about 100 KiB compressed
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    lying = lying_zip(tmp_path / "lying.zip")  # 1 GiB of zeros its headers call 10 bytes
    xz_bomb = huge_tar(tmp_path / "huge.tar.xz")  # one member of 16 GiB of zeros, ~4 MiB
    many = make_zip(tmp_path / "many.zip", [(f"f{n}", b"x", 0) for n in range(1500)])
    traversal = make_tar(tmp_path / "up.tar", [T("../../etc/cron.d/evil", data=b"x")])
    cases: list[tuple[str, list[tuple[str, bytes]], str]] = [
        ("zip bomb", [("bomb.zip", bomb.getvalue())], "bomb.zip"),
        ("gzip bomb", [("bomb.tar.gz", gzip_bomb.getvalue())], "bomb.tar.gz"),
        ("a zip lying about its size", [("lying.zip", lying.read_bytes())], "lying.zip"),
        ("xz bomb", [("huge.tar.xz", xz_bomb.read_bytes())], "huge.tar.xz"),
        ("too many entries", [("many.zip", many.read_bytes())], "many.zip"),
        (
            "traversal in a tar",
            [("up.tar", traversal.read_bytes())],
            "up.tar:../../etc/cron.d/evil",
        ),
        ("traversal in a name", [("../evil.pem", ca.pem)], "files"),
        ("backslash in a name", [("..\\evil.pem", ca.pem)], "files"),
        ("private key", [("key.pem", key_pem(ca))], "key.pem"),
        ("a file over 1 MiB", [("big.conf", b"x" * (1024 * 1024 + 1))], "big.conf"),
        ("one name twice", [("a.conf", b"1"), ("a.conf", b"2")], "a.conf"),
    ]
    for what, files, field in cases:
        kind = "certificates" if what in ("private key", "traversal in a name") else "files"
        target = {"target": "/etc/app"} if kind == "files" else {}
        answer = upload(client, writer, "app", files, kind=kind, **target)
        assert answer.status_code == 422, (what, answer.text)
        fields = [e["field"] for e in answer.json()["errors"]]
        assert any(f.startswith(field) for f in fields), (what, fields)
        assert "/tmp" not in answer.text and "couturier-upload" not in answer.text, what
        _nothing_stored(site)

    too_many = [(f"c{n}.pem", ca.pem) for n in range(21)]
    answer = upload(client, writer, "app", too_many)
    assert answer.status_code == 422, answer.text
    for name in ("Bad_Name", "a" * 41):
        answer = upload(client, writer, name, [("root.pem", ca.pem)])
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "name"
    answer = client.post("/v1/bundles/app", headers=writer, data={"type": "files"})
    assert {e["field"] for e in answer.json()["errors"]} >= {"files"}
    answer = client.post("/v1/bundles/app", headers=writer, json={"type": "files"})
    assert answer.status_code == 422
    _nothing_stored(site)


def test_an_upload_over_the_limit_is_413_before_it_is_read(
    client: TestClient, site: Installation
) -> None:
    writer = token(site, "write")
    big = b"x" * (MAX_UPLOAD_BYTES + 1)
    answer = upload(client, writer, "app", [("big.bin", big)], kind="files", target="/etc/app")
    assert answer.status_code == 413, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["fields"]["limit"]) == ("upload-too-large", MAX_UPLOAD_BYTES)

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(40):
            yield b"y" * (1024 * 1024)

    answer = client.post(
        "/v1/bundles/app",
        headers={**writer, "Content-Type": "multipart/form-data; boundary=x"},
        content=chunks(),
    )
    assert answer.status_code == 413, answer.text
    _nothing_stored(site)


def test_every_other_body_is_bounded_too(client: TestClient, site: Installation) -> None:
    mine = {**token(site, "admin"), "Content-Type": "application/json"}
    huge = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'
    for url in ("/v1/plan", "/v1/tokens"):
        answer = client.post(url, headers=mine, content=huge)
        assert answer.status_code == 413, (url, answer.text)
        assert answer.json()["error"]["fields"]["limit"] == MAX_BODY_BYTES

        def chunks() -> Iterator[bytes]:
            yield b'{"name": "'
            for _ in range(3):
                yield b"x" * (MAX_BODY_BYTES // 2)

        answer = client.post(url, headers=mine, content=chunks())
        assert answer.status_code == 413, (url, answer.text)
        assert answer.json()["error"]["code"] == "upload-too-large"
    assert client.post("/v1/plan", headers=mine, json=SPEC).status_code == 200


def test_a_20_mb_image_spec_is_413_and_stores_nothing(
    client: TestClient, site: Installation
) -> None:
    writer = {**token(site, "write"), "Content-Type": "application/json"}
    filler = "x" * (20 * 1024 * 1024)
    huge = ('{"name": "huge", "starter": "tiny", "description": "' + filler + '"}').encode()
    answer = client.post("/v1/images", headers=writer, content=huge)
    assert answer.status_code == 413, answer.text[:500]
    assert answer.json()["error"]["fields"]["limit"] == MAX_BODY_BYTES
    with site.store.unit() as uow:
        assert uow.session.query(Image).count() == 0
        assert uow.session.query(Build).count() == 0
        assert uow.session.query(Job).count() == 0


def test_a_json_body_sent_without_its_content_type_is_a_clear_422(
    client: TestClient, site: Installation
) -> None:
    """Without Content-Type: application/json the body reached pydantic as bytes: a 422
    echoing Python's b'{...}' and "Input should be a valid dictionary"."""
    import json

    writer = token(site, "write")
    body = json.dumps({**SPEC, "name": "no-type"}).encode()
    for sent, said in ((None, "without a Content-Type"), ("text/plain", "as text/plain")):
        headers = writer if sent is None else {**writer, "Content-Type": sent}
        answer = client.post("/v1/images", headers=headers, content=body)
        assert answer.status_code == 422, answer.text
        (error,) = answer.json()["errors"]
        assert error["field"] == "body" and error["value"] is None
        assert "Content-Type: application/json" in error["rule"] and said in error["rule"]
        assert "b'" not in answer.text and "valid dictionary" not in answer.text
    with site.store.unit() as uow:
        assert uow.session.query(Image).count() == 0
    typed = {**writer, "Content-Type": "application/json"}
    assert client.post("/v1/images", headers=typed, content=body).status_code == 202


def test_a_json_body_nested_thousands_deep_is_told_so_not_that_it_is_not_utf8(
    client: TestClient, site: Installation
) -> None:
    headers = {**token(site, "write"), "Content-Type": "application/json"}
    body = b'{"name": "deep", "starter": "python", "packages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    answer = client.post("/v1/images", headers=headers, content=body)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "body" and "nested" in error["rule"]
    assert "UTF-8" not in error["rule"]
    latin1 = client.post(
        "/v1/images", headers=headers, content='{"name": "\xe9"}'.encode("latin-1")
    )
    assert latin1.json()["errors"][0]["rule"] == "must be a JSON document in UTF-8"


def test_a_json_body_with_a_key_written_twice_is_refused_and_makes_nothing(
    client: TestClient, site: Installation
) -> None:
    headers = {**token(site, "write"), "Content-Type": "application/json"}
    body = b'{"name": "first", "starter": "python", "name": "second"}'
    answer = client.post("/v1/images", headers=headers, content=body)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "name" and "more than once" in error["rule"]
    nested = b'{"name": "nested", "starter": "python", "env": {"A": "1", "A": "2"}}'
    assert (
        client.post("/v1/images", headers=headers, content=nested).json()["errors"][0]["field"]
        == "A"
    )
    with site.store.unit() as uow:
        assert uow.session.query(Image).count() == 0
    once = b'{"name": "once", "starter": "python", "env": {"A": "1"}}'
    assert client.post("/v1/images", headers=headers, content=once).status_code == 202


def test_a_query_parameter_given_twice_is_refused_naming_it(
    client: TestClient, site: Installation
) -> None:
    headers = token(site, "write")
    spec = {"name": "twice", "starter": "python"}
    answer = client.post("/v1/plan?arch=amd64&arch=arm64", headers=headers, json=spec)
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "arch" and "more than once" in error["rule"]
    listed = client.get("/v1/images?limit=5&limit=6", headers=headers)
    assert listed.status_code == 422 and listed.json()["errors"][0]["field"] == "limit"
    # Different names are no repetition: each is checked as before.
    blank = client.get("/v1/images?limit=5&cursor=", headers=headers)
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "cursor"
    assert client.get("/v1/images?limit=5", headers=headers).status_code == 200
    # The registry's token endpoint takes scope more than once (outside /v1).
    assert client.get("/v2/token?scope=a&scope=b").status_code == 401


# -- metrics --------------------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template_and_builds_and_jobs(
    client: TestClient, site: Installation
) -> None:
    client.get("/v1/bundles/some-name", headers=token(site))
    client.get("/no/such/path")
    now = dt.datetime.now(dt.UTC)
    _add_image(site, 1, "img", [])
    with site.store.unit(write=True) as uow:
        image = uow.session.query(Image).one()
        for number, status in enumerate(("created", "created", "in progress")):
            build = Build(
                tenant_id=1,
                image_id=image.id,
                trace_id=f"{number:032x}",
                status=status,
                trigger="create",
                attempts=1,
                spec={},
                created_at=now,
            )
            uow.session.add(build)
        uow.session.add(
            Job(kind="build", state="queued", attempts=0, payload={}, created_at=now, run_after=now)
        )
    answer = client.get("/metrics")  # no token
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert (
        'couturier_http_requests_total{method="GET",route="/v1/bundles/{bundle}",status="404"} 1.0'
        in text
    )
    assert 'route="unmatched"' in text and "some-name" not in text
    assert "couturier_http_request_duration_seconds_bucket" in text
    assert 'couturier_builds{status="created"} 2.0' in text
    assert 'couturier_builds{status="in progress"} 1.0' in text
    assert 'couturier_jobs{state="queued"} 1.0' in text
    assert "couturier_database_up 1.0" in text
    # each application counts on its own registry
    with TestClient(create_app(site)) as fresh:
        assert "some-name" not in fresh.get("/metrics").text
        assert 'route="/v1/bundles/{bundle}"' not in fresh.get("/metrics").text


def test_metrics_say_when_the_database_is_down(site: Installation) -> None:
    from sqlalchemy import create_engine

    broken = create_engine("postgresql+psycopg://nobody@/db?host=/nonexistent&port=1")
    gone = replace(site, store=type(site.store)(broken))
    with TestClient(create_app(gone)) as client:
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert "couturier_database_up 0.0" in answer.text
    assert "couturier_builds{" not in answer.text


def test_the_directory_of_a_tenants_bundles_is_named_by_its_id(site: Installation) -> None:
    with pytest.raises(ValueError):
        store_root(site.settings, 0)
    with pytest.raises(ValueError):
        store_root(site.settings, "../1")  # type: ignore[arg-type]
    assert store_root(site.settings) == site.settings.data_dir / "bundles"
    assert os.path.basename(store_root(site.settings, 7).parent) == "7"


def test_an_image_is_built_with_its_tenants_bundle_which_is_then_in_use(
    site: Installation,
) -> None:
    """A private image names a bundle of its tenant's own store: the spec is checked there,
    the build reads it from there, and the version cannot be deleted while the image uses it;
    another tenant naming a bundle of that name it does not have is refused."""
    with TestClient(create_app(site, workers=1)) as client:
        writer = token(site, "write")
        made = upload(
            client, writer, "app-conf", [("app.conf", b"x=1\n")], kind="files", target="/etc/app"
        )
        assert made.status_code == 201, made.text
        spec = {"name": "with-conf", "starter": "tiny", "bundles": ["app-conf"]}
        answer = client.post("/v1/images", headers=writer, json=spec)
        assert answer.status_code == 202, answer.text
        build = finished(client, writer, answer.json()["build"]["trace_id"])
        assert {line["status"] for line in build["lines"]} == {"created"}, build

        answer = client.delete("/v1/bundles/app-conf/1", headers=writer)
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["fields"]["images"] == ["with-conf"]

        other = create_tenant(site, "other")
        entitle(site, other.id, ["tiny"])
        answer = client.post("/v1/images", headers=token(site, "write", other.id), json=spec)
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == ["bundles[0]"]

        assert client.delete("/v1/images/1/with-conf", headers=writer).status_code == 204
        assert client.delete("/v1/bundles/app-conf/1", headers=writer).status_code == 204


def test_a_name_in_a_path_is_escaped_in_messages(client: TestClient, site: Installation) -> None:
    writer = token(site, "write")
    for method, url in (
        ("GET", "/v1/bundles/a%E2%80%AEb"),
        ("DELETE", "/v1/bundles/a%E2%80%AEb/1"),
    ):
        answer = client.request(method, url, headers=writer)
        assert answer.status_code == 404, answer.text
        message = answer.json()["error"]["message"]
        assert "\u202e" not in message and "\\u202e" in message, message
