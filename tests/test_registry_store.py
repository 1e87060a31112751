"""The registry sink and reader over a real database (SQLite, and PostgreSQL with the
``postgres`` marker) and the local blob store: one transaction per build's publication,
tenants see only their own repositories and the starters they are entitled to, timestamp tags
never move, and the mutable tags' history is kept."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from couturier.cli.main import main
from couturier.core.tags import timestamp_tag
from couturier.errors import Code, ConfigError, IntegrityError, NotFoundError
from couturier.oci.documents import SPDX_MEDIA_TYPE, Platform, RuntimeConfig
from couturier.oci.layer import Layer, sha256_digest
from couturier.oci.sink import ImageWriter, write_image, write_referrer
from couturier.services.gc import collect_garbage
from couturier.services.installation import FirstStart, Installation, create_tenant
from couturier.services.registry_sink import (
    installation_blobs,
    registry_sink,
    starter_repository,
)
from couturier.services.registry_store import registry_reader
from couturier.settings import load_settings
from couturier.store.models import Build, Image
from couturier.store.registry import RegistryManifest, RegistryRecords
from tests.service import Clock

REPOSITORY = "1/my-tool"
AMD64 = Platform.for_debian("amd64")


def layer(text: str) -> Layer:
    data = text.encode()
    return Layer(sha256_digest(data), sha256_digest(data + b"tar"), len(data), data=data)


def publish_line(
    writer: ImageWriter, label: str, version: str, layers: list[Layer], tags: list[str]
) -> dict[str, str]:
    """Store one line's image (with an SPDX referrer) and tag it; published tag names."""
    manifest = write_image(
        writer,
        AMD64,
        layers,
        runtime=RuntimeConfig(),
        source_date_epoch=0,
        annotations={"io.couturier.line": label, "org.opencontainers.image.version": version},
    )
    write_referrer(
        writer, manifest, SPDX_MEDIA_TYPE, b'{"spdxVersion": "SPDX-2.3"}', SPDX_MEDIA_TYPE
    )
    return {tag: writer.tag(tag, manifest) for tag in tags}


def test_a_commit_publishes_everything_at_once_and_only_to_its_tenant(
    installed: tuple[Installation, FirstStart],
) -> None:
    installation, _ = installed
    other = create_tenant(installation, "other").id
    reader = registry_reader(installation)
    shared = layer("base files")
    writer = registry_sink(installation, REPOSITORY, trace_id="t1").writer(lambda m: None)
    publish_line(writer, "2", "2.1", [shared, layer("tool 2.1")], ["2.1", "2", "latest"])
    # Stored but not published: nothing is visible before the commit.
    assert reader.tags(1, REPOSITORY) is None and not reader.repository_exists(1, REPOSITORY)
    assert reader.blob(1, REPOSITORY, shared.digest) is None
    writer.commit()

    assert reader.repository_exists(1, REPOSITORY)
    assert reader.tags(1, REPOSITORY) == ["2", "2.1", "latest"]
    stored = reader.manifest(1, REPOSITORY, "latest")
    assert stored is not None and reader.manifest(1, REPOSITORY, stored.digest) == stored
    body = json.loads(stored.content)
    assert sha256_digest(stored.content) == stored.digest
    location = reader.blob(1, REPOSITORY, body["layers"][0]["digest"])
    assert location is not None and location.path.read_bytes() == b"base files"
    assert reader.blob(1, REPOSITORY, body["config"]["digest"]) is not None
    (sbom,) = reader.referrers(1, REPOSITORY, stored.digest) or []
    assert sbom["artifactType"] == SPDX_MEDIA_TYPE
    assert reader.referrers(1, REPOSITORY, stored.digest, "application/other") == []
    spdx = reader.manifest(1, REPOSITORY, sbom["digest"])
    assert spdx is not None and json.loads(spdx.content)["subject"]["digest"] == stored.digest

    # Another tenant: as if the repository did not exist, blobs and referrers included.
    assert not reader.repository_exists(other, REPOSITORY)
    assert reader.manifest(other, REPOSITORY, "latest") is None
    assert reader.manifest(other, REPOSITORY, stored.digest) is None
    assert reader.blob(other, REPOSITORY, shared.digest) is None
    assert reader.tags(other, REPOSITORY) is None
    assert reader.referrers(other, REPOSITORY, stored.digest) is None
    assert reader.tags(1, "1/other") is None and reader.tags(1, "1/my-tool/x") is None
    # A blob is served only through a repository whose manifests reference it.
    assert reader.blob(1, REPOSITORY, sha256_digest(b"unknown")) is None
    assert reader.blob(1, REPOSITORY, "sha256:../../x") is None


