"""A ``Packages`` index read as its bytes arrive: hashed, decompressed, written and indexed.

:class:`IndexDownload` is the file-like object a :class:`~couturier.debian.transport.Transport`
streams a compressed (or plain) index into (``get_to``). Each chunk is hashed as sent,
decompressed, hashed again, written to a partial file of the snapshot store and fed to an
:class:`IndexBuilder`, so nothing waits for the whole body and memory stays bounded by a chunk
(plus the lookup index itself), whatever the index's size. :meth:`IndexDownload.verified` then
checks the compressed and the decompressed size and sha256 against what the verified
``InRelease`` lists; nothing of it is used before that check passed (the partial file is only
renamed into the store by :meth:`~couturier.debian.snapshots.SnapshotStore.commit`).

Decompressed output is capped at the plain index's listed size plus one byte: a body that
expands past it (a decompression bomb) is refused as soon as it does.

:class:`IndexBuilder` makes the ``.idx`` lookup data (name → stanza offsets, provided name →
providers, sorted names) from pieces of the text in arrival order; only what lookups need is
read of each stanza (its ``Package`` line, whether it has a ``Version``, its ``Provides``).
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import zlib
from collections.abc import Callable
from itertools import accumulate
from typing import Any, Protocol, cast

from isal import isal_zlib

from couturier.debian.inrelease import IndexEntry
from couturier.debian.packages import parse_stanza, stanza_core
from couturier.errors import Code, IntegrityError

__all__ = ["INDEX_FORMAT", "Decompressor", "IndexBuilder", "IndexDownload", "build_index"]

INDEX_FORMAT = 4
_PROVIDES_NAME = re.compile(rb"(?:^|,)\s*([a-z0-9][a-z0-9+.\-]*)")
# isal's stub types ``error`` as an instance; it is the class of its errors.
_ISAL_ERROR = cast(type[Exception], isal_zlib.error)
# Decompressed output per call: bounds memory however well a chunk compresses.
_OUT_CHUNK = 1 << 20


class Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


def gzip_decompressor() -> Decompressor:
    """ISA-L's inflate (the ``isal`` Couturier already pins for layers): about 1.7x zlib's
    speed on Debian's indexes."""
    return isal_zlib.decompressobj(wbits=31)


def xz_decompressor() -> Decompressor:
    return lzma.LZMADecompressor()


def zlib_gzip_decompressor() -> Decompressor:
    return zlib.decompressobj(wbits=31)


class IndexBuilder:
    """The lookup data of a ``Packages`` text fed in pieces (:meth:`feed`), in order.

    Offsets and names are exactly those of splitting the whole text on blank lines at once.
    Cost: one ``bytes.split`` per piece and a few ``bytes.find`` per stanza; a stanza is parsed
    in full only when it is not of the canonical shape or has ``Provides``.
    """

    def __init__(self) -> None:
        # The text after the last blank line seen, in pieces: joined only once a blank line
        # arrives, so a hostile text without one costs linear time, not quadratic.
        self._carry: list[bytes] = []
        self._offset = 0  # where ``_carry`` starts in the text
        self._names: dict[str, list[int]] = {}
        self._provides: dict[str, list[str]] = {}

    def feed(self, data: bytes) -> None:
        if not data:
            return
        carry = self._carry
        if carry and b"\n\n" not in data and not (carry[-1][-1:] == b"\n" == data[:1]):
            carry.append(data)
            return
        buffer = b"".join([*carry, data]) if carry else data
        pieces = buffer.split(b"\n\n")
        last = pieces.pop()
        self._carry = [last] if last else []
        # Each step over all stanzas at once (comprehensions, C-level calls): this runs once
        # per stanza, 63k times for bookworm. The canonical shape (``Package: `` first, a
        # ``Version: `` line) is read here; any other stanza takes the general path.
        starts = list(accumulate([len(piece) + 2 for piece in pieces], initial=self._offset))
        self._offset = starts.pop()
        canonical = [piece.startswith(b"Package: ") and b"\nVersion: " in piece for piece in pieces]
        names = [
            piece[9 : piece.find(b"\n", 9)].rstrip().decode() if fast else ""
            for piece, fast in zip(pieces, canonical, strict=True)
        ]
        table = self._names
        for name, start, piece, fast in zip(names, starts, pieces, canonical, strict=True):
            if not fast or not name:
                self._add(start, piece)
                continue
            found = table.get(name)
            if found is None:
                table[name] = [start]
            else:
                found.append(start)
            provides = piece.find(b"\nProvides:")
            if provides >= 0:
                self._provide(name, _field_text(piece, provides + 10))

    def finish(self) -> dict[str, Any]:
        """The ``.idx`` data (without the snapshot's sha256, which the caller adds)."""
        self._add(self._offset, b"".join(self._carry))
        self._carry = []
        names, provides = self._names, self._provides
        return {
            "format": INDEX_FORMAT,
            "names": {k: v[0] if len(v) == 1 else tuple(v) for k, v in names.items()},
            "provides": {k: v[0] if len(v) == 1 else tuple(v) for k, v in provides.items()},
            "sorted_names": sorted(names),
        }

    def _add(self, offset: int, piece: bytes) -> None:
        if not piece:
            return
        if piece[0] == 10:  # extra blank lines between stanzas
            stripped = piece.lstrip(b"\n")
            offset += len(piece) - len(stripped)
            piece = stripped
        if not piece.strip():
            return
        name = _name(piece)
        if name is None:
            return
        found = self._names.get(name)
        if found is None:
            self._names[name] = [offset]
        else:
            found.append(offset)
        provides = piece.find(b"\nProvides:")
        if provides >= 0:
            self._provide(name, _field_text(piece, provides + 10))

    def _provide(self, name: str, text: bytes) -> None:
        for provided in _PROVIDES_NAME.findall(text):
            providers = self._provides.setdefault(provided.decode(), [])
            if name not in providers:
                providers.append(name)


