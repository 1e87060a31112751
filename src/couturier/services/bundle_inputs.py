"""Reading the inputs of a bundle: files, directories and archives, within limits.

:func:`read_inputs` turns what a user names (files, directories walked without following links,
``.tar``, ``.tar.gz``/``.tgz``, ``.tar.xz``, ``.tar.bz2`` and ``.zip`` archives) into
:class:`~couturier.core.bundle.InputEntry` values, without extracting anything. Whatever an input
holds or its headers declare, reading stops early: archive members are read as streams, no
further than a bundle file may be (:data:`~couturier.core.bundle.MAX_FILE_SIZE` + 1 bytes),
within a budget of decompressed bytes, time and entries for the whole bundle, so a decompression
bomb or a member that declares gigabytes is refused at once and in little memory.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import itertools
import lzma
import os
import stat
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol, Self

from couturier.core.bundle import MAX_FILE_SIZE, MAX_FILES, InputEntry, InputEntryType
from couturier.core.spec import Violation

__all__ = ["MAX_ENTRIES", "MAX_READ_BYTES", "MAX_READ_SECONDS", "read_inputs"]

# Entries looked at in one input before giving up: a bundle holds 20 files, so an input with
# thousands of entries is a mistake (a wrong directory), not something to walk to its end.
MAX_ENTRIES = 1000
# Bytes read from all the inputs of one bundle, decompressed (what an archive's members and the
# headers between them amount to), and seconds spent reading: a bundle holds at most 20 MiB, so
# an input that needs more is refused instead of being read to its end (a decompression bomb,
# a member that declares gigabytes). Archive files larger than this are refused unread.
MAX_READ_BYTES = 32 * 1024 * 1024
MAX_READ_SECONDS = 10.0
# What an entry of a directory or a zip costs the budget, as a tar header does: entries summed
# over every input stay bounded (65,536 at most), whatever the number of inputs.
_ENTRY_COST = 512
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")
_AT_MOST = f"{MAX_FILES} files of {MAX_FILE_SIZE // (1024 * 1024)} MiB"
_LINK_MAX = 4097  # bytes read of a zip member holding a link: one past what a link may hold
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
# Bytes of a zip's central directory: 1000 entries with long names take a few hundred KiB.
_ZIP_DIRECTORY_MAX = 1024 * 1024
# What a damaged archive makes the standard library raise while it is read.
_ARCHIVE_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    ValueError,  # UnicodeDecodeError included
    OSError,  # gzip.BadGzipFile included
    NotImplementedError,
    RuntimeError,
    IndexError,
    KeyError,
    OverflowError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class _Spent(Exception):  # noqa: N818 - a budget is spent, not an error of the input's shape
    """The reading budget (bytes or time) ran out."""


class _Budget:
    """What reading one bundle's inputs may still cost: decompressed bytes and time."""

    def __init__(self, max_bytes: int, seconds: float) -> None:
        self.left = max_bytes
        self.deadline = time.monotonic() + seconds

    def spend(self, count: int) -> None:
        """Count ``count`` bytes read; raise :class:`_Spent` once the budget is gone."""
        self.left -= count
        if self.left < 0:
            raise _Spent(f"more than {MAX_READ_BYTES // (1024 * 1024)} MiB of content")
        if time.monotonic() > self.deadline:
            raise _Spent(f"more than {MAX_READ_SECONDS:g} s to read")


class _Metered(io.RawIOBase):
    """A read-only stream over ``inner`` that charges every byte it gives to ``budget``."""

    def __init__(self, inner: _Readable, budget: _Budget) -> None:
        self.inner = inner
        self.budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.inner.read(len(view))
        self.budget.spend(len(data))
        view[: len(data)] = data
        return len(data)


# Bytes of a tar's extended headers (pax records, GNU long names): paths of 4096 bytes and a
# few attributes take far less. tarfile reads such a header whole and makes a dict of its
# records, so 30 MB of tiny records would take some 350 MB.
_TAR_HEADER_MAX = 64 * 1024
_TAR_GLOBAL_MAX = 4 * 1024  # git archive writes one global header of some 50 bytes
_EXTENDED = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


