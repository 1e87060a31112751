"""``couturier admin backup DIR`` and ``couturier admin restore DIR [--force]`` on an embedded
(SQLite) installation: a consistent copy taken while another connection writes, brought back
whole into an empty data directory, refused over an installation without ``--force`` and when
the backup is incomplete or damaged (nothing changed then)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from couturier.blobs import LocalBlobStore, blob_store_dir
from couturier.cli.main import main
from couturier.errors import StateError
from couturier.oci.layer import sha256_digest
from couturier.services import tokens as token_service
from couturier.services.backup import backup_installation, restore_installation
from couturier.services.bundles import create_bundle, get_bundle
from couturier.services.installation import create_tenant, open_installation, tenants
from tests.service import plain_settings
from tests.test_bundles import snapshot
from tests.test_store import head_revision

BLOB = b"a layer the registry serves"
BLOB_DIGEST = sha256_digest(BLOB)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of the CLI: data and cache under ``tmp_path/one``; returns it."""
    root = tmp_path / "one"
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("COUTURIER_CACHE_DIR", str(root / "cache"))
    monkeypatch.delenv("COUTURIER_DATABASE_URL", raising=False)
    monkeypatch.delenv("COUTURIER_CONFIG", raising=False)
    return root


def _installation_with_everything(root: Path) -> str:
    """An installation under ``root`` with a second tenant, a token, a tenant's and a local
    bundle, an image layout and an index snapshot; returns the token."""
    settings = plain_settings(root)
    installation, _ = open_installation(settings)
    try:
        create_tenant(installation, "acme")
        token = token_service.issue_token(installation, 1, "admin").token
    finally:
        installation.close()
    conf = root / "app.conf"
    conf.write_text("x=1\n")
    create_bundle(settings, "app-conf", "files", [conf], "/etc/app", tenant=1)
    create_bundle(settings, "local-conf", "files", [conf], "/etc/app")
    layout = settings.data_dir / "images" / "1" / "my-image"
    layout.mkdir(parents=True)
    (layout / "index.json").write_text('{"schemaVersion": 2, "manifests": []}\n')
    (layout / "latest").symlink_to("index.json")
    (settings.data_dir / "images" / "1" / "current").symlink_to("my-image")
    blobs = LocalBlobStore(blob_store_dir(settings.data_dir))
    blobs.put_bytes(BLOB_DIGEST, BLOB)
    assert blobs.read(BLOB_DIGEST) == BLOB  # verified: a stamp is written
    (settings.data_dir / "blobs" / "partial" / "blob-left-by-a-killed-build").write_bytes(b"x")
    (settings.data_dir / "snapshots").mkdir()
    (settings.data_dir / "snapshots" / "big").write_bytes(b"x" * 1000)
    return token