def _field_text(stanza: bytes, start: int) -> bytes:
    """The value of the field whose text starts at ``start``, with its continuation lines."""
    end = stanza.find(b"\n", start)
    while end >= 0 and stanza[end + 1 : end + 2] in (b" ", b"\t"):
        end = stanza.find(b"\n", end + 1)
    return stanza[start:end] if end >= 0 else stanza[start:]


def _name(stanza: bytes) -> str | None:
    """The package name of a stanza that also has a version; None for one that has not."""
    if stanza.startswith(b"Package: "):
        end = stanza.find(b"\n", 9)
        name = (stanza[9:end] if end >= 0 else stanza[9:]).rstrip()
        if name and b"\nVersion: " in stanza:
            return name.decode()
    core = stanza_core(stanza)
    if core is not None:
        return core[0]
    fields = parse_stanza(stanza)
    return fields["Package"] if "Package" in fields and "Version" in fields else None


def build_index(data: bytes) -> dict[str, Any]:
    """The lookup data of a whole ``Packages`` text (see :class:`IndexBuilder`)."""
    builder = IndexBuilder()
    builder.feed(data)
    return builder.finish()


class IndexDownload:
    """A writable, rewindable sink for one index download (see the module docstring).

    ``unpack`` makes the decompressor (None: the index is sent plain); ``fd`` is the partial
    file the decompressed text goes to; ``limit`` the plain index's listed size (None when the
    Release lists only compressed variants). A :class:`Transport` rewinds it (``seek(0)`` and
    ``truncate()``) before a retried attempt. :meth:`write` raises only :class:`OSError` (a
    failed write of the partial file); :meth:`check` refuses a body InRelease does not list.
    """

    def __init__(
        self,
        fd: int,
        unpack: Callable[[], Decompressor] | None,
        limit: int | None,
        suite: str,
    ) -> None:
        self._fd = fd
        self._unpack = unpack
        self._limit = limit
        self._suite = suite  # for errors
        self.reset()

    def reset(self) -> None:
        self.sent = hashlib.sha256()
        self.sent_size = 0
        self.text = hashlib.sha256()
        self.text_size = 0
        self.index = IndexBuilder()
        self._decompressor = self._unpack() if self._unpack is not None else None
        self._ended = False
        self.broken = ""  # why the body does not decompress
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)

    # The file-like methods a Transport's get_to uses.
    def tell(self) -> int:
        return self.sent_size

    def seek(self, offset: int, whence: int = 0) -> int:
        if (offset, whence) != (0, 0):
            raise ValueError("an index download can only be rewound")
        self.reset()
        return 0

    def truncate(self, size: int | None = None) -> int:
        return 0  # seek(0) already started over

    def write(self, chunk: bytes) -> int:
        self.sent.update(chunk)
        self.sent_size += len(chunk)
        if self._decompressor is None:
            self._text(chunk)
        else:
            self._inflate(chunk)
        return len(chunk)

    def _inflate(self, data: bytes) -> None:
        pending = True
        try:
            while (data or pending) and not self._over and not self.broken:
                if self._ended:
                    if not data:
                        return
                    # Another stream concatenated after the first, as ``xz`` and ``gzip`` allow.
                    self._decompressor = self._unpack() if self._unpack is not None else None
                    self._ended = False
                decompressor = self._decompressor
                assert decompressor is not None
                room = _OUT_CHUNK if self._limit is None else self._limit + 1 - self.text_size
                asked = max(1, min(_OUT_CHUNK, room))
                part = decompressor.decompress(data, asked)
                self._text(part)
                if decompressor.eof:
                    self._ended = True
                    data, pending = decompressor.unused_data, False
                elif hasattr(decompressor, "unconsumed_tail"):  # zlib's: input left over
                    data = getattr(decompressor, "unconsumed_tail", b"")
                    pending = bool(data) or len(part) == asked  # output may be held back
                else:  # lzma's: input kept inside, output pending while it needs none
                    data, pending = b"", not getattr(decompressor, "needs_input", True)
        except (lzma.LZMAError, EOFError, zlib.error, _ISAL_ERROR, ValueError) as error:
            # Said after the compressed body's own checks: a tampered body is named as such.
            self.broken = str(error) or type(error).__name__

    @property
    def _over(self) -> bool:
        """Whether more text came than the plain index's listed size: nothing more is
        decompressed, the size check refuses it."""
        return self._limit is not None and self.text_size > self._limit

    def _text(self, part: bytes) -> None:
        if not part:
            return
        if self._limit is not None and self.text_size + len(part) > self._limit + 1:
            part = part[: self._limit + 1 - self.text_size]
        self.text.update(part)
        self.text_size += len(part)
        view = memoryview(part)
        while view:
            view = view[os.write(self._fd, view) :]
        self.index.feed(part)

    def check(self, sent: IndexEntry, plain: IndexEntry | None) -> None:
        """Refuse the body unless it is what InRelease lists: the ``sent`` file's size and
        sha256, then that it decompresses, to its end, into the ``plain`` index's size and
        sha256 (when listed). Raises :class:`IntegrityError` (``download-hash-mismatch``,
        ``download-corrupt``) with the suite, the file and what differs."""
        _match(self.sent_size, self.sent.hexdigest(), sent, self._suite, sent.path)
        reason = self.broken
        if not reason and not self._over and not (self._decompressor is None or self._ended):
            reason = "the compressed data ends before its end-of-stream marker"
        if reason:
            raise IntegrityError(
                f"{self._suite}: {sent.path} does not decompress: {reason}",
                "the mirror serves a corrupt file; run the refresh again later",
                code=Code.DOWNLOAD_CORRUPT,
                fields={"suite": self._suite, "file": sent.path, "reason": reason},
            )
        if plain is not None:
            what = f"{sent.path} (decompressed)"
            _match(self.text_size, self.text.hexdigest(), plain, self._suite, what)


def _match(size: int, sha256: str, entry: IndexEntry, suite: str, what: str) -> None:
    fields = {
        "suite": suite,
        "file": what,
        "expected_size": entry.size,
        "actual_size": size,
        "expected_sha256": entry.sha256,
        "actual_sha256": sha256,
    }
    if size != entry.size:
        raise IntegrityError(
            f"{suite}: {what} has {size} bytes, InRelease lists {entry.size} "
            "(truncated or modified)",
            "the mirror may be mid-update or corrupt; run the refresh again later",
            code=Code.DOWNLOAD_HASH_MISMATCH,
            fields=fields,
        )
    if sha256 != entry.sha256:
        raise IntegrityError(
            f"{suite}: {what} has sha256 {sha256}, InRelease lists {entry.sha256} (tampered or "
            "corrupt)",
            "the mirror or a proxy serves wrong data; run the refresh again or use another mirror",
            code=Code.DOWNLOAD_HASH_MISMATCH,
            fields=fields,
        )
