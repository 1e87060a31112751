"""The bundle store: create, find and list versions of file bundles.

A bundle version lives in ``<store>/<name>/<version>/``: ``bundle.json`` (name, version,
type, target, created, warnings, and per file its path, size, sha256 and mode) and ``files/``
holding each content once, named by its sha256. Versions count from 1 and never change.

:func:`create_bundle` reads the inputs (:mod:`couturier.services.bundle_inputs`: files,
directories and archives, within limits, without extracting anything), applies every rule of
:mod:`couturier.core.bundle` and only then writes: into a staging directory next to the
versions, renamed into place under a lock that allocates the version number. A refused bundle
stores nothing; a killed create leaves at most a ``.staging-*`` directory, which no reader
looks at: it is held under a lock while its create runs (:class:`~couturier.integrity.Partial`),
so the next create or ``cache verify`` removes it once no process holds it.

A bundle is verified whenever it is read for use (:func:`get_bundle`): its record, then every
file against its recorded size and sha256. :func:`bundle_versions` lists every version with
what is damaged in it.

There is one store per owner (:func:`store_root`): the local store of the command line,
``<data_dir>/bundles``, and one per tenant of the service, ``<data_dir>/tenants/<id>/bundles``,
named by the tenant's numeric id (never by text a user chose). Every function takes the owner
as ``tenant`` (None: the local store), so a tenant's request never reads another's bundles.
A version may be deleted (:func:`delete_bundle_version`); its number is never given again
(``.last-version`` in the bundle's directory remembers the highest one handed out).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from couturier.core.bundle import Bundle, BundleFile, check_bundle, parse_ref
from couturier.core.spec import BUNDLE_NAME, BUNDLE_VERSION
from couturier.core.suggest import close_names
from couturier.core.text import named
from couturier.errors import (
    Code,
    ConflictError,
    InputError,
    IntegrityError,
    NotFoundError,
    StateError,
)
from couturier.integrity import Partial, file_problem, fsync_directory, sweep_partials
from couturier.services.bundle_inputs import (
    MAX_ENTRIES,
    MAX_READ_BYTES,
    MAX_READ_SECONDS,
    read_inputs,
)
from couturier.settings import Settings

__all__ = [
    "MAX_ENTRIES",
    "MAX_READ_BYTES",
    "MAX_READ_SECONDS",
    "StoredVersion",
    "bundle_json",
    "bundle_names",
    "bundle_summary",
    "bundle_tenants",
    "bundle_versions",
    "check_bundle_refs",
    "create_bundle",
    "delete_bundle_version",
    "get_bundle",
    "list_bundles",
    "read_inputs",
    "store_root",
    "sweep_staging",
]

_FORMAT = 1
_VERSION = re.compile(BUNDLE_VERSION)  # a version directory (ASCII digits only)
_RECORD_MAX = 1024 * 1024  # bytes of a bundle.json: 20 files take a few KiB
_STAGING = ".staging-"
_LAST = ".last-version"  # the highest version ever handed out, once one was deleted


def store_root(settings: Settings, tenant: int | None = None) -> Path:
    """The directory holding every bundle of ``tenant`` (None: the command line's local
    store). A tenant's is named by its numeric id alone."""
    if tenant is None:
        return settings.data_dir / "bundles"
    if isinstance(tenant, bool) or not isinstance(tenant, int) or tenant < 1:
        raise ValueError(f"a tenant id is a positive number, not {tenant!r}")
    return settings.data_dir / "tenants" / str(tenant) / "bundles"


def bundle_tenants(settings: Settings) -> list[int]:
    """The tenants that have a bundle store, by id (for the checks that walk every store)."""
    try:
        names = [item.name for item in (settings.data_dir / "tenants").iterdir()]
    except OSError:
        return []
    ids = sorted(int(n) for n in names if n.isascii() and n.isdigit() and not n.startswith("0"))
    return [i for i in ids if store_root(settings, i).is_dir()]


# The store