def test_starters_are_read_by_the_tenants_entitled_to_them(
    installed: tuple[Installation, FirstStart],
) -> None:
    installation, _ = installed
    other = create_tenant(installation, "other").id
    repository = starter_repository("python")
    with registry_sink(installation, repository, trace_id="s").writer(lambda m: None) as writer:
        publish_line(writer, "3.13", "3.13.5", [layer("python")], ["3.13", "latest"])
    reader = registry_reader(installation)
    assert reader.tags(1, repository) == ["3.13", "latest"]  # tenant 1: every starter
    assert (
        reader.tags(other, repository) is None
        and reader.manifest(other, repository, "3.13") is None
    )


def test_an_abort_or_a_deleted_image_publishes_nothing(
    installed: tuple[Installation, FirstStart],
) -> None:
    installation, _ = installed
    writer = registry_sink(installation, REPOSITORY, trace_id="a").writer(lambda m: None)
    publish_line(writer, "2", "2.1", [layer("tool")], ["2.1"])
    writer.abort()
    writer.abort()
    refused = registry_sink(installation, REPOSITORY, trace_id="b", guard=lambda uow: False)
    writer = refused.writer(lambda m: None)
    publish_line(writer, "2", "2.1", [layer("tool")], ["2.1"])
    with pytest.raises(NotFoundError) as caught:
        writer.commit()
    assert caught.value.code is Code.IMAGE_NOT_FOUND
    with installation.store.unit() as uow:
        assert uow.session.scalar(select(func.count()).select_from(RegistryManifest)) == 0
    assert registry_reader(installation).tags(1, REPOSITORY) is None


def test_timestamp_tags_never_move_and_only_the_newest_are_kept(
    installed: tuple[Installation, FirstStart], clock: Clock
) -> None:
    installation, _ = installed
    stamp = timestamp_tag("2.1", clock())
    reader = registry_reader(installation)
    published = []
    for n in range(4):  # four builds in the same second: -2, -3, -4
        sink = registry_sink(installation, REPOSITORY, trace_id=f"t{n}")
        with sink.writer(lambda m: None) as writer:
            published.append(publish_line(writer, "2", "2.1", [layer(f"v{n}")], [stamp])[stamp])
    assert published == [stamp, f"{stamp}-2", f"{stamp}-3", f"{stamp}-4"]
    first = reader.manifest(1, REPOSITORY, stamp)
    assert first is not None
    assert json.loads(first.content)["layers"][0]["digest"] == sha256_digest(b"v0")
    # The same digest again keeps its tag (no suffix).
    with registry_sink(installation, REPOSITORY, trace_id="again").writer(lambda m: None) as w:
        assert publish_line(w, "2", "2.1", [layer("v0")], [stamp]) == {stamp: stamp}

    kept = registry_sink(installation, REPOSITORY, trace_id="k")
    kept = replace(kept, keep=2)
    clock.advance(seconds=1)
    newest = timestamp_tag("2.1", clock())
    with kept.writer(lambda m: None) as writer:
        publish_line(writer, "2", "2.1", [layer("v9")], [newest])
    assert reader.tags(1, REPOSITORY) == [f"{stamp}-4", newest]


def test_the_history_of_mutable_tags_after_three_builds(
    installed: tuple[Installation, FirstStart], clock: Clock
) -> None:
    installation, _ = installed
    starts = []
    for n, trace in enumerate(["a" * 32, "b" * 32, "c" * 32]):
        starts.append(clock())
        with registry_sink(installation, REPOSITORY, trace_id=trace).writer(lambda m: None) as w:
            # the third build makes the same image as the second: latest does not move
            publish_line(w, "2", "2.1", [layer(f"v{min(n, 1)}")], ["latest"])
        clock.advance(hours=1)
    with installation.store.unit() as uow:
        events = RegistryRecords(uow.session).tag_events(REPOSITORY, 10)
        history = [(e.tag, e.since, e.until, e.trace_id) for e in events]
    assert history == [
        ("latest", starts[1], None, "b" * 32),
        ("latest", starts[0], starts[1], "a" * 32),
    ]