def _bounded_tarinfo() -> type[tarfile.TarInfo]:
    """A class of tar headers for one archive, refusing before tarfile reads what follows: an
    extended header larger than :data:`_TAR_HEADER_MAX`, global extended headers larger than
    :data:`_TAR_GLOBAL_MAX` in all (tarfile copies them into every member that follows), and an
    old GNU sparse member (its map of holes may run on for any number of blocks)."""
    global_bytes = [0]

    class BoundedTarInfo(tarfile.TarInfo):
        @classmethod
        def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
            info = super().frombuf(buf, encoding, errors)
            if info.type in _EXTENDED and info.size > _TAR_HEADER_MAX:
                raise tarfile.ReadError(
                    f"an extended header of {info.size:,} bytes (at most {_TAR_HEADER_MAX:,})"
                )
            if info.type == tarfile.XGLTYPE:
                global_bytes[0] += info.size
                if global_bytes[0] > _TAR_GLOBAL_MAX:
                    raise tarfile.ReadError(
                        f"global extended headers of more than {_TAR_GLOBAL_MAX:,} bytes"
                    )
            if info.type == tarfile.GNUTYPE_SPARSE:
                raise tarfile.ReadError(f"{info.name} is an old GNU sparse file; store it whole")
            return info

    return BoundedTarInfo


def _decompressed(raw: IO[bytes]) -> _Readable:
    """``raw`` read through the decompressor its first bytes name (gzip, xz, bzip2), or as it
    is. Each of these reads at most what is asked of it (a bomb is never inflated whole)."""
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    return raw