def test_a_backup_restores_the_whole_installation(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _installation_with_everything(env)
    data = env / "data"
    # another writer holds an uncommitted change while the backup runs
    writer = sqlite3.connect(data / "couturier.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO tenants (name, created_at) VALUES ('uncommitted', '2026-01-01')")
    try:
        assert main(["admin", "backup", str(tmp_path / "backup")]) == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    out = capsys.readouterr().out
    assert out.startswith(f"backed up {data} into {tmp_path / 'backup'}")
    backup = tmp_path / "backup"
    manifest = json.loads((backup / "manifest.json").read_text())
    assert {"couturier.db", "installation.key"} <= set(manifest["files"])
    assert "data/tenants/1/bundles/app-conf/1/bundle.json" in manifest["files"]
    assert "data/images/1/my-image/index.json" in manifest["files"]
    assert not any("snapshots" in name for name in manifest["files"])
    assert f"data/blobs/sha256/{BLOB_DIGEST.removeprefix('sha256:')}" in manifest["files"]
    assert not any(
        n.startswith(("data/blobs/partial", "data/blobs/stamps")) for n in manifest["files"]
    )
    assert (backup / "installation.key").stat().st_mode & 0o077 == 0
    assert manifest["revision"] == head_revision()

    # restore into another, empty data directory
    other = tmp_path / "two"
    monkeypatch.setenv("COUTURIER_DATA_DIR", str(other / "data"))
    assert main(["admin", "restore", str(backup)]) == 0
    restored = plain_settings(other)
    installation, first = open_installation(restored)
    try:
        assert first is None  # the restored installation, not a new one
        assert [t.name for t in tenants(installation)] == ["default", "acme"]
        assert token_service.authenticate(installation, token, "admin").tenant_id == 1
    finally:
        installation.close()
    assert get_bundle(restored, "app-conf", tenant=1).version == 1
    assert get_bundle(restored, "local-conf").version == 1
    layout = other / "data" / "images" / "1" / "my-image"
    assert (layout / "latest").readlink() == Path("index.json")
    assert (layout.parent / "current").readlink() == Path("my-image")
    assert (other / "data" / "installation.key").read_bytes() == (
        data / "installation.key"
    ).read_bytes()
    assert not (other / "data" / "snapshots").exists()
    assert LocalBlobStore(blob_store_dir(other / "data")).read(BLOB_DIGEST) == BLOB


def test_a_restore_over_an_installation_needs_force(
    env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _installation_with_everything(env)
    settings = plain_settings(env)
    backup_installation(settings, tmp_path / "backup")
    installation, _ = open_installation(settings)
    try:
        create_tenant(installation, "after-the-backup")
    finally:
        installation.close()
    before = snapshot(env / "data")

    assert main(["admin", "restore", str(tmp_path / "backup")]) == 1
    err = capsys.readouterr().err
    assert "holds an installation already" in err and "--force" in err
    assert snapshot(env / "data") == before

    assert main(["admin", "restore", "--force", str(tmp_path / "backup")]) == 0
    installation, _ = open_installation(settings)
    try:
        assert [t.name for t in tenants(installation)] == ["default", "acme"]
    finally:
        installation.close()


@pytest.mark.parametrize("damage", ["manifest", "missing", "changed", "outside", "through"])
def test_an_incomplete_backup_is_refused_before_anything_changes(
    env: Path, tmp_path: Path, damage: str
) -> None:
    _installation_with_everything(env)
    settings = plain_settings(env)
    backup = tmp_path / "backup"
    backup_installation(settings, backup)
    if damage == "manifest":
        (backup / "manifest.json").unlink()
    elif damage == "missing":
        (backup / "data" / "tenants" / "1" / "bundles" / "app-conf" / "1" / "bundle.json").unlink()
    elif damage == "changed":
        with (backup / "couturier.db").open("r+b") as handle:
            handle.seek(200)
            handle.write(b"\xff")
    elif damage == "outside":
        manifest = json.loads((backup / "manifest.json").read_text())
        manifest["files"]["../escape"] = {"size": 1, "sha256": "0" * 64}
        (backup / "manifest.json").write_text(json.dumps(manifest))
    else:  # a file named through a link of the backup, which would land where it leads
        outside = tmp_path / "outside"
        outside.mkdir()
        (outside / "planted").write_text("x")
        (backup / "data" / "escape").symlink_to(outside)
        manifest = json.loads((backup / "manifest.json").read_text())
        manifest["files"]["data/escape"] = {"link": str(outside)}
        digest = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        manifest["files"]["data/escape/planted"] = {"size": 1, "sha256": digest}
        (backup / "manifest.json").write_text(json.dumps(manifest))
    target = replace(settings, data_dir=tmp_path / "empty")
    with pytest.raises(StateError) as refused:
        restore_installation(target, backup, force=True)
    assert refused.value.code == "backup-incomplete"
    assert not (tmp_path / "empty").exists()


def test_backups_refuse_postgresql_and_a_used_directory(env: Path, tmp_path: Path) -> None:
    _installation_with_everything(env)
    settings = plain_settings(env)
    used = tmp_path / "used"
    used.mkdir()
    (used / "file").write_text("mine")
    with pytest.raises(Exception) as refused:
        backup_installation(settings, used)
    assert refused.value.code == "input-invalid"  # type: ignore[attr-defined]
    assert (used / "file").read_text() == "mine"
    postgres = replace(settings, database_url="postgresql+psycopg://u@/db?host=/nowhere")
    for call in (
        lambda: backup_installation(postgres, tmp_path / "new"),
        lambda: restore_installation(postgres, tmp_path / "new"),
    ):
        with pytest.raises(Exception) as refused:
            call()
        assert "pg_dump" in refused.value.hint  # type: ignore[attr-defined]
