"""A content-addressed blob store: blobs named by their sha256, written once, atomically.

The registry content of an installation (layers, configs, manifests, indexes, SBOM payloads)
lives here, each blob once however many images share it; which repository references which
blob is the database's business (:mod:`couturier.store.registry`), not this module's.

:class:`LocalBlobStore` keeps ``<root>/sha256/<hex>`` (by default ``root`` is
``<data_dir>/blobs``, :func:`blob_store_dir`). A blob is written to a locked partial file in
``<root>/partial/`` (:class:`couturier.integrity.Partial`: a killed writer's leftovers are swept
by the next writer), hashed while it is written, fsynced, and renamed into place only when its
sha256 and size are the digest's: a name never holds anything else, and a reader sees the
whole blob or none. The file is then never rewritten; it goes only through :meth:`delete`
(garbage collection).

A blob damaged afterwards (bit rot, someone editing the directory) is found by :meth:`verify`
and by :meth:`open` / :meth:`path`, which check it against its name before handing it out (a
full hash the first time, then a stamp of its inode, size and times:
:func:`couturier.integrity.verified_with_stamp`), and raise :class:`IntegrityError` with code
``blob-damaged`` instead of serving it. Writing the same blob again repairs it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from couturier.errors import Code, InputError, IntegrityError
from couturier.integrity import Partial, fsync_directory, sweep_partials, verified_with_stamp

__all__ = ["SCRATCH", "BlobStore", "LocalBlobStore", "blob_store_dir", "check_digest"]

log = logging.getLogger(__name__)

# The store's own working directories under its root (partial files being written, the stamps
# of verified blobs): nothing in them is a blob, so a copy of the store leaves them out.
SCRATCH = frozenset({"partial", "stamps"})

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_CHUNK = 1 << 20
_PARTIAL_PREFIX = "blob-"


def blob_store_dir(data_dir: Path) -> Path:
    """Where an installation keeps its blobs: ``<data_dir>/blobs``."""
    return data_dir / "blobs"


def check_digest(digest: str) -> str:
    """``digest`` if it is ``sha256:`` and 64 lowercase hex digits (the only algorithm
    Couturier writes; OCI image spec, "Digests"); :class:`InputError` otherwise."""
    if not _DIGEST.fullmatch(digest):
        raise InputError(
            f"{digest[:80]!r} is not a sha256 digest",
            "a digest is sha256: and 64 lowercase hexadecimal digits",
            fields={"kind": "digest", "value": digest[:200]},
        )
    return digest


def _damaged(digest: str, path: Path, problem: str) -> IntegrityError:
    # The file's path is logged, not put in the fields: the API returns fields to tenants, and
    # where the data directory lies is the server's business.
    log.warning("stored blob %s at %s %s", digest, path, problem)
    return IntegrityError(
        f"stored blob {digest} {problem}: it is not served",
        "the next build that makes it writes it again",
        code=Code.BLOB_DAMAGED,
        fields={"digest": digest, "problem": problem},
    )


class BlobStore(Protocol):
    """Blobs by digest (``sha256:<hex>``). Thread-safe, and safe across processes sharing
    the store: every write is atomic and idempotent. Every method raises :class:`InputError`
    for a malformed digest."""

    def has(self, digest: str) -> bool:
        """Whether a blob of that name is stored (without checking its content)."""
        ...

    def size(self, digest: str) -> int | None:
        """The stored blob's size in bytes; None when absent."""
        ...

    def put_bytes(self, digest: str, data: bytes) -> None:
        """Store ``data`` as ``digest``. Raises :class:`IntegrityError` (``blob-damaged``) when
        ``data`` is not that blob, :class:`OSError` when it cannot be written."""
        ...

    def put_file(self, digest: str, source: Path) -> None:
        """Store the file ``source`` (a layer of the layer cache) as ``digest``, copied: the
        source may change later. Raises as :meth:`put_bytes`."""
        ...

    def put_stream(self, digest: str, stream: BinaryIO) -> None:
        """Store what ``stream`` reads to its end as ``digest``. Raises as :meth:`put_bytes`."""
        ...

    def path(self, digest: str) -> Path | None:
        """The read-only file of the blob, verified against its name; None when absent.
        Raises :class:`IntegrityError` (``blob-damaged``) for a damaged blob."""
        ...

    def open(self, digest: str) -> BinaryIO | None:
        """A binary stream of the verified blob (the caller closes it); None when absent.
        Raises as :meth:`path`."""
        ...

    def read(self, digest: str) -> bytes | None:
        """The whole verified blob; None when absent. Raises as :meth:`path`."""
        ...

    def delete(self, digest: str) -> bool:
        """Remove the blob; whether it was there."""
        ...

    def digests(self) -> Iterator[str]:
        """Every stored blob's digest, in no particular order."""
        ...

    def modified_ns(self, digest: str) -> int | None:
        """When the blob was last written or stored again (ns since the epoch); None when
        absent. Garbage collection spares blobs stored after a running build began."""
        ...

    def verify(self, digest: str) -> str | None:
        """How the stored blob differs from its name in words (full read, no stamp), or None
        when it is sound. Raises :class:`FileNotFoundError` when absent."""
        ...