def bundle_json(bundle: Bundle) -> dict[str, Any]:
    """The JSON form of ``bundle`` (what ``bundle.json`` and ``bundle list --json`` hold)."""
    return {
        "name": bundle.name,
        "version": bundle.version,
        "type": bundle.kind,
        "target": bundle.target,
        "created": bundle.created,
        "digest": bundle.digest,
        "warnings": list(bundle.warnings),
        "files": [
            {
                "path": f.path,
                "size": f.size,
                "sha256": f.sha256,
                "mode": f"{f.mode:04o}",
                **({"link": f.link} if f.link else {}),
            }
            for f in bundle.files
        ],
    }


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _versions(directory: Path, *, complete: bool = True) -> list[int]:
    """The version numbers under ``directory``: those with a ``bundle.json`` (``complete``), or
    every directory named like a version."""
    try:
        names = [item.name for item in directory.iterdir()]
    except OSError:
        return []
    return sorted(
        int(n)
        for n in names
        if _VERSION.fullmatch(n)
        and (
            (directory / n / "bundle.json").is_file() or (not complete and (directory / n).is_dir())
        )
    )


def _is_staging(name: str) -> bool:
    return name.startswith(_STAGING)


def sweep_staging(settings: Settings, tenant: int | None = None) -> list[Path]:
    """Remove the ``.staging-*`` directories of the bundle store that no running
    ``bundle create`` holds (a killed one's); return them. Cost: one ``listdir`` per bundle
    and a lock attempt per staging directory (see :func:`couturier.integrity.sweep_partials`)."""
    root = store_root(settings, tenant)
    try:
        directories = sorted(item for item in root.iterdir() if item.is_dir())
    except OSError:
        return []
    return [path for d in directories for path in sweep_partials(d, _is_staging)]


def create_bundle(
    settings: Settings,
    name: str,
    kind: str,
    inputs: Sequence[Path],
    target: str | None = None,
    *,
    now: dt.datetime | None = None,
    tenant: int | None = None,
) -> Bundle:
    """Make the next version of bundle ``name`` from ``inputs`` and return it.

    Cost: reading the inputs (see :func:`read_inputs` for the limits) and writing the accepted
    files once. Raises :class:`~couturier.core.bundle.BundleError` listing every violation
    (nothing is stored then) and :class:`~couturier.errors.StateError` when the store cannot
    be written. ``tenant``: whose store (None: the local one).
    """
    now = now or dt.datetime.now(dt.UTC)
    members, found = read_inputs(inputs)
    files, warnings = check_bundle(name, kind, target, members, now=now, found=found)
    directory = store_root(settings, tenant) / name
    try:
        version = _store(directory, name, kind, target, files, warnings, now)
    except OSError as error:
        where = error.filename or directory
        raise StateError(
            f"cannot write bundle {name} into the store: {where}: {error.strerror or error}",
            f"check that {store_root(settings, tenant)} is a writable directory (data_dir in the "
            "settings, or COUTURIER_DATA_DIR)",
            str(where),
            code=Code.STORAGE_FULL if error.errno in (errno.ENOSPC, errno.EDQUOT) else None,
            fields={"bundle": name, "reason": error.strerror or str(error)},
        ) from error
    return _load(directory / str(version), name, version)


