"""Read a binary ``.deb`` in pure Python: its control fields, conffiles, md5sums and data entries.

A ``.deb`` is an ``ar`` archive of ``debian-binary`` (``2.0``), ``control.tar[.gz|.xz|.zst]`` and
``data.tar[.gz|.xz|.zst|.bz2]``. Nothing in it is executed; maintainer scripts are only read.
Paths come back as the package writes them, normalized (``./bin/sh`` → ``bin/sh``), *before* any
merged-/usr rewriting: :mod:`couturier.assembly.assemble` does that and the dpkg database records
these original paths.

Everything is held in memory (the packages of a minimal image are small). Cost: one decompression
of each member. Raises :class:`~couturier.errors.IntegrityError` naming the file for anything that
is not a well-formed package: truncated or corrupt members, paths escaping the root, device nodes
and fifos (Debian packages never ship them).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import posixpath
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import zstandard

from couturier.core.catalog import Package
from couturier.core.entries import Entry, EntryType
from couturier.debian.packages import parse_stanza
from couturier.errors import Code, IntegrityError

__all__ = [
    "DebContents",
    "fetched_deb",
    "md5_hex",
    "normalize_member_path",
    "read_deb",
    "read_deb_bytes",
    "read_deb_control",
]

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


@dataclass(frozen=True, slots=True)
class DebContents:
    """What one ``.deb`` holds.

    ``control`` is the ``DEBIAN/control`` stanza (field → value as written, in file order);
    ``conffiles`` the absolute paths of its conffiles; ``md5sums`` maps a root-relative path to
    its md5 as the package lists it; ``entries`` the data entries in archive order (the root
    directory ``./`` left out), each owned by the package; ``scripts`` the other control members
    (``postinst``, ``triggers``, ...) as bytes, for inspection only.
    """

    filename: str
    control: Mapping[str, str]
    entries: tuple[Entry, ...]
    conffiles: tuple[str, ...] = ()
    md5sums: Mapping[str, str] = field(default_factory=dict)
    scripts: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.control["Package"]

    @property
    def version(self) -> str:
        return self.control["Version"]

    @property
    def architecture(self) -> str:
        return self.control.get("Architecture", "all")


def _corrupt(filename: str, message: str) -> IntegrityError:
    """The error for a ``.deb`` that is not a valid package: ``package-corrupt``, its file named
    in the field ``file``."""
    return IntegrityError(message, code=Code.PACKAGE_CORRUPT, fields={"file": filename})


def read_deb(path: Path) -> DebContents:
    """Read the ``.deb`` at ``path``; see the module docstring for what is raised."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise IntegrityError(
            f"cannot read {path.name}: {error.strerror}",
            code=Code.CACHE_DAMAGED,
            fields={"file": path.name, "path": str(path), "reason": error.strerror or ""},
        ) from error
    return read_deb_bytes(data, path.name)


def fetched_deb(package: Package, path: Path) -> tuple[str, bytes]:
    """The file name of ``package`` in its pool (what errors name: ``path``, in the download
    cache, is named by a sha256) and the bytes of its fetched ``.deb`` at ``path``. Raises
    :class:`IntegrityError` (``cache-damaged``) when the file cannot be read."""
    name = PurePosixPath(package.filename).name or f"{package.name}_{package.version}.deb"
    try:
        return name, path.read_bytes()
    except OSError as error:
        raise IntegrityError(
            f"cannot read {name} from the download cache: {error.strerror}",
            code=Code.CACHE_DAMAGED,
            fields={"file": name, "path": str(path), "reason": error.strerror or ""},
        ) from error


def read_deb_bytes(data: bytes, filename: str) -> DebContents:
    """Read a ``.deb`` held in memory; ``filename`` names it in errors."""
    members = _ar_members(data, filename)
    version = members.get("debian-binary", b"")
    if not version.startswith(b"2."):
        raise _corrupt(
            filename, f"{filename} is not a Debian binary package (no debian-binary 2.x)"
        )
    control_tar = _member_tar(members, "control.tar", filename)
    data_tar = _member_tar(members, "data.tar", filename)
    control_files = _control_files(control_tar, filename)
    if "control" not in control_files:
        raise _corrupt(filename, f"{filename} has no control file")
    control = parse_stanza(control_files.pop("control"))
    if "Package" not in control or "Version" not in control:
        raise _corrupt(filename, f"{filename} has a control file without Package or Version")
    conffiles = tuple(
        line.strip()
        for line in control_files.pop("conffiles", b"").decode("utf-8", "replace").splitlines()
        if line.strip()
    )
    md5sums: dict[str, str] = {}
    for line in control_files.pop("md5sums", b"").decode("utf-8", "replace").splitlines():
        digest, _, name = line.partition(" ")
        if name.strip():
            md5sums[name.strip().removeprefix("./").lstrip("/")] = digest
    entries = _data_entries(data_tar, control["Package"], filename)
    return DebContents(filename, control, entries, conffiles, md5sums, control_files)