def _read_at_most(handle: _Readable, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``handle``, however its reads are split."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = handle.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _zip_directory(path: Path) -> tuple[int, int] | None:
    """(entries, bytes) of a zip's central directory as its end records declare them (the zip64
    record when there is one, as zipfile reads it), or None when there is no end record
    (zipfile then says what is wrong). Read before zipfile lists the entries: it walks the whole
    directory, whatever count the end record gives."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        tail_size = min(size, 22 + 65535 + 20)
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) < at + 22:
            return None
        count, directory = struct.unpack_from("<HL", tail, at + 10)
        locator = at - 20
        if locator < 0 or tail[locator : locator + 4] != b"PK\x06\x07":
            return int(count), int(directory)
        offset: int = struct.unpack_from("<Q", tail, locator + 8)[0]
        if offset > size - 56:
            return None
        handle.seek(offset)
        record = handle.read(56)
        if record[:4] != b"PK\x06\x06":
            return None
        count64, directory64 = struct.unpack_from("<QQ", record, 32)
        return int(count64), int(directory64)


class _Reader:
    """Turns inputs into members; stops reading contents once more files than a bundle may hold
    have been read (their count is refused anyway), and reading altogether once the budget is
    spent."""

    def __init__(self, budget: _Budget) -> None:
        self.members: list[InputEntry] = []
        self.found: list[Violation] = []
        self.read = 0
        self.budget = budget

    def wanted(self) -> bool:
        """Whether the next file's content is still read."""
        return self.read <= MAX_FILES

    def content(self, handle: _Readable, *, charged: bool) -> tuple[bytes, bool]:
        """At most ``MAX_FILE_SIZE + 1`` bytes of ``handle`` (charged to the budget unless the
        stream under ``handle`` is ``charged`` already), and whether there was more than a
        bundle file may hold."""
        self.read += 1
        data = _read_at_most(handle, MAX_FILE_SIZE + 1)
        if not charged:
            self.budget.spend(len(data))
        return data, len(data) > MAX_FILE_SIZE

    def file_member(
        self,
        origin: str,
        name: str,
        mode: int,
        size: int,
        handle: _Readable | None,
        *,
        exact: bool,
        charged: bool = False,
    ) -> InputEntry:
        """A regular file's member, its content read from ``handle`` while contents are still
        wanted. ``size`` is what the file system (``exact``) or an archive header says; a
        header's size is never used as the member's size. ``charged``: the bytes of ``handle``
        are charged to the budget by the stream it reads (a tar's)."""
        if handle is None or not self.wanted():
            return InputEntry(origin, name, InputEntryType.FILE, mode, size if exact else 0)
        data, more = self.content(handle, charged=charged)
        if more:
            known = exact and size > MAX_FILE_SIZE
            shown = size if known else len(data)
            return InputEntry(origin, name, InputEntryType.FILE, mode, shown, truncated=not known)
        return InputEntry(origin, name, InputEntryType.FILE, mode, len(data), data)

    def add(self, member: InputEntry) -> None:
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
            elif not stat.S_ISREG(info.st_mode):
                kind = _special_kind(info.st_mode)
                self.add(InputEntry(origin, path.name, InputEntryType.SPECIAL, detail=kind))
            elif lowered.endswith((".zip", *_TAR_SUFFIXES)) and info.st_size > MAX_READ_BYTES:
                self.found.append(
                    Violation(
                        origin,
                        None,
                        f"is an archive of {info.st_size:,} bytes; a bundle holds at most "
                        f"{_AT_MOST}, archive only those",
                    )
                )
            elif lowered.endswith(".zip"):
                self.zip(path, origin)
            elif lowered.endswith(_TAR_SUFFIXES):
                self.tar(path, origin)
            else:
                with path.open("rb") as handle:
                    self.add(
                        self.file_member(
                            origin, path.name, info.st_mode, info.st_size, handle, exact=True
                        )
                    )
        except _Spent as spent:
            self.spent(origin, str(spent))
        except OSError as error:
            self.found.append(Violation(origin, None, f"cannot be read ({error.strerror})"))

    def spent(self, origin: str, what: str) -> None:
        self.found.append(
            Violation(
                origin,
                None,
                f"needs {what}; a bundle holds at most {_AT_MOST}, so reading stopped: name "
                "only the files it needs",
            )
        )

    def directory(self, root: Path, origin: str) -> None:
        entries = 0
        pending = [root]
        while pending:
            directory = pending.pop()
            with os.scandir(directory) as scan:
                items = sorted(
                    itertools.islice(scan, MAX_ENTRIES + 1 - entries), key=lambda e: e.name
                )
            for item in items:
                entries += 1
                if entries > MAX_ENTRIES:
                    self.too_many(origin)
                    return
                self.budget.spend(_ENTRY_COST)  # as a tar header: many inputs add up too
                self.directory_entry(root, origin, item, pending)

    def directory_entry(
        self, root: Path, origin: str, item: os.DirEntry[str], pending: list[Path]
    ) -> None:
        name = Path(item.path).relative_to(root).as_posix()
        info = item.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            self.add(InputEntry(origin, name, InputEntryType.DIRECTORY, info.st_mode))
            pending.append(Path(item.path))
        elif stat.S_ISLNK(info.st_mode):
            link = os.readlink(item.path)
            self.add(InputEntry(origin, name, InputEntryType.SYMLINK, link=link))
        elif stat.S_ISREG(info.st_mode):
            if not self.wanted():
                self.add(InputEntry(origin, name, InputEntryType.FILE, info.st_mode, info.st_size))
                return
            fd = os.open(item.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as handle:
                self.add(
                    self.file_member(origin, name, info.st_mode, info.st_size, handle, exact=True)
                )
        else:
            kind = _special_kind(info.st_mode)
            self.add(InputEntry(origin, name, InputEntryType.SPECIAL, detail=kind))

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
        """Walk a tar archive as one stream, decompressed as it is read and charged to the
        budget, so a member is read only as far as its real bytes go and no further than the
        budget allows, whatever its header declares."""
        try:
            with path.open("rb") as raw, contextlib.closing(_decompressed(raw)) as inner:
                stream = _Metered(inner, self.budget)
                tarinfo = _bounded_tarinfo()
                with tarfile.open(fileobj=stream, mode="r|", tarinfo=tarinfo) as archive:
                    for entries, info in enumerate(archive, start=1):
                        # A stream keeps every member it met, each with its pax headers.
                        archive.members.clear()  # type: ignore[attr-defined]
                        if entries > MAX_ENTRIES:
                            self.too_many(origin)
                            return
                        self.add(self.tar_member(archive, info, origin))
                        if info.size - (MAX_FILE_SIZE + 1) > self.budget.left:
                            # Skipping past it would spend the budget: stop before, not after.
                            self.spent(origin, f"{info.size:,} bytes for {info.name}")
                            return
        except _Spent as spent:
            self.spent(origin, str(spent))
        except _ARCHIVE_ERRORS as error:
            self.found.append(
                Violation(origin, None, f"is not a readable tar archive ({error or 'corrupt'})")
            )

    def tar_member(
        self, archive: tarfile.TarFile, info: tarfile.TarInfo, origin: str
    ) -> InputEntry:
        name = info.name
        if info.size < 0:  # base-256 lets a header say so; tarfile would then read garbage
            raise tarfile.ReadError(f"{name} declares a negative size")
        if info.isdir():
            return InputEntry(origin, name, InputEntryType.DIRECTORY, info.mode)
        if info.issym():
            return InputEntry(origin, name, InputEntryType.SYMLINK, link=info.linkname)
        if info.islnk():
            return InputEntry(origin, name, InputEntryType.HARDLINK, info.mode, link=info.linkname)
        if info.isreg():
            handle = archive.extractfile(info) if self.wanted() else None
            member = self.file_member(
                origin, name, info.mode, info.size, handle, exact=False, charged=True
            )
            wanted = min(info.size, MAX_FILE_SIZE + 1)
            if member.data is not None and len(member.data) < wanted:
                raise tarfile.ReadError(f"{name} is cut short")
            return member
        kinds = {
            tarfile.CHRTYPE: "a character device",
            tarfile.BLKTYPE: "a block device",
            tarfile.FIFOTYPE: "a FIFO",
        }
        detail = kinds.get(info.type, "an entry of an unsupported type")
        return InputEntry(origin, name, InputEntryType.SPECIAL, detail=detail)

    def zip(self, path: Path, origin: str) -> None:
        """Walk a zip archive: its entry count checked before they are listed, each member
        inflated only as far as :data:`MAX_FILE_SIZE` + 1 bytes (the sizes its headers declare
        are not trusted), every byte charged to the budget."""
        try:
            declared = _zip_directory(path)
            if declared is not None and (
                declared[0] > MAX_ENTRIES or declared[1] > _ZIP_DIRECTORY_MAX
            ):
                self.too_many(origin)
                return
            with zipfile.ZipFile(path) as archive:
                for entries, info in enumerate(archive.infolist(), start=1):
                    self.budget.spend(_ENTRY_COST)
                    if entries > MAX_ENTRIES:
                        self.too_many(origin)
                        return
                    self.add(self.zip_member(archive, info, origin))
        except _Spent as spent:
            self.spent(origin, str(spent))
        except _ARCHIVE_ERRORS as error:
            self.found.append(Violation(origin, None, f"is not a readable zip archive ({error})"))

    def zip_member(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, origin: str
    ) -> InputEntry:
        # Unix zip tools keep st_mode in the high half of the external attributes; others put 0.
        mode = info.external_attr >> 16 if info.create_system == 3 else 0
        name = info.filename
        if info.is_dir() or stat.S_ISDIR(mode):
            return InputEntry(origin, name, InputEntryType.DIRECTORY, mode)
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFLNK):
            return InputEntry(origin, name, InputEntryType.SPECIAL, detail=_special_kind(mode))
        if info.flag_bits & 0x1:
            detail = "it is encrypted; add it without a password"
            return InputEntry(origin, name, InputEntryType.FILE, size=info.file_size, detail=detail)
        if info.compress_type not in _ZIP_METHODS:
            detail = (
                f"it is compressed with method {info.compress_type}; write the zip with "
                "deflate (the default) or no compression"
            )
            return InputEntry(origin, name, InputEntryType.FILE, size=info.file_size, detail=detail)
        try:
            if stat.S_ISLNK(mode):
                with archive.open(info) as handle:
                    raw = _read_at_most(handle, _LINK_MAX)  # longer: refused, not cut
                self.budget.spend(len(raw))
                return InputEntry(
                    origin,
                    name,
                    InputEntryType.SYMLINK,
                    link=raw.decode("utf-8", "surrogateescape"),
                )
            if not self.wanted():
                return InputEntry(origin, name, InputEntryType.FILE, mode or 0o644)
            with archive.open(info) as handle:
                return self.file_member(origin, name, mode or 0o644, 0, handle, exact=False)
        except _Spent:
            raise
        except _ARCHIVE_ERRORS as error:
            detail = f"it is damaged: {error}"
            return InputEntry(origin, name, InputEntryType.FILE, size=0, detail=detail)


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


def read_inputs(inputs: Sequence[Path]) -> tuple[list[InputEntry], list[Violation]]:
    """The members of every input, and the violations met while reading them (an input that
    does not exist, a corrupt archive, too many entries, a reading budget spent).

    Limits: at most ``MAX_FILES + 1`` contents of at most ``MAX_FILE_SIZE + 1`` bytes each are
    kept; at most :data:`MAX_ENTRIES` entries per input are walked; at most
    :data:`MAX_READ_BYTES` decompressed bytes and :data:`MAX_READ_SECONDS` seconds are spent
    over all inputs; archives larger than :data:`MAX_READ_BYTES` are not opened. Never extracts
    anything to disk. Peak memory stays near the bytes kept (about 22 MiB).
    """
    reader = _Reader(_Budget(MAX_READ_BYTES, MAX_READ_SECONDS))
    for path in inputs:
        reader.input(path)
    if not inputs:
        reader.found.append(
            Violation("inputs", None, "name at least one file, directory or archive")
        )
    return reader.members, reader.found
