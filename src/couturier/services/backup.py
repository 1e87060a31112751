"""Backing up an embedded installation and restoring it: ``couturier admin backup DIR`` and
``couturier admin restore DIR``.

A backup is a directory holding:

- ``couturier.db``: the SQLite database, copied through SQLite's online backup (one consistent
  snapshot, taken while ``serve`` may be running);
- ``installation.key``: the key that opens the secrets the database holds;
- ``data/``: every other file of the data directory that is not downloaded again when missing:
  the bundles (the command line's ``bundles/`` and every tenant's ``tenants/N/``), the blob
  store of the registry (``blobs/sha256/``), and whatever else the service keeps there. Index
  snapshots (``snapshots/``, ``state/``), lock files, partial files (``.staging-*``, the blob
  store's ``partial/``) and the blob store's ``stamps/`` are left out;
- ``manifest.json``, written last: the format, when, the database's schema revision, and the
  size and sha256 of every other file. A directory without it is not a backup.

The database is copied first, the files after: bundle versions and blobs never change once
written and a build records its manifests only after their blobs are stored, so everything the
copied database names is in the copy (a bundle or blob made meanwhile is there too, unnamed;
a garbage collection run while the files are copied could remove a blob of an image deleted
after the database was copied: run neither at once).

Restoring checks the whole backup against its manifest before touching anything, and refuses
to replace an installation that holds a database, a key or bundles unless told to
(``force``); it must run with the service stopped. Only SQLite installations are backed up so:
with PostgreSQL, the database is dumped by PostgreSQL's own tools (``docs/service.md``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from couturier.blobs import SCRATCH, blob_store_dir
from couturier.errors import Code, InputError, StateError
from couturier.settings import Settings
from couturier.store import KEY_FILE
from couturier.store.backup import copy_sqlite, sqlite_revision
from couturier.store.key import load_or_create_key

__all__ = ["BackupSummary", "backup_installation", "restore_installation"]

MANIFEST = "manifest.json"
DATABASE = "couturier.db"
DATA = "data"
_FORMAT = 1
# Downloaded again when missing: not worth a backup's space.
_LEFT_OUT = frozenset({"snapshots", "state"})
_BLOBS = blob_store_dir(Path("."))
_DATABASE_FILES = frozenset({DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", f"{DATABASE}-journal"})


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds (or a restore brought back): the directory, the database's schema
    revision, and the number and bytes of the files besides the manifest."""

    directory: Path
    revision: str | None
    files: int
    size: int


def _sqlite_path(settings: Settings) -> Path:
    if settings.database_url is not None and not settings.database_url.startswith("sqlite:///"):
        raise InputError(
            "only an embedded installation (SQLite) is backed up and restored this way",
            "back a PostgreSQL installation up with PostgreSQL's own tools (pg_dump), and "
            "copy installation.key and the data directory beside it",
            fields={"kind": "backup", "value": "postgresql"},
        )
    return Path(settings.database.removeprefix("sqlite:///"))


def _kept(name: str) -> bool:
    return not (name.startswith(".staging-") or name == ".lock" or name.endswith(".lock"))


def _data_files(data_dir: Path, skip: Path) -> Iterator[Path]:
    """The files (and symbolic links) of ``data_dir`` a backup holds, relative to it."""
    skip = skip.resolve()
    for top, directories, files in os.walk(data_dir):
        here = Path(top)
        relative = here.relative_to(data_dir)
        kept = [
            d
            for d in directories
            if _kept(d)
            and not (relative == Path(".") and d in _LEFT_OUT)
            and not (relative == Path(_BLOBS) and d in SCRATCH)
        ]
        # A link to a directory is kept as a link: its target is not walked.
        links = [d for d in kept if (here / d).is_symlink()]
        directories[:] = sorted(d for d in kept if d not in links and (here / d).resolve() != skip)
        for name in sorted(links):
            yield relative / name
        for name in sorted(files):
            if relative == Path(".") and (name in _DATABASE_FILES or name == KEY_FILE):
                continue
            if _kept(name) and not name.startswith(f".{KEY_FILE}."):
                yield relative / name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
        return
    shutil.copy2(source, target)