def _store(  # noqa: PLR0917 - the parts of one bundle, as check_bundle returns them
    directory: Path,
    name: str,
    kind: str,
    target: str | None,
    files: Sequence[BundleFile],
    warnings: Sequence[str],
    now: dt.datetime,
) -> int:
    """Write the next version of bundle ``name`` into ``directory``; return its number."""
    directory.mkdir(parents=True, exist_ok=True)
    sweep_partials(directory, _is_staging)  # a killed create's leftovers
    partial = Partial.directory(directory, _STAGING)  # held until renamed into place
    staging = partial.path
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; the version is as readable as the store
        blobs = staging / "files"
        blobs.mkdir()
        for file in files:
            if file.data is not None and not (blobs / file.sha256).exists():
                with (blobs / file.sha256).open("wb") as handle:
                    handle.write(file.data)
                    handle.flush()
                    os.fsync(handle.fileno())
        created = now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with _locked(directory):
            version = (
                max(max(_versions(directory, complete=False), default=0), _last(directory)) + 1
            )
            bundle = Bundle(name, version, kind, target, tuple(files), created, tuple(warnings))
            with (staging / "bundle.json").open("w") as handle:
                json.dump({"format": _FORMAT, **bundle_json(bundle)}, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            fsync_directory(blobs)
            os.rename(staging, directory / str(version))
            fsync_directory(directory)
    except BaseException:
        partial.remove()
        raise
    partial.close()
    return version


def _load(directory: Path, name: str, version: int) -> Bundle:
    """The bundle stored in ``directory``; :class:`IntegrityError` when its record is damaged."""
    try:
        with (directory / "bundle.json").open("rb") as handle:
            record = handle.read(_RECORD_MAX + 1)
        if len(record) > _RECORD_MAX:
            raise ValueError(f"its record has more than {_RECORD_MAX:,} bytes")
        raw = json.loads(record)
        files = tuple(
            BundleFile(
                path=str(f["path"]),
                sha256=str(f["sha256"]),
                mode=int(f["mode"], 8),
                size=int(f["size"]),
                link=str(f.get("link", "")),
                source=None if f.get("link") else directory / "files" / str(f["sha256"]),
            )
            for f in raw["files"]
        )
        bundle = Bundle(
            name=str(raw["name"]),
            version=int(raw["version"]),
            kind=str(raw["type"]),
            target=raw["target"],
            files=files,
            created=str(raw["created"]),
            warnings=tuple(str(w) for w in raw.get("warnings", ())),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise IntegrityError(
            f"bundle {name}@{version} is damaged in the store ({error})",
            f"remove {directory} and create the bundle again",
            code=Code.BUNDLE_DAMAGED,
            fields={"bundle": name, "version": version, "path": str(directory)},
        ) from error
    if (bundle.name, bundle.version) != (name, version):
        raise IntegrityError(
            f"bundle {name}@{version} in the store records itself as {bundle.ref}",
            f"remove {directory} and create the bundle again",
            code=Code.BUNDLE_DAMAGED,
            fields={"bundle": name, "version": version, "path": str(directory)},
        )
    return bundle


def _last(directory: Path) -> int:
    """The highest version of the bundle in ``directory`` handed out before its newest ones
    were deleted (0 when none was)."""
    try:
        text = (directory / _LAST).read_text(encoding="ascii")[:20].strip()
    except (OSError, UnicodeDecodeError):
        return 0
    return int(text) if _VERSION.fullmatch(text) else 0


def _names(settings: Settings, tenant: int | None, *, complete: bool = True) -> list[str]:
    root = store_root(settings, tenant)
    try:
        names = [item.name for item in root.iterdir() if item.is_dir()]
    except OSError:
        return []
    return sorted(
        n for n in names if not n.startswith(".") and _versions(root / n, complete=complete)
    )


def bundle_names(settings: Settings, tenant: int | None = None) -> list[str]:
    """The names of the bundles of ``tenant``'s store that have a complete version, sorted.
    Cost: one ``listdir`` per bundle."""
    return _names(settings, tenant)


def bundle_summary(settings: Settings, name: str, tenant: int | None = None) -> dict[str, Any]:
    """``{"name", "type", "target", "versions", "newest", "created"}`` of bundle ``name``
    (``type``, ``target`` and ``created`` its newest version's, None when that record is
    damaged). Reads one record and no file: for lists."""
    directory = store_root(settings, tenant) / name
    versions = _versions(directory)
    newest = versions[-1] if versions else None
    bundle: Bundle | None = None
    if newest is not None:
        with contextlib.suppress(IntegrityError):
            bundle = _load(directory / str(newest), name, newest)
    return {
        "name": name,
        "type": bundle.kind if bundle else None,
        "target": bundle.target if bundle else None,
        "versions": versions,
        "newest": newest,
        "created": bundle.created if bundle else None,
    }


def get_bundle(settings: Settings, ref: str, tenant: int | None = None) -> Bundle:
    """The bundle ``ref`` names: ``corp-ca`` (its newest version) or ``corp-ca@3``.

    Every file of it is checked against its recorded size and sha256 (at most 20 reads of
    1 MiB), so a damaged bundle fails every build that names it alike, whatever the layer
    cache holds. Raises :class:`InputError` for a malformed reference, :class:`NotFoundError`
    naming the known bundles (or the bundle's versions), :class:`IntegrityError` for a
    damaged record or file (naming the bundle, version and file). ``tenant``: whose store
    (None: the local one).
    """
    name, version = parse_ref(ref)
    directory = store_root(settings, tenant) / name
    versions = _versions(directory)
    if not versions:
        known = _names(settings, tenant)
        hint = f"known bundles: {', '.join(known)}" if known else "no bundle exists yet"
        raise NotFoundError(
            f"there is no bundle {name}",
            hint,
            code=Code.BUNDLE_NOT_FOUND,
            fields={
                "bundle": name,
                "version": version,
                "what": "bundle",
                "suggestions": close_names(name, known),
                "known": known,
            },
        )
    if version is None:
        version = versions[-1]
    elif version not in versions:
        listed = ", ".join(str(v) for v in versions)
        raise NotFoundError(
            f"bundle {name} has no version {version}",
            f"its versions: {listed}; or write {name}",
            code=Code.BUNDLE_NOT_FOUND,
            fields={
                "bundle": name,
                "version": version,
                "what": "version",
                "suggestions": [],
                "known": versions,
            },
        )
    return _verified(_load(directory / str(version), name, version))


def _verified(bundle: Bundle) -> Bundle:
    """``bundle`` once every file of it in the store matches its recorded size and sha256.

    Cost: one read of each file (at most 20 of 1 MiB). Raises :class:`IntegrityError` naming
    the bundle, its version and the first damaged file."""
    for file in bundle.files:
        if file.source is None:
            continue
        try:
            problem = file_problem(file.source, file.sha256, file.size)
        except OSError as error:
            problem = f"cannot be read ({error.strerror})"
        if problem is not None:
            if problem.startswith("has sha256"):
                problem = "no longer has the sha256 recorded for it"
            raise IntegrityError(
                f"bundle {bundle.ref}: file {file.path} changed in the store ({file.source} "
                f"{problem})",
                "create the bundle again",
                code=Code.BUNDLE_DAMAGED,
                fields={
                    "bundle": bundle.name,
                    "version": bundle.version,
                    "file": file.path,
                    "path": str(file.source),
                },
            )
    return bundle


@dataclass(frozen=True)
class StoredVersion:
    """One version directory of the bundle store: its bundle when sound, else what is wrong
    (``problem``: a damaged or missing record, a damaged file) and the bundle as far as its
    record could be read (None when it could not)."""

    name: str
    version: int
    bundle: Bundle | None
    problem: str = ""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def bundle_versions(
    settings: Settings, tenant: int | None = None, *, only: str | None = None
) -> list[StoredVersion]:
    """Every version directory of every bundle (or of bundle ``only``) of ``tenant``'s
    store, by name then version, each checked as :func:`get_bundle` checks it; a damaged one
    is listed with its problem, and the others are still listed. Cost: one small read per
    version and one read of each of its files."""
    root = store_root(settings, tenant)
    found: list[StoredVersion] = []
    names = _names(settings, tenant, complete=False)
    for name in names if only is None else [n for n in names if n == only]:
        for version in _versions(root / name, complete=False):
            directory = root / name / str(version)
            if not (directory / "bundle.json").is_file():
                problem = f"{directory} has no bundle.json (a version left incomplete)"
                found.append(StoredVersion(name, version, None, problem))
                continue
            try:
                bundle = _load(directory, name, version)
            except IntegrityError as error:
                found.append(StoredVersion(name, version, None, error.message))
                continue
            try:
                found.append(StoredVersion(name, version, _verified(bundle)))
            except IntegrityError as error:
                found.append(StoredVersion(name, version, bundle, error.message))
    return found


def list_bundles(settings: Settings, tenant: int | None = None) -> list[Bundle]:
    """Every sound version of every bundle, by name then version (:func:`bundle_versions`
    says which are damaged). Cost: as :func:`bundle_versions`."""
    stored = bundle_versions(settings, tenant)
    return [v.bundle for v in stored if v.bundle is not None and not v.problem]


def check_bundle_refs(
    settings: Settings, refs: Sequence[str], tenant: int | None = None
) -> list[tuple[str, str]]:
    """(ref, problem) for each of ``refs`` that names no stored bundle version; empty when
    every one exists. For spec validation: never raises for a bad reference."""
    problems = []
    for ref in refs:
        try:
            get_bundle(settings, ref, tenant)
        except (InputError, NotFoundError, IntegrityError) as error:
            problems.append((ref, str(error)))
    return problems


def delete_bundle_version(
    settings: Settings,
    name: str,
    version: int,
    tenant: int | None = None,
    *,
    in_use: Callable[[int, int], Sequence[str]] = lambda version, newest: (),
) -> None:
    """Delete version ``version`` of bundle ``name`` from ``tenant``'s store. Its number is
    never handed out again.

    ``in_use(version, newest)`` names what still uses that version (``newest``: the bundle's
    newest version now, which an unpinned reference uses); it is asked under the lock that
    creating a version takes, and a non-empty answer refuses the delete with
    :class:`ConflictError` (code ``bundle-in-use``). Raises :class:`NotFoundError` when there
    is no such version (a malformed name included: nothing is looked up for it), and
    :class:`StateError` when the store cannot be written. The version is renamed out of the
    readers' sight first, then removed: a killed delete leaves a ``.staging-*`` directory that
    the next create sweeps.
    """
    directory = store_root(settings, tenant) / name
    if not re.fullmatch(BUNDLE_NAME, name) or version not in _versions(directory, complete=False):
        raise _no_version(name, version, _versions(directory) if _named(name) else [])
    try:
        with _locked(directory):
            versions = _versions(directory, complete=False)
            if version not in versions:
                raise _no_version(name, version, _versions(directory))
            users = list(in_use(version, max(_versions(directory), default=version)))
            if users:
                raise ConflictError(
                    f"bundle {name}@{version} is used by {', '.join(users[:5])}"
                    + (f" and {len(users) - 5} more" if len(users) > 5 else ""),
                    "change or delete what uses it first",
                    code=Code.BUNDLE_IN_USE,
                    fields={"bundle": name, "version": version, "images": users},
                )
            gone = directory / f"{_STAGING}deleted-{version}-{secrets.token_hex(4)}"
            os.rename(directory / str(version), gone)
            highest = max(*versions, _last(directory))
            _write_last(directory, highest)
            fsync_directory(directory)
        shutil.rmtree(gone, ignore_errors=True)
    except OSError as error:
        raise StateError(
            f"cannot delete bundle {name}@{version} from the store: {error.strerror or error}",
            f"check that {store_root(settings, tenant)} is a writable directory",
            str(error.filename or directory),
            fields={"bundle": name, "reason": error.strerror or str(error)},
        ) from error


def _named(name: str) -> bool:
    return re.fullmatch(BUNDLE_NAME, name) is not None


def _write_last(directory: Path, version: int) -> None:
    partial = directory / f"{_LAST}.{secrets.token_hex(4)}"
    with partial.open("w", encoding="ascii") as handle:
        handle.write(f"{version}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, directory / _LAST)


def _no_version(name: str, version: int, versions: Sequence[int]) -> NotFoundError:
    return NotFoundError(
        f"bundle {named(name)} has no version {version}"
        if versions
        else f"there is no bundle {named(name)}",
        "",
        code=Code.BUNDLE_NOT_FOUND,
        fields={
            "bundle": name,
            "version": version,
            "what": "version" if versions else "bundle",
            "suggestions": [],
            "known": list(versions),
        },
    )
