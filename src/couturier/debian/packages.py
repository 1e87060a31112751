"""A fast reader of Debian control data (``Packages`` indexes, ``Release`` files, stanzas).

A ``Packages`` file is a sequence of stanzas separated by blank lines; each stanza is
``Field: value`` lines, where a line starting with a space or tab continues the previous field
(``Description``).

Speed is the point: bookworm's main index has 63k stanzas and ~1M fields. Building a dict of every
field costs about 0.6 s in pure Python however it is tokenized, so :func:`parse_packages` does not:
it splits the buffer into stanzas with ``bytes.split`` (C speed), pulls out ``Package``, ``Version``
and ``Architecture`` with ``bytes.find``, and wraps each stanza in :class:`StanzaFields`, a mapping
that parses the rest of its stanza (one compiled regex) the first time another field is read. A
resolver reads the relations of a few hundred packages, not of 63k.

Stanzas that do not have the canonical shape (``Package: `` first, ``Field: value`` spacing) take
the slow, fully general path at once, so odd spacing is parsed the same either way.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping

from couturier.core.catalog import Package

__all__ = ["StanzaFields", "iter_stanzas", "parse_packages", "parse_stanza", "stanza_core"]

# A field: name, colon, optional blanks, the rest of the line and every continuation line.
_FIELD = re.compile(r"^([^\s:#][^:\n]*?)[ \t]*:[ \t]*(.*(?:\n[ \t].*)*)", re.M)


def parse_stanza(raw: bytes | str) -> dict[str, str]:
    """Parse one stanza into ``{field: value}``; the general (and slower) path.

    Continuation lines are kept as written, joined by ``\\n`` (the first line of ``Description`` is
    the summary). Trailing blanks of a value are dropped. Never raises on malformed lines: a line
    that is neither a field nor a continuation is ignored, as dpkg's parser would reject it anyway.
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    fields: dict[str, str] = {}
    for name, value in _FIELD.findall(text):
        fields[name] = value.rstrip()
    return fields


def _line_value(stanza: bytes, start: int) -> str:
    end = stanza.find(b"\n", start)
    return (stanza[start:end] if end >= 0 else stanza[start:]).rstrip().decode()


def stanza_core(stanza: bytes) -> tuple[str, str, str | None] | None:
    """``(Package, Version, Architecture)`` of a canonical stanza by ``bytes.find``; None when the
    stanza does not have the canonical shape and must be parsed in full.
    """
    if not stanza.startswith(b"Package: "):
        return None
    name = _line_value(stanza, 9)
    v = stanza.find(b"\nVersion: ")
    if v < 0 or not name:
        return None
    version = _line_value(stanza, v + 10)
    a = stanza.find(b"\nArchitecture: ")
    arch = _line_value(stanza, a + 15) if a >= 0 else None
    return name, version, arch


class StanzaFields(Mapping[str, str]):
    """The fields of one stanza, parsed on first access to anything but the identity fields.

    ``Package``, ``Version`` and ``Architecture`` are answered from values found while splitting the
    index; any other access parses the stanza once with :func:`parse_stanza`.
    """

    __slots__ = ("_arch", "_fields", "_name", "_raw", "_version")

    def __init__(self, raw: bytes, name: str, version: str, arch: str | None) -> None:
        self._raw = raw
        self._name = name
        self._version = version
        self._arch = arch
        self._fields: dict[str, str] | None = None

    def _parsed(self) -> dict[str, str]:
        fields = self._fields
        if fields is None:
            fields = self._fields = parse_stanza(self._raw)
        return fields

    def __getitem__(self, key: str) -> str:
        if self._fields is None:
            if key == "Package":
                return self._name
            if key == "Version":
                return self._version
            if key == "Architecture" and self._arch is not None:
                return self._arch
        return self._parsed()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._parsed()

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsed())

    def __len__(self) -> int:
        return len(self._parsed())

    @property
    def raw(self) -> bytes:
        """The stanza as written in the index (without the separating blank line)."""
        return self._raw

    def __repr__(self) -> str:
        return f"StanzaFields({self._parsed()!r})"


def iter_stanzas(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(byte offset, stanza)`` for every non-empty stanza of ``data``.

    Splits on blank lines with ``bytes.split``; stanzas separated by several blank lines are
    yielded with their extra leading newlines stripped (the offset still points at the stanza).
    """
    offset = 0
    for piece in data.split(b"\n\n"):
        size = len(piece)
        if size:
            if piece[0] == 10:  # extra blank lines between stanzas
                stripped = piece.lstrip(b"\n")
                if stripped.strip():
                    yield offset + size - len(stripped), stripped
            elif piece.strip():
                yield offset, piece
        offset += size + 2


def parse_packages(data: bytes, origin: str = "") -> list[Package]:
    """Parse a decompressed ``Packages`` index into packages (in file order), lazily.

    Cost: one ``bytes.split`` and three ``bytes.find`` per stanza; the other fields of a package
    are parsed when first read. Stanzas without ``Package`` or ``Version`` are skipped.
    """
    # The loop only allocates (two objects per stanza, no cycles): the cyclic garbage collector
    # would walk the growing list again and again for nothing, a third of the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse_packages(data, origin)
    finally:
        if collecting:
            gc.enable()


def _parse_packages(data: bytes, origin: str) -> list[Package]:
    packages: list[Package] = []
    append = packages.append
    for piece in data.split(b"\n\n"):
        # The canonical shape, inlined because this loop runs once per stanza (63k in bookworm).
        if piece.startswith(b"Package: "):
            e = piece.find(b"\n", 9)
            v = piece.find(b"\nVersion: ", e)
            if e > 9 and v > 0:
                v += 10
                ve = piece.find(b"\n", v)
                a = piece.find(b"\nArchitecture: ")
                arch: str | None = None
                if a > 0:
                    a += 15
                    ae = piece.find(b"\n", a)
                    arch = (piece[a:ae] if ae > 0 else piece[a:]).rstrip().decode()
                name = piece[9:e].rstrip().decode()
                version = (piece[v:ve] if ve > 0 else piece[v:]).rstrip().decode()
                fields = StanzaFields(piece, name, version, arch)
                append(Package(fields, origin, (name, version, arch or "all")))
                continue
        if not piece.strip():
            continue
        parsed = parse_stanza(piece)
        if "Package" in parsed and "Version" in parsed:
            append(Package(parsed, origin))
    return packages