def _entry(path: Path) -> dict[str, Any]:
    if path.is_symlink():
        return {"link": os.readlink(path)}
    return {"size": path.stat().st_size, "sha256": _sha256(path)}


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def backup_installation(
    settings: Settings, directory: Path, clock: Callable[[], dt.datetime] | None = None
) -> BackupSummary:
    """Write a backup of the installation of ``settings`` into ``directory`` (made now; it
    may exist only as an empty directory). The service may be running.

    Raises :class:`InputError` for a PostgreSQL installation or a ``directory`` that is not
    empty, :class:`StateError` when the installation has no database or key yet, or a file
    cannot be read or written."""
    source = _sqlite_path(settings)
    data_dir = settings.data_dir
    key = data_dir / KEY_FILE
    if not source.is_file() or not key.is_file():
        raise StateError(
            f"there is no installation in {data_dir} to back up (no {source.name} or {KEY_FILE})",
            "check the settings' data directory",
            str(data_dir),
        )
    load_or_create_key(data_dir)  # a damaged or open key is refused here, not copied
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputError(
            f"{directory} is not an empty directory: a backup goes into a new one",
            "name a directory that does not exist yet",
            fields={"kind": "backup", "value": str(directory), "path": str(directory)},
        )
    now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)
        copy_sqlite(source, directory / DATABASE)
        shutil.copy2(key, directory / KEY_FILE)
        (directory / KEY_FILE).chmod(0o600)
        relative = list(_data_files(data_dir, directory))
        for path in relative:
            _copy_file(data_dir / path, directory / DATA / path)
        revision = _revision(directory / DATABASE)
        files = {DATABASE: _entry(directory / DATABASE), KEY_FILE: _entry(directory / KEY_FILE)}
        files |= {f"{DATA}/{p.as_posix()}": _entry(directory / DATA / p) for p in relative}
        manifest = {
            "format": _FORMAT,
            "created": now.astimezone(dt.UTC).isoformat(),
            "revision": revision,
            "files": files,
        }
        partial = directory / f".{MANIFEST}.partial"
        with partial.open("w") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(partial, directory / MANIFEST)
        _fsync(directory)
    except (OSError, sqlite3.Error) as error:
        reason = getattr(error, "strerror", None) or error
        raise StateError(
            f"cannot write the backup into {directory}: {reason}",
            "check that the directory is writable and has room",
            str(getattr(error, "filename", None) or directory),
            code=Code.STORAGE_FULL if getattr(error, "errno", None) == 28 else None,
        ) from error
    return BackupSummary(directory, revision, len(files), _size(files))


def _size(files: dict[str, Any]) -> int:
    return sum(int(entry.get("size", 0)) for entry in files.values())


def _revision(database: Path) -> str | None:
    """The schema revision the database at ``database`` records, read without changing it."""
    return sqlite_revision(database)


def _incomplete(directory: Path, problem: str, file: str = "") -> StateError:
    return StateError(
        f"{directory} is not a complete Couturier backup: {problem}",
        "restore another backup; nothing was changed",
        str(directory),
        code=Code.BACKUP_INCOMPLETE,
        fields={"problem": problem, "file": file},
    )