def test_a_damaged_blob_is_not_served(installed: tuple[Installation, FirstStart]) -> None:
    installation, _ = installed
    base = layer("base files")
    with registry_sink(installation, REPOSITORY, trace_id="d").writer(lambda m: None) as writer:
        publish_line(writer, "2", "2.1", [base], ["2.1"])
    path = installation_blobs(installation.settings).path(base.digest)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(b"base fileZ")
    with pytest.raises(IntegrityError) as caught:
        registry_reader(installation).blob(1, REPOSITORY, base.digest)
    assert caught.value.code is Code.BLOB_DAMAGED


def test_a_referenced_blob_missing_from_the_store_is_damaged_not_unknown(
    installed: tuple[Installation, FirstStart],
) -> None:
    installation, _ = installed
    base = layer("base files")
    with registry_sink(installation, REPOSITORY, trace_id="m").writer(lambda m: None) as writer:
        publish_line(writer, "2", "2.1", [base], ["2.1"])
    blobs = installation_blobs(installation.settings)
    reader = registry_reader(installation)
    manifest = reader.manifest(1, REPOSITORY, "2.1")
    assert manifest is not None
    for digest, read in (
        (base.digest, lambda: reader.blob(1, REPOSITORY, base.digest)),
        (manifest.digest, lambda: reader.manifest(1, REPOSITORY, "2.1")),
    ):
        assert blobs.delete(digest)
        with pytest.raises(IntegrityError) as caught:
            read()
        assert caught.value.code is Code.BLOB_DAMAGED
        assert caught.value.fields["problem"] == "missing"
    assert reader.blob(1, REPOSITORY, f"sha256:{'0' * 64}") is None


def test_gc_after_delete_frees_only_that_images_blobs_and_keeps_shared_starter_layers(
    installed: tuple[Installation, FirstStart],
) -> None:
    installation, _ = installed
    base, own, other = layer("starter base"), layer("only in a"), layer("only in b")
    for repository, layers in (
        (starter_repository("python"), [base]),
        ("1/a", [base, own]),
        ("1/b", [base, other]),
    ):
        with registry_sink(installation, repository, trace_id="g").writer(lambda m: None) as w:
            publish_line(w, "2", "2.1", layers, ["latest"])
    reader = registry_reader(installation)
    a_manifest = reader.manifest(1, "1/a", "latest")
    assert a_manifest is not None
    blobs = installation_blobs(installation.settings)
    stray = b"stored by a build that has not committed yet"
    blobs.put_bytes(sha256_digest(stray), stray)

    first = collect_garbage(installation, grace=dt.timedelta(0))  # nothing deleted yet
    assert first.removed == 1 and not blobs.has(sha256_digest(stray))  # only the stray
    with installation.store.unit(write=True) as uow:
        RegistryRecords(uow.session).remove_repository("1/a")
    assert reader.manifest(1, "1/a", "latest") is None  # gone from the registry at once
    assert blobs.has(own.digest)  # the bytes wait for the collection

    blobs.put_bytes(sha256_digest(stray), stray)
    young = collect_garbage(installation)  # default grace: a just stored blob is spared
    assert young.removed == 0 and young.spared >= 2 and blobs.has(own.digest)
    summary = collect_garbage(installation, grace=dt.timedelta(0))
    assert not blobs.has(own.digest) and not blobs.has(a_manifest.digest)
    assert summary.removed >= 2 and summary.freed >= own.size
    for kept in (base.digest, other.digest):
        assert blobs.has(kept)
    for repository in (starter_repository("python"), "1/b"):
        stored = reader.manifest(1, repository, "latest")
        assert stored is not None
        for item in json.loads(stored.content)["layers"]:
            assert reader.blob(1, repository, item["digest"]) is not None


