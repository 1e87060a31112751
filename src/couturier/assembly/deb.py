"""Read a binary ``.deb`` in pure Python: its control fields, conffiles, md5sums and data entries.

A ``.deb`` is an ``ar`` archive of ``debian-binary`` (``2.0``), ``control.tar[.gz|.xz|.zst]`` and
``data.tar[.gz|.xz|.zst|.bz2]``. Nothing in it is executed; maintainer scripts are only read.
Paths come back as the package writes them, normalized (``./bin/sh`` → ``bin/sh``), *before* any
merged-/usr rewriting: :mod:`couturier.assembly.assemble` does that and the dpkg database records
these original paths.

Everything is held in memory (the packages of a minimal image are small). Cost: one decompression
of each member; the data archive, when it is the plain tar ``dpkg-deb`` writes, is then read by a
few slices per member (:func:`_plain_members`), anything else by ``tarfile``, with the same
answers. Raises :class:`~couturier.errors.IntegrityError` naming the file for anything that
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
    data_name, data_raw = _member_raw(members, "data.tar", filename)
    plain = _plain_members(data_raw)
    # tarfile reads what the plain reader leaves; opened here, a first header it refuses is
    # reported before anything of the control archive, as ever.
    data_tar = _open_tar(data_raw, data_name, filename) if plain is None else None
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
    entries = _data_entries(plain, data_tar, control["Package"], filename)
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


def _member_raw(members: Mapping[str, bytes], stem: str, filename: str) -> tuple[str, bytes]:
    """The name of the member ``stem`` (``data.tar``, ``control.tar``, with or without a
    compression suffix) and its decompressed bytes."""
    for name, blob in members.items():
        if name == stem or (name.startswith(stem + ".") and name.count(".") == 2):
            if not name.endswith((".tar", ".gz", ".xz", ".zst", ".bz2")):
                raise _corrupt(filename, f"{filename} uses an unknown compression ({name})")
            return name, _decompress(name, blob, filename)
    raise _corrupt(filename, f"{filename} has no {stem} member")


def _open_tar(raw: bytes, name: str, filename: str) -> tarfile.TarFile:
    try:
        return tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    except tarfile.TarError as error:
        raise _corrupt(filename, f"{filename} has a corrupt {name} ({error})") from error


def _member_tar(members: Mapping[str, bytes], stem: str, filename: str) -> tarfile.TarFile:
    name, raw = _member_raw(members, stem, filename)
    return _open_tar(raw, name, filename)


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


def _data_entries(
    plain: list[_Member] | None, tar: tarfile.TarFile | None, package: str, filename: str
) -> tuple[Entry, ...]:
    """The entries of the data archive: its members as :func:`_plain_members` read them when
    it is the plain USTAR/GNU tar ``dpkg-deb`` writes, else (PAX headers, base-256 numbers,
    other member types, a bad checksum, a truncation...) as ``tarfile`` reads them; where the
    plain reader answers, it answers what ``tarfile`` would (tested on mangled archives)."""
    if plain is not None:
        return tuple(
            entry for member in plain if (entry := _entry(member, package, filename)) is not None
        )
    assert tar is not None
    return _tarfile_entries(tar, package, filename)


def _tarfile_entries(tar: tarfile.TarFile, package: str, filename: str) -> tuple[Entry, ...]:
    entries: list[Entry] = []
    try:
        for info in tar:
            data = b""
            if info.isfile():
                handle = tar.extractfile(info)
                data = handle.read() if handle is not None else b""
            kind, mtime, mode, link = _tar_kind(info), int(info.mtime), info.mode, info.linkname
            member = (info.name, kind, mode, info.uid, info.gid, mtime, link, data, info.size)
            entry = _entry(member, package, filename)
            if entry is not None:
                entries.append(entry)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise _corrupt(filename, f"{filename} has a corrupt data.tar ({error})") from error
    return tuple(entries)


def _tar_kind(info: tarfile.TarInfo) -> bytes:
    """The type ``_entry`` takes for a member ``tarfile`` read: every regular variant as ``0``."""
    if info.isdir():
        return tarfile.DIRTYPE
    if info.issym():
        return tarfile.SYMTYPE
    if info.islnk():
        return tarfile.LNKTYPE
    return _REGULAR if info.isfile() else b"?"


_BLOCK = tarfile.BLOCKSIZE
_ZERO_BLOCK = bytes(_BLOCK)
_REGULAR = tarfile.REGTYPE
_KNOWN_TYPES = (tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE)
_ENCODING = tarfile.ENCODING  # what TarFile decodes names with (errors: surrogateescape)
# (name, type, mode, uid, gid, mtime, linkname, data, size): one member, as _entry takes it.
_Member = tuple[str, bytes, int, int, int, int, str, bytes, int]


def _nts(field: bytes) -> str:
    """A NUL-terminated string field, decoded as ``tarfile`` decodes it."""
    return field.partition(b"\0")[0].decode(_ENCODING, "surrogateescape")


def _octal(field: bytes) -> int:
    """A numeric field as ``tarfile`` reads an octal one (``ValueError`` for anything else,
    base-256 included: the caller then leaves the archive to ``tarfile``)."""
    text = field.partition(b"\0")[0]
    if not text.isascii():
        raise ValueError("not an octal field")
    return int(text.strip() or b"0", 8)


def _plain_members(raw: bytes) -> list[_Member] | None:
    """The members of ``raw`` when it is a plain tar of regular files (type ``0``), directories,
    symbolic and hard links, with GNU long names and link targets (``L``, ``K``), ending in a
    zero block; None for anything else, which ``tarfile`` then reads. Where it answers, it
    answers what ``tarfile`` would: the same names (long names, a directory's trailing slashes
    removed), numbers and contents. Cost: one slice per member, no per-member objects."""
    members: list[_Member] = []
    offset, end = 0, len(raw)
    long_name: str | None = None
    long_link: str | None = None
    try:
        while True:
            if offset + _BLOCK > end:
                return None  # no end-of-archive block: tarfile decides what that means
            header = raw[offset : offset + _BLOCK]
            if header == _ZERO_BLOCK:
                if offset == 0 or long_name is not None or long_link is not None:
                    return None
                return members
            checksum = _octal(header[148:156])
            if checksum != 256 + sum(header[:148]) + sum(header[156:]):
                return None  # tarfile also accepts a signed sum, or ends the archive here
            kind = header[156:157]
            # Every number parses, or tarfile refuses the header (devmajor and devminor too).
            mode, uid, gid = (_octal(header[a : a + 8]) for a in (100, 108, 116))
            size, mtime = _octal(header[124:136]), _octal(header[136:148])
            _octal(header[329:337])
            _octal(header[337:345])
            padded = -(-size // _BLOCK) * _BLOCK
            if kind in (b"L", b"K"):
                if (long_name if kind == b"L" else long_link) is not None:
                    return None  # the first of two wins in tarfile: leave it that case
                text = raw[offset + _BLOCK : offset + _BLOCK + padded]
                if len(text) != padded:
                    return None
                if kind == b"L":
                    long_name = _nts(text)
                else:
                    long_link = _nts(text)
                offset += _BLOCK + padded
                continue
            if kind not in _KNOWN_TYPES or header[345] != 0:
                return None  # other types, or a USTAR prefix (tarfile joins it to the name)
            name = _nts(header[0:100])
            if kind == tarfile.DIRTYPE:
                name = name.rstrip("/")
            if long_name is not None:
                name = long_name.removesuffix("/") if kind == tarfile.DIRTYPE else long_name
            link = _nts(header[157:257]) if long_link is None else long_link
            long_name = long_link = None
            data = b""
            offset += _BLOCK
            if kind == _REGULAR:
                data = raw[offset : offset + size]
                if len(data) != size:
                    return None
                offset += padded
            members.append((name, kind, mode, uid, gid, mtime, link, data, size))
    except ValueError:
        return None


def _entry(member: _Member, package: str, filename: str) -> Entry | None:
    """The entry of one member (its type: a tar type, regular files as ``0`` whatever the
    variant, ``?`` for a type no package may ship)."""
    name, kind, mode, uid, gid, mtime, linkname, data, size = member
    path = normalize_member_path(name)
    if path is None:
        raise _corrupt(filename, f"{filename} ships {name!r}, a path outside the root")
    if path == "":
        return None  # the root directory itself

    def make(entry_type: EntryType, content: bytes = b"", target: str = "") -> Entry:
        return Entry(path, entry_type, mode & 0o7777, uid, gid, mtime, content, target, package)

    if kind == tarfile.DIRTYPE:
        return make(EntryType.DIRECTORY)
    if kind == tarfile.SYMTYPE:
        return make(EntryType.SYMLINK, target=linkname)
    if kind == tarfile.LNKTYPE:
        target = normalize_member_path(linkname)
        if not target:
            raise _corrupt(filename, f"{filename} hard-links {path} to {linkname!r}, outside root")
        return make(EntryType.HARDLINK, target=target)
    if kind == _REGULAR:
        if len(data) != size:
            raise _corrupt(filename, f"{filename} is truncated ({path} is short)")
        return make(EntryType.FILE, data)
    raise _corrupt(filename, f"{filename} ships {path}, a device node or fifo; packages may not")


def md5_hex(data: bytes) -> str:
    """The md5 dpkg records for a file's content."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