def _checked_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the backup in ``directory`` once every file it lists is there, with
    its size and sha256. Raises :class:`StateError` (``backup-incomplete``) otherwise."""
    try:
        with (directory / MANIFEST).open("rb") as handle:
            raw = handle.read(64 * 1024 * 1024)
        manifest = json.loads(raw)
    except OSError as error:
        raise _incomplete(directory, f"its {MANIFEST} cannot be read ({error.strerror})") from None
    except ValueError:
        raise _incomplete(directory, f"its {MANIFEST} is damaged") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise _incomplete(directory, f"its {MANIFEST} is not one this Couturier writes")
    if not isinstance(files, dict):
        raise _incomplete(directory, f"its {MANIFEST} is not one this Couturier writes")
    assert isinstance(manifest, dict)
    for needed in (DATABASE, KEY_FILE):
        if needed not in files:
            raise _incomplete(directory, f"it holds no {needed}", needed)
    for name, entry in files.items():
        path = directory / name
        if not isinstance(name, str) or ".." in Path(name).parts or Path(name).is_absolute():
            raise _incomplete(directory, f"it names a file outside it: {name[:100]!r}")
        if not (name in (DATABASE, KEY_FILE) or name.startswith(f"{DATA}/")):
            raise _incomplete(directory, f"it names an unknown file {name[:100]!r}", name)
        if not isinstance(entry, dict):
            raise _incomplete(directory, f"its entry of {name} is damaged", name)
        if any((directory / parent).is_symlink() for parent in Path(name).parents):
            # a file named through a link would be restored wherever the link leads
            raise _incomplete(directory, f"{name} is named through a link", name)
        if "link" in entry:
            if not path.is_symlink() or os.readlink(path) != entry["link"]:
                raise _incomplete(directory, f"the link {name} is missing or differs", name)
            continue
        if path.is_symlink() or not path.is_file():
            raise _incomplete(directory, f"{name} is missing", name)
        if path.stat().st_size != entry.get("size") or _sha256(path) != entry.get("sha256"):
            raise _incomplete(directory, f"{name} differs from what the backup recorded", name)
    checked: dict[str, Any] = manifest
    return checked


def _occupied(data_dir: Path, database: Path) -> list[str]:
    found = [p.name for p in (database, data_dir / KEY_FILE) if p.exists()]
    found += [
        name
        for name in ("bundles", "tenants")
        if (data_dir / name).is_dir() and any((data_dir / name).iterdir())
    ]
    return found


def restore_installation(
    settings: Settings, directory: Path, *, force: bool = False
) -> BackupSummary:
    """Bring the backup in ``directory`` back as the installation of ``settings``: the
    database, the key and the data directory's files. The service must be stopped.

    The backup is checked whole first (:class:`StateError` ``backup-incomplete``); an
    installation already there (a database, a key, bundles) is refused with
    :class:`StateError` ``installation-not-empty`` unless ``force``, which replaces its
    database, key and every directory the backup holds. Nothing is changed when it raises
    before copying. Raises :class:`InputError` for a PostgreSQL installation."""
    database = _sqlite_path(settings)
    data_dir = settings.data_dir
    manifest = _checked_manifest(directory)
    occupied = _occupied(data_dir, database)
    if occupied and not force:
        raise StateError(
            f"{data_dir} holds an installation already ({', '.join(occupied)})",
            "restore into an empty data directory, or replace that installation on purpose",
            str(data_dir),
            code=Code.INSTALLATION_NOT_EMPTY,
            fields={"found": occupied},
        )
    files: dict[str, Any] = manifest["files"]
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        for name in _DATABASE_FILES:
            (database.parent / name).unlink(missing_ok=True)
        for top in sorted({Path(n).parts[1] for n in files if n.startswith(f"{DATA}/")}):
            target = data_dir / top
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
        for name in files:
            if name.startswith(f"{DATA}/"):
                _copy_file(directory / name, data_dir / name.removeprefix(f"{DATA}/"))
        key = data_dir / KEY_FILE
        partial = data_dir / f".{KEY_FILE}.restore"
        shutil.copyfile(directory / KEY_FILE, partial)
        partial.chmod(0o600)
        os.replace(partial, key)
        database.parent.mkdir(parents=True, exist_ok=True)
        staged = database.parent / f".{DATABASE}.restore"
        staged.unlink(missing_ok=True)
        copy_sqlite(directory / DATABASE, staged)
        os.replace(staged, database)
        _fsync(data_dir)
    except (OSError, sqlite3.Error) as error:
        raise StateError(
            f"cannot restore into {data_dir}: {getattr(error, 'strerror', None) or error}",
            "check that the data directory is writable and has room",
            str(getattr(error, "filename", None) or data_dir),
        ) from error
    return BackupSummary(directory, manifest.get("revision"), len(files), _size(files))