class LocalBlobStore:
    """A :class:`BlobStore` in the directory ``root`` (made on the first write)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._swept = False

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    # -- names ------------------------------------------------------------------------------

    def _file(self, digest: str) -> Path:
        return self.root / "sha256" / check_digest(digest).removeprefix("sha256:")

    def _stamp(self, digest: str) -> Path:
        return self.root / "stamps" / digest.removeprefix("sha256:")

    def has(self, digest: str) -> bool:
        return self._file(digest).is_file()

    def size(self, digest: str) -> int | None:
        try:
            return self._file(digest).stat().st_size
        except FileNotFoundError:
            return None

    def modified_ns(self, digest: str) -> int | None:
        try:
            return self._file(digest).stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def digests(self) -> Iterator[str]:
        directory = self.root / "sha256"
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return
        for name in names:
            digest = f"sha256:{name}"
            if _DIGEST.fullmatch(digest):
                yield digest

    # -- writing ----------------------------------------------------------------------------

    def put_bytes(self, digest: str, data: bytes) -> None:
        self._put(digest, lambda write: write(data))

    def put_file(self, digest: str, source: Path) -> None:
        with source.open("rb") as stream:
            self.put_stream(digest, stream)

    def put_stream(self, digest: str, stream: BinaryIO) -> None:
        def copy(write: _Write) -> None:
            while chunk := stream.read(_CHUNK):
                write(chunk)

        self._put(digest, copy)

    def _put(self, digest: str, fill: _Fill) -> None:
        """Write a blob through a partial file; a sound blob already there is kept (and its
        time renewed, so that garbage collection sees it as just stored)."""
        target = self._file(digest)
        if target.is_file() and self._sound(digest, target):
            os.utime(target)
            return
        partials = self.root / "partial"
        if not self._swept:
            partials.mkdir(parents=True, exist_ok=True)
            sweep_partials(partials, lambda name: name.startswith(_PARTIAL_PREFIX))
            self._swept = True
        hasher = hashlib.sha256()
        size = 0
        with Partial.file(partials, _PARTIAL_PREFIX) as partial:
            with os.fdopen(os.dup(partial.fd), "wb") as handle:

                def write(chunk: bytes) -> None:
                    nonlocal size
                    hasher.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)

                fill(write)
                handle.flush()
                os.fsync(handle.fileno())
            actual = f"sha256:{hasher.hexdigest()}"
            if actual != digest:
                raise _damaged(digest, target, f"was handed {size} bytes of {actual}")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(partial.path, 0o444)
            os.replace(partial.path, target)
            self._stamp(digest).unlink(missing_ok=True)
            fsync_directory(target.parent)

    def _sound(self, digest: str, path: Path) -> bool:
        try:
            return self._problem(digest, path) is None
        except OSError:
            return False

    def _problem(self, digest: str, path: Path) -> str | None:
        stamps = self.root / "stamps"
        stamps.mkdir(parents=True, exist_ok=True)
        return verified_with_stamp(path, digest.removeprefix("sha256:"), self._stamp(digest))

    # -- reading ----------------------------------------------------------------------------

    def path(self, digest: str) -> Path | None:
        target = self._file(digest)
        if not target.is_file():
            return None
        problem = self._problem(digest, target)
        if problem == "is missing":
            return None
        if problem is not None:
            raise _damaged(digest, target, problem)
        return target

    def open(self, digest: str) -> BinaryIO | None:
        path = self.path(digest)
        if path is None:
            return None
        try:
            return path.open("rb")
        except FileNotFoundError:
            return None

    def read(self, digest: str) -> bytes | None:
        stream = self.open(digest)
        if stream is None:
            return None
        with stream:
            return stream.read()

    def verify(self, digest: str) -> str | None:
        target = self._file(digest)
        hasher = hashlib.sha256()
        with target.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                hasher.update(chunk)
        actual = f"sha256:{hasher.hexdigest()}"
        return None if actual == digest else f"has sha256 {actual.removeprefix('sha256:')}"

    def delete(self, digest: str) -> bool:
        target = self._file(digest)
        self._stamp(digest).unlink(missing_ok=True)
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        return True


class _Write(Protocol):
    def __call__(self, chunk: bytes, /) -> None: ...


class _Fill(Protocol):
    def __call__(self, write: _Write, /) -> None: ...
