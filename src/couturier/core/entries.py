"""Filesystem entries: what layer assembly produces and layer writing consumes.

An image layer is an ordered set of :class:`Entry` values, one per path. Paths are relative to the
image root, without a leading slash (``usr/bin/python3``), already merged-/usr rewritten. Owners are
numeric; ``mtime`` is clamped by the writer, not here. File contents are held as bytes (the
packages of a minimal image fit in memory) or as a reference into the fetch cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Entry", "EntryType"]


class EntryType(Enum):
    """The kinds of entries a layer may hold; devices and fifos are never produced."""

    FILE = "file"
    DIRECTORY = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"


@dataclass(frozen=True, slots=True)
class Entry:
    """One path of a layer.

    ``data`` is the content of a FILE; ``target`` is the link target of a SYMLINK (as written) or
    the root-relative path of a HARDLINK's original; ``owner`` is the package that put it there
    (``None`` for generated files), used for conflict errors and the dpkg file lists.
    """

    path: str
    type: EntryType
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    data: bytes = b""
    target: str = ""
    owner: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.type is EntryType.FILE else 0
