"""The bundle store: create, find and list versions of file bundles.

A bundle version lives in ``<data_dir>/bundles/<name>/<version>/``: ``bundle.json`` (name, version,
type, target, created, warnings, and per file its path, size, sha256 and mode) and ``files/``
holding each content once, named by its sha256. Versions count from 1 and never change.

:func:`create_bundle` reads the inputs (files, directories walked without following links, and
``.tar``, ``.tar.gz``/``.tgz``, ``.tar.xz``, ``.tar.bz2`` and ``.zip`` archives read without
extracting anything), applies every rule of :mod:`couturier.core.bundle` and only then writes:
into a staging directory next to the versions, renamed into place under a lock that allocates
the version number. A refused bundle stores nothing; a killed create leaves at most a
``.staging-*`` directory, which no reader looks at.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from couturier.core.bundle import (
    MAX_FILE_SIZE,
    MAX_FILES,
    Bundle,
    BundleFile,
    Member,
    MemberType,
    check_bundle,
    parse_ref,
)
from couturier.core.spec import Violation
from couturier.errors import InputError, IntegrityError, NotFoundError
from couturier.settings import Settings

__all__ = [
    "MAX_ENTRIES",
    "bundle_json",
    "check_bundle_refs",
    "create_bundle",
    "get_bundle",
    "list_bundles",
    "read_inputs",
    "store_root",
]

# Entries looked at in one input before giving up: a bundle holds 20 files, so an input with
# thousands of entries is a mistake (a wrong directory), not something to walk to its end.
MAX_ENTRIES = 1000
_FORMAT = 1
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")


def store_root(settings: Settings) -> Path:
    """The directory holding every bundle."""
    return settings.data_dir / "bundles"


# Reading inputs


class _Reader:
    """Turns inputs into members; stops reading contents once more files than a bundle may hold
    have been read (their count is refused anyway)."""

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.found: list[Violation] = []
        self.read = 0

    def content(self, size: int, read: Any) -> bytes | None:
        if size > MAX_FILE_SIZE or self.read > MAX_FILES:
            return None
        self.read += 1
        data: bytes = read()
        return data

    def add(self, member: Member) -> None:
        self.members.append(member)

    def input(self, path: Path) -> None:
        origin = str(path)
        try:
            info = path.stat()  # a path the user named is followed, even when it is a link
        except OSError as error:
            self.found.append(Violation(origin, None, f"cannot be read ({error.strerror})"))
            return
        lowered = path.name.lower()
        try:
            if stat.S_ISDIR(info.st_mode):
                self.directory(path, origin)
            elif lowered.endswith(".zip"):
                self.zip(path, origin)
            elif lowered.endswith(_TAR_SUFFIXES):
                self.tar(path, origin)
            elif stat.S_ISREG(info.st_mode):
                data = self.content(info.st_size, path.read_bytes)
                self.add(
                    Member(origin, path.name, MemberType.FILE, info.st_mode, info.st_size, data)
                )
            else:
                self.add(
                    Member(
                        origin, path.name, MemberType.SPECIAL, detail=_special_kind(info.st_mode)
                    )
                )
        except OSError as error:
            self.found.append(Violation(origin, None, f"cannot be read ({error.strerror})"))

    def directory(self, root: Path, origin: str) -> None:
        entries = 0
        pending = [root]
        while pending:
            directory = pending.pop()
            for item in sorted(os.scandir(directory), key=lambda e: e.name):
                entries += 1
                if entries > MAX_ENTRIES:
                    self.too_many(origin)
                    return
                name = Path(item.path).relative_to(root).as_posix()
                info = item.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    self.add(Member(origin, name, MemberType.DIRECTORY, info.st_mode))
                    pending.append(Path(item.path))
                elif stat.S_ISLNK(info.st_mode):
                    link = os.readlink(item.path)
                    self.add(Member(origin, name, MemberType.SYMLINK, link=link))
                elif stat.S_ISREG(info.st_mode):
                    data = self.content(info.st_size, Path(item.path).read_bytes)
                    self.add(
                        Member(origin, name, MemberType.FILE, info.st_mode, info.st_size, data)
                    )
                else:
                    kind = _special_kind(info.st_mode)
                    self.add(Member(origin, name, MemberType.SPECIAL, detail=kind))

    def too_many(self, origin: str) -> None:
        self.found.append(
            Violation(
                origin,
                None,
                f"holds more than {MAX_ENTRIES} entries; a bundle holds at most {MAX_FILES} "
                "files, name the directory or archive that holds only them",
            )
        )

    def tar(self, path: Path, origin: str) -> None:
        try:
            with tarfile.open(path, "r:*") as archive:
                for entries, info in enumerate(archive, start=1):
                    if entries > MAX_ENTRIES:
                        self.too_many(origin)
                        return
                    self.add(self.tar_member(archive, info, origin))
        except (
            tarfile.TarError,
            EOFError,
            ValueError,
            OSError,
            zlib.error,
            lzma.LZMAError,
        ) as error:
            self.found.append(
                Violation(origin, None, f"is not a readable tar archive ({error or 'corrupt'})")
            )

    def tar_member(self, archive: tarfile.TarFile, info: tarfile.TarInfo, origin: str) -> Member:
        name = info.name
        if info.isdir():
            return Member(origin, name, MemberType.DIRECTORY, info.mode)
        if info.issym():
            return Member(origin, name, MemberType.SYMLINK, link=info.linkname)
        if info.islnk():
            return Member(origin, name, MemberType.HARDLINK, info.mode, link=info.linkname)
        if info.isreg():

            def read() -> bytes:
                handle = archive.extractfile(info)
                return handle.read() if handle is not None else b""

            data = self.content(info.size, read)
            return Member(origin, name, MemberType.FILE, info.mode, info.size, data)
        kinds = {
            tarfile.CHRTYPE: "a character device",
            tarfile.BLKTYPE: "a block device",
            tarfile.FIFOTYPE: "a FIFO",
        }
        detail = kinds.get(info.type, "an entry of an unsupported type")
        return Member(origin, name, MemberType.SPECIAL, detail=detail)

    def zip(self, path: Path, origin: str) -> None:
        try:
            with zipfile.ZipFile(path) as archive:
                for entries, info in enumerate(archive.infolist(), start=1):
                    if entries > MAX_ENTRIES:
                        self.too_many(origin)
                        return
                    self.add(self.zip_member(archive, info, origin))
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            EOFError,
            ValueError,
            OSError,
            NotImplementedError,
            RuntimeError,
            zlib.error,
        ) as error:
            self.found.append(Violation(origin, None, f"is not a readable zip archive ({error})"))

    def zip_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, origin: str) -> Member:
        # Unix zip tools keep st_mode in the high half of the external attributes; others put 0.
        mode = info.external_attr >> 16 if info.create_system == 3 else 0
        name = info.filename
        if info.is_dir() or stat.S_ISDIR(mode):
            return Member(origin, name, MemberType.DIRECTORY, mode)
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFLNK):
            return Member(origin, name, MemberType.SPECIAL, detail=_special_kind(mode))
        if info.flag_bits & 0x1:
            detail = "it is encrypted; add it without a password"
            return Member(origin, name, MemberType.FILE, size=info.file_size, detail=detail)
        if stat.S_ISLNK(mode):
            link = archive.read(info)[:4096].decode("utf-8", "replace")
            return Member(origin, name, MemberType.SYMLINK, link=link)
        data = self.content(info.file_size, lambda: archive.read(info))
        return Member(origin, name, MemberType.FILE, mode or 0o644, info.file_size, data)


def _special_kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def read_inputs(inputs: Sequence[Path]) -> tuple[list[Member], list[Violation]]:
    """The members of every input, and the violations met while reading them (an input that
    does not exist, a corrupt archive, too many entries). Reads at most ``MAX_FILES + 1``
    contents of at most ``MAX_FILE_SIZE`` bytes; never extracts anything to disk."""
    reader = _Reader()
    for path in inputs:
        reader.input(path)
    if not inputs:
        reader.found.append(
            Violation("inputs", None, "name at least one file, directory or archive")
        )
    return reader.members, reader.found


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


def _versions(directory: Path) -> list[int]:
    try:
        names = [item.name for item in directory.iterdir()]
    except OSError:
        return []
    return sorted(
        int(n) for n in names if n.isdigit() and (directory / n / "bundle.json").is_file()
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_bundle(
    settings: Settings,
    name: str,
    kind: str,
    inputs: Sequence[Path],
    target: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> Bundle:
    """Make the next version of bundle ``name`` from ``inputs`` and return it.

    Cost: reading the inputs (at most 21 MiB of content) and writing the accepted files once.
    Raises :class:`~couturier.core.bundle.BundleError` listing every violation (nothing is
    stored then) and :class:`OSError` when the store cannot be written.
    """
    now = now or dt.datetime.now(dt.UTC)
    members, found = read_inputs(inputs)
    files, warnings = check_bundle(name, kind, target, members, now=now, found=found)
    directory = store_root(settings) / name
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=directory))
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
            version = max(_versions(directory), default=0) + 1
            bundle = Bundle(name, version, kind, target, files, created, warnings)
            with (staging / "bundle.json").open("w") as handle:
                json.dump({"format": _FORMAT, **bundle_json(bundle)}, handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            _fsync(blobs)
            os.rename(staging, directory / str(version))
            _fsync(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return _load(directory / str(version), name, version)


def _load(directory: Path, name: str, version: int) -> Bundle:
    """The bundle stored in ``directory``; :class:`IntegrityError` when its record is damaged."""
    try:
        raw = json.loads((directory / "bundle.json").read_text())
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
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise IntegrityError(
            f"bundle {name}@{version} is damaged in the store ({error})",
            f"remove {directory} and create the bundle again",
        ) from error
    if (bundle.name, bundle.version) != (name, version):
        raise IntegrityError(
            f"bundle {name}@{version} in the store records itself as {bundle.ref}",
            f"remove {directory} and create the bundle again",
        )
    return bundle


def _names(settings: Settings) -> list[str]:
    root = store_root(settings)
    try:
        names = [item.name for item in root.iterdir() if item.is_dir()]
    except OSError:
        return []
    return sorted(n for n in names if not n.startswith(".") and _versions(root / n))


def get_bundle(settings: Settings, ref: str) -> Bundle:
    """The bundle ``ref`` names: ``corp-ca`` (its newest version) or ``corp-ca@3``.

    Raises :class:`InputError` for a malformed reference, :class:`NotFoundError` naming the
    known bundles (or the bundle's versions), :class:`IntegrityError` for a damaged record.
    """
    name, version = parse_ref(ref)
    directory = store_root(settings) / name
    versions = _versions(directory)
    if not versions:
        known = _names(settings)
        hint = f"known bundles: {', '.join(known)}" if known else "no bundle exists yet"
        raise NotFoundError(
            f"there is no bundle {name}", f"{hint}; create one with couturier bundle create"
        )
    if version is None:
        version = versions[-1]
    elif version not in versions:
        listed = ", ".join(str(v) for v in versions)
        raise NotFoundError(
            f"bundle {name} has no version {version}", f"its versions: {listed}; or write {name}"
        )
    return _load(directory / str(version), name, version)


def list_bundles(settings: Settings) -> list[Bundle]:
    """Every version of every bundle, by name then version. Cost: one small read per version."""
    root = store_root(settings)
    return [
        _load(root / name / str(version), name, version)
        for name in _names(settings)
        for version in _versions(root / name)
    ]


def check_bundle_refs(settings: Settings, refs: Sequence[str]) -> list[tuple[str, str]]:
    """(ref, problem) for each of ``refs`` that names no stored bundle version; empty when
    every one exists. For spec validation: never raises for a bad reference."""
    problems = []
    for ref in refs:
        try:
            get_bundle(settings, ref)
        except (InputError, NotFoundError, IntegrityError) as error:
            problems.append((ref, str(error)))
    return problems