def read_deb_control(data: bytes, filename: str) -> DebContents:
    """Read only the control archive of a ``.deb`` held in memory: control fields, conffiles,
    md5sums and ``scripts``, with no data entries (``data.tar`` is not decompressed). Raises
    :class:`IntegrityError` as :func:`read_deb_bytes` does for the parts it reads."""
    members = _ar_members(data, filename)
    if not members.get("debian-binary", b"").startswith(b"2."):
        raise _corrupt(
            filename, f"{filename} is not a Debian binary package (no debian-binary 2.x)"
        )
    files = _control_files(_member_tar(members, "control.tar", filename), filename)
    if "control" not in files:
        raise _corrupt(filename, f"{filename} has no control file")
    control = parse_stanza(files.pop("control"))
    if "Package" not in control or "Version" not in control:
        raise _corrupt(filename, f"{filename} has a control file without Package or Version")
    return DebContents(filename, control, (), scripts=files)


def _ar_members(data: bytes, filename: str) -> dict[str, bytes]:
    if not data.startswith(_AR_MAGIC):
        raise _corrupt(filename, f"{filename} is not an ar archive")
    members: dict[str, bytes] = {}
    offset = len(_AR_MAGIC)
    while offset < len(data):
        header = data[offset : offset + _AR_HEADER]
        if len(header) < _AR_HEADER or header[58:60] != b"`\n":
            raise _corrupt(filename, f"{filename} is truncated or corrupt (bad ar header)")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise _corrupt(filename, f"{filename} is corrupt (bad ar member size)") from None
        start = offset + _AR_HEADER
        if start + size + (size & 1) > len(data):  # odd members are padded to even
            raise _corrupt(filename, f"{filename} is truncated ({name} ends past the end of file)")
        members[name] = data[start : start + size]
        offset = start + size + (size & 1)
    return members


def _decompress(name: str, blob: bytes, filename: str) -> bytes:
    try:
        if name.endswith(".gz"):
            return gzip.decompress(blob)
        if name.endswith(".xz"):
            return lzma.decompress(blob)
        if name.endswith(".bz2"):
            return bz2.decompress(blob)
        if name.endswith(".zst"):
            decompressor = zstandard.ZstdDecompressor().decompressobj()
            out = decompressor.decompress(blob)
            if not decompressor.eof:
                raise EOFError("zstd stream ended early")
            return out
        return blob
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error, zstandard.ZstdError) as e:
        raise _corrupt(filename, f"{filename} is truncated or corrupt ({name}: {e})") from e


def _member_tar(members: Mapping[str, bytes], stem: str, filename: str) -> tarfile.TarFile:
    for name, blob in members.items():
        if name == stem or (name.startswith(stem + ".") and name.count(".") == 2):
            if not name.endswith((".tar", ".gz", ".xz", ".zst", ".bz2")):
                raise _corrupt(filename, f"{filename} uses an unknown compression ({name})")
            raw = _decompress(name, blob, filename)
            try:
                return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
            except tarfile.TarError as error:
                raise _corrupt(filename, f"{filename} has a corrupt {name} ({error})") from error
    raise _corrupt(filename, f"{filename} has no {stem} member")


def _control_files(tar: tarfile.TarFile, filename: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        for info in tar:
            if info.isfile():
                handle = tar.extractfile(info)
                if handle is not None:
                    files[posixpath.basename(info.name)] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as error:
        raise _corrupt(filename, f"{filename} has a corrupt control.tar ({error})") from error
    return files


def normalize_member_path(name: str) -> str | None:
    """``./usr/bin/x/`` → ``usr/bin/x``; the root (``./``) → ``""``; ``None`` when the path is
    absolute or climbs out of the root with ``..``."""
    if name.startswith("/"):
        return None
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        parts.append(part)
    return "/".join(parts)


def _data_entries(tar: tarfile.TarFile, package: str, filename: str) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    try:
        for info in tar:
            entry = _entry(tar, info, package, filename)
            if entry is not None:
                entries.append(entry)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise _corrupt(filename, f"{filename} has a corrupt data.tar ({error})") from error
    return tuple(entries)


def _entry(
    tar: tarfile.TarFile, info: tarfile.TarInfo, package: str, filename: str
) -> Entry | None:
    path = normalize_member_path(info.name)
    if path is None:
        raise _corrupt(filename, f"{filename} ships {info.name!r}, a path outside the root")
    if path == "":
        return None  # the root directory itself

    def make(kind: EntryType, data: bytes = b"", target: str = "") -> Entry:
        return Entry(
            path,
            kind,
            info.mode & 0o7777,
            info.uid,
            info.gid,
            int(info.mtime),
            data,
            target,
            package,
        )

    if info.isdir():
        return make(EntryType.DIRECTORY)
    if info.issym():
        return make(EntryType.SYMLINK, target=info.linkname)
    if info.islnk():
        target = normalize_member_path(info.linkname)
        if not target:
            raise _corrupt(
                filename, f"{filename} hard-links {path} to {info.linkname!r}, outside root"
            )
        return make(EntryType.HARDLINK, target=target)
    if info.isfile():
        handle = tar.extractfile(info)
        data = handle.read() if handle is not None else b""
        if len(data) != info.size:
            raise _corrupt(filename, f"{filename} is truncated ({path} is short)")
        return make(EntryType.FILE, data=data)
    raise _corrupt(filename, f"{filename} ships {path}, a device node or fifo; packages may not")


def md5_hex(data: bytes) -> str:
    """The md5 dpkg records for a file's content."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