def test_gc_spares_the_blobs_of_a_running_build(
    installed: tuple[Installation, FirstStart],
) -> None:
    installation, _ = installed
    with installation.store.unit(write=True) as uow:
        image = Image(
            tenant_id=1,
            name="x",
            starter="python",
            spec={},
            created_at=dt.datetime.now(dt.UTC),
            updated_at=dt.datetime.now(dt.UTC),
        )
        uow.session.add(image)
        uow.session.flush()
        started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        uow.session.add(
            Build(
                tenant_id=1,
                image_id=image.id,
                trace_id="r" * 32,
                status="in progress",
                trigger="create",
                spec={},
                created_at=started,
                started_at=started,
            )
        )
    blobs = installation_blobs(installation.settings)
    data = b"a layer of the running build"
    blobs.put_bytes(sha256_digest(data), data)
    summary = collect_garbage(installation, grace=dt.timedelta(0))
    assert summary.spared == 1 and blobs.has(sha256_digest(data))


def test_timestamp_tags_kept_is_a_setting_of_at_least_one(tmp_path: Path) -> None:
    env = {"COUTURIER_DATA_DIR": str(tmp_path / "d"), "COUTURIER_CACHE_DIR": str(tmp_path / "c")}
    assert load_settings(None, env=env).timestamp_tags_kept == 30
    path = tmp_path / "couturier.yaml"
    path.write_text("timestamp_tags_kept: 5\n")
    assert load_settings(path, env=env).timestamp_tags_kept == 5
    for bad in ("0", "-1", "many", "2.5"):
        path.write_text(f"timestamp_tags_kept: {bad}\n")
        with pytest.raises(ConfigError) as caught:
            load_settings(path, env=env)
        assert "timestamp_tags_kept" in str(caught.value) and "\n" not in str(caught.value)


def test_gc_removes_manifests_no_tag_reaches_any_more_with_their_sboms_and_blobs(
    installed: tuple[Installation, FirstStart], clock: Clock
) -> None:
    installation, _ = installed
    sink = replace(registry_sink(installation, REPOSITORY, trace_id="m"), keep=1)
    digests = []
    for n in range(2):  # the second build's timestamp tag pushes the first's out (keep=1)
        with sink.writer(lambda m: None) as writer:
            stamp = timestamp_tag("2.1", clock())
            publish_line(writer, "2", "2.1", [layer("base"), layer(f"v{n}")], ["latest", stamp])
        stored = registry_reader(installation).manifest(1, REPOSITORY, "latest")
        assert stored is not None
        digests.append(stored.digest)
        clock.advance(minutes=1)
    reader = registry_reader(installation)
    (old_sbom,) = reader.referrers(1, REPOSITORY, digests[0]) or []
    # Published less than the grace ago: kept.
    assert collect_garbage(installation).manifests == 0
    assert reader.manifest(1, REPOSITORY, digests[0]) is not None

    clock.advance(hours=1)
    summary = collect_garbage(installation, grace=dt.timedelta(0))
    assert summary.manifests == 2  # the first image manifest and its SBOM
    blobs = installation_blobs(installation.settings)
    for gone in (digests[0], old_sbom["digest"], layer("v0").digest):
        assert reader.manifest(1, REPOSITORY, gone) is None and not blobs.has(gone)
    current = reader.manifest(1, REPOSITORY, "latest")
    assert current is not None and current.digest == digests[1]
    assert reader.referrers(1, REPOSITORY, digests[1])
    for kept in (layer("base").digest, layer("v1").digest):
        assert reader.blob(1, REPOSITORY, kept) is not None


def test_admin_gc_says_what_it_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COUTURIER_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["admin", "gc", "--json"]) == 0  # the first use sets the installation up
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "manifests": 0,
        "removed": 0,
        "freed": 0,
        "kept": 0,
        "spared": 0,
    }
    assert "first start" in captured.err
    assert main(["admin", "gc"]) == 0
    assert capsys.readouterr().out.startswith("removed 0 manifests no tag reaches and 0 blobs")
    # A blob no manifest references, stored just now: spared for the grace period, which the
    # line names (no build runs, so "of running builds" would send the reader looking for one).
    settings = load_settings(env={"COUTURIER_DATA_DIR": str(tmp_path / "data")})
    installation_blobs(settings).put_bytes(sha256_digest(b"orphan"), b"orphan")
    assert main(["admin", "gc"]) == 0
    said = capsys.readouterr().out
    assert "spared 1 unreferenced stored in the last 15 minutes" in said, said
