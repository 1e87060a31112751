"""The family names of a starter's lines, matched against the queries of a search as you type.

:meth:`couturier.core.families.FamilyIndex.families` scans one catalog's names; a starter's
lines read several catalogs (three Debian releases for ``python``) whose names are mostly the
same. A :class:`FamilyNames` merges their searchable entries once (what a serving process keeps
with the starter's lines while their snapshots stay the same) and remembers the entries the
last query matched: a query that contains it (the next keystroke) can only match among those,
so typing a word scans all names once, at its first letter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from couturier.core.families import FamilyIndex

__all__ = ["FamilyNames"]


class FamilyNames:
    """The searchable (family, text) entries of several :class:`FamilyIndex` values, merged.

    Safe to share between threads: the last query's matches are swapped under a lock.
    """

    def __init__(self, indexes: Iterable[FamilyIndex]) -> None:
        merged: dict[tuple[str, str], None] = {}
        for index in indexes:
            merged.update(dict.fromkeys(index.searchable))
        self._entries = tuple(merged)
        self._lock = threading.Lock()
        self._last: tuple[str, tuple[tuple[str, str], ...]] = ("", self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def matching(self, needle: str) -> set[str]:
        """The families whose name or a package name contains ``needle`` (lowercase, not
        empty; see :func:`couturier.core.families.family_names_matching`), as the indexes'
        own :meth:`~FamilyIndex.families` would find them together. Cost: one substring test
        per entry, or per entry the last query matched when ``needle`` contains that query."""
        if "\t" in needle:
            return set()  # no package name holds one (it separates the names searched)
        with self._lock:
            last, pool = self._last
        if not last or last not in needle:
            pool = self._entries
        found = tuple(entry for entry in pool if needle in entry[1])
        with self._lock:
            self._last = (needle, found)
        return {family for family, _ in found}
