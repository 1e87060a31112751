"""Local files that are reused or half-written: hashing them, trusting them, sweeping leftovers.

**Hashing.** :func:`file_problem` reads a file once (1 MiB chunks) and says how it differs from
the blob it should be (size, sha256), or None when it is that blob.

**Stamps.** Hashing a 50 MB index snapshot each time a process opens it costs 40 ms; a stamp
lets a later reader skip it. :func:`verified_with_stamp` records, after a full hash, the file's
inode, size, mtime and ctime. A later check trusts the file without reading it when all four
are unchanged and the ctime was at least :data:`RACY_SECONDS` older than the moment the hash
started. That is sound against every change made through the file system: a write, a
truncation, an ``os.utime`` that resets the mtime (the kernel then sets the ctime to now, and no
call sets it back) or a replacement (another inode). The margin covers the granularity of file
times (a write in the same clock tick as the hash would leave the ctime unchanged; git calls
such entries "racily clean"). It is **not** sound against what bypasses the file system (bit
rot, a disk edited under it) or a clock set backwards: ``couturier cache verify`` always hashes
in full for those.

**Partial files.** A file or directory being written lives under a temporary name while its
writer holds an exclusive ``flock`` on it (:class:`Partial`), from creation until it is renamed
into place or removed. :func:`sweep_partials` removes the partial files of a directory that no
process holds, so a killed build's leftovers go away while a running build's downloads stay,
whichever process (or machine sharing the cache over a file system with ``flock``) runs it. A
sweeper that locks a new file between its creation and its writer's lock is noticed by the
writer (the name no longer refers to the inode it locked), which then starts over.

**Atomic writes.** :func:`atomic_write` replaces a file by new bytes through a :class:`Partial`
and a rename, so readers see the old file or the new one, never a part; by default the file and
its directory are fsynced, so the new file also survives a crash once the call returns.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

__all__ = [
    "RACY_SECONDS",
    "FileStamp",
    "Partial",
    "atomic_write",
    "file_problem",
    "fsync_directory",
    "is_partial_of",
    "sha256_file",
    "sweep_partials",
    "verified_with_stamp",
]

RACY_SECONDS = 2.0  # the coarsest file-time granularity in use (FAT: 2 s; ext3: 1 s)
_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and size of the file at ``path``. Raises :class:`OSError`."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def file_problem(path: Path, sha256: str, size: int | None = None) -> str | None:
    """How the file at ``path`` differs from the blob (``sha256``, ``size``) in words, e.g.
    ``has 12 bytes, expected 40``; None when it is that blob. A missing file "is missing".

    Cost: a ``stat``, then one read of the file unless its size is already wrong. Raises
    :class:`OSError` for a file that exists but cannot be read.
    """
    try:
        actual_size = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if size is not None and actual_size != size:
        return f"has {actual_size} bytes, expected {size}"
    actual, read = sha256_file(path)
    if size is not None and read != size:
        return f"has {read} bytes, expected {size}"
    if actual != sha256.lower():
        return f"has sha256 {actual}, expected {sha256.lower()}"
    return None


@dataclass(frozen=True)
class FileStamp:
    """What ``stat`` says of a file, enough to notice that it was changed or replaced."""

    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, stat: os.stat_result) -> FileStamp:
        return cls(stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _read_stamp(path: Path) -> tuple[FileStamp, str, int] | None:
    try:
        raw = json.loads(path.read_text())
        return FileStamp(**raw["stamp"]), str(raw["sha256"]), int(raw["verified_ns"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_stamp(path: Path, stamp: FileStamp, sha256: str, verified_ns: int) -> None:
    """Best effort, no fsync: a stamp lost in a crash only costs one more hash."""
    body = json.dumps({"stamp": asdict(stamp), "sha256": sha256, "verified_ns": verified_ns})
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        temp.write_text(body)
        temp.replace(path)
    except OSError:
        temp.unlink(missing_ok=True)


def verified_with_stamp(
    path: Path, sha256: str, stamp_path: Path, size: int | None = None
) -> str | None:
    """:func:`file_problem` for ``path``, skipping the read when the stamp at ``stamp_path``
    vouches for the file (see the module docstring for when it does and what that trusts).

    After a full hash that found the file sound, the stamp is (re)written unless the file is
    too new to be vouched for yet. Cost: two ``stat`` calls and a small read when the stamp
    holds; otherwise one read of the file. Raises :class:`OSError` for an unreadable file.
    """
    try:
        before = path.stat()
    except FileNotFoundError:
        return "is missing"
    current = FileStamp.of(before)
    recorded = _read_stamp(stamp_path)
    racy_ns = int(RACY_SECONDS * 1e9)
    if recorded is not None:
        stamp, recorded_sha, verified_ns = recorded
        if (
            stamp == current
            and recorded_sha == sha256.lower()
            and verified_ns - current.ctime_ns >= racy_ns
            and (size is None or current.size == size)
        ):
            return None
    started = time.time_ns()
    problem = file_problem(path, sha256, size)
    if problem is None and started - current.ctime_ns >= racy_ns:
        with contextlib.suppress(OSError):
            if FileStamp.of(path.stat()) == current:  # not changed while it was read
                _write_stamp(stamp_path, current, sha256.lower(), started)
    return problem


class Partial:
    """A file or directory at ``path``, created here and held under an exclusive ``flock`` until
    :meth:`close` (or the end of a ``with`` block, which also removes it if still there).

    Create with :meth:`file` or :meth:`directory`. The writer renames ``path`` into place (or
    leaves it) while holding the partial; the lock only tells sweepers it is in use. Raises
    :class:`OSError` when the file cannot be created.
    """

    def __init__(self, path: Path, fd: int, is_dir: bool) -> None:
        self.path = path
        self.is_dir = is_dir
        self._fd: int | None = fd

    @classmethod
    def file(cls, directory: Path, prefix: str, suffix: str = "", mode: int = 0o644) -> Partial:
        """A new empty file ``<directory>/<prefix><random><suffix>``, locked."""
        directory.mkdir(parents=True, exist_ok=True)
        while True:
            path = directory / f"{prefix}{secrets.token_hex(8)}{suffix}"
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
            except FileExistsError:
                continue
            held = cls._hold(path, fd, False)
            if held is not None:
                return held

    @classmethod
    def directory(cls, parent: Path, prefix: str) -> Partial:
        """A new empty directory ``<parent>/<prefix><random>`` (mode 0700), locked."""
        parent.mkdir(parents=True, exist_ok=True)
        while True:
            path = parent / f"{prefix}{secrets.token_hex(8)}"
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # swept before we could lock it
            held = cls._hold(path, fd, True)
            if held is not None:
                return held

    @classmethod
    def _hold(cls, path: Path, fd: int, is_dir: bool) -> Partial | None:
        """Lock ``fd``; None (and ``fd`` closed) when a sweeper removed ``path`` meanwhile."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                return cls(path, fd, is_dir)
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        return None

    def write(self, data: bytes, *, durable: bool = True) -> None:
        """Write ``data`` at the current offset of the file; with ``durable``, fsync it."""
        with os.fdopen(os.dup(self.fd), "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())

    @property
    def fd(self) -> int:
        """The locked descriptor (opened read-write for a file)."""
        if self._fd is None:
            raise ValueError(f"partial {self.path} is closed")
        return self._fd

    def remove(self) -> None:
        """Remove ``path`` if it is still there, then release the lock."""
        try:
            if self.is_dir:
                shutil.rmtree(self.path, ignore_errors=True)
            else:
                self.path.unlink(missing_ok=True)
        finally:
            self.close()

    def close(self) -> None:
        """Release the lock (after ``path`` was renamed into place or removed). Idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Partial:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


def fsync_directory(directory: Path) -> None:
    """fsync ``directory``, so that the names created or renamed in it survive a crash.
    Raises :class:`OSError`."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path,
    data: bytes,
    *,
    mode: int | None = None,
    durable: bool = True,
    staging: Path | None = None,
) -> None:
    """Replace the file at ``path`` by ``data`` so that readers see the old file or the new
    one, never a part.

    The bytes go to a partial file ``.<name>.<random>.tmp`` in ``staging`` (default: beside
    ``path``; it must be on the same file system), locked while it exists so that sweeps of
    leftovers leave it alone, which is then renamed over ``path``. ``mode`` sets the file's
    permissions regardless of the umask (default: 0644 less the umask). With ``durable`` the
    file is fsynced before the rename and its directory after it (best effort: some file
    systems refuse to fsync a directory). Raises :class:`OSError` (e.g. a full disk: ``path``
    is then unchanged and no partial file is left).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with Partial.file(staging or path.parent, f".{path.name}.", ".tmp") as partial:
        partial.write(data, durable=durable)
        if mode is not None:
            os.fchmod(partial.fd, mode)
        partial.path.replace(path)
    if durable:
        with contextlib.suppress(OSError):
            fsync_directory(path.parent)


def is_partial_of(name: str, target: str = "") -> bool:
    """Whether ``name`` is an :func:`atomic_write` partial file (of the file named ``target``,
    when given)."""
    return name.startswith(f".{target}." if target else ".") and name.endswith(".tmp")


def sweep_partials(directory: Path, match: Callable[[str], bool]) -> list[Path]:
    """Remove every entry of ``directory`` whose name ``match`` accepts and that no process
    holds (see :class:`Partial`); return what was removed.

    Entries held by a running writer, symbolic links and entries that vanish meanwhile are left
    alone. Cost: one ``listdir``, and an open and a non-blocking ``flock`` per matching entry.
    """
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed: list[Path] = []
    for entry in entries:
        if not match(entry.name) or entry.is_symlink():
            continue
        path = Path(entry.path)
        is_dir = entry.is_dir(follow_symlinks=False)
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_DIRECTORY if is_dir else 0)
        try:
            fd = os.open(path, flags)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue  # a writer holds it
                raise
            try:
                if os.stat(path, follow_symlinks=False).st_ino != os.fstat(fd).st_ino:
                    continue  # renamed away and the name reused meanwhile
            except FileNotFoundError:
                continue
            if is_dir:
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed
