"""Package families already worked out, kept by the installation for ``GET /v1/packages``.

What a family shows for a starter (the member each line installs, blocked or dependency-only)
depends only on the starter, the architecture and the index snapshots its lines' releases read:
choosing a member costs a resolution per line (tens of ms on a Debian release), and a search as
you type asks for the same families keystroke after keystroke. So a family's answer is kept
under those inputs (snapshots by their sha256, which a refresh changes when an index does) and
reused until they change; the oldest answers go first past :data:`LIMIT`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from couturier.debian.index import IndexCatalog
from couturier.services.families import StarterLines

__all__ = ["LIMIT", "FamilyMemo", "inputs_key"]

LIMIT = 20_000  # families kept: a few MB of answers


def inputs_key(lines: StarterLines, arch: str) -> Hashable | None:
    """What a family's answer depends on, besides its name: the starter (a digest of its
    definition, which a site may edit), ``arch``, and per line the sha256 of each snapshot its
    catalog reads. None when a catalog is not made of snapshots (nothing is kept then)."""
    snapshots = []
    for label, catalog in sorted(lines.catalogs.items()):
        if not isinstance(catalog, IndexCatalog):
            return None
        snapshots.append((label, tuple(part.index.sha256 for part in catalog.parts)))
    return (lines.starter.definition_digest, arch, tuple(snapshots))


class FamilyMemo:
    """Family answers (``family_json`` dictionaries, not to be changed by their readers) by
    (inputs key, family name), the least recently used dropped past ``limit``. Safe to share
    between threads: a lock guards the table."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[Hashable, str], dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

    def get(self, inputs: Hashable, family: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._kept.get((inputs, family))
            if found is not None:
                self._kept.move_to_end((inputs, family))
            return found

    def put(self, inputs: Hashable, family: str, answer: dict[str, Any]) -> None:
        with self._lock:
            self._kept[(inputs, family)] = answer
            self._kept.move_to_end((inputs, family))
            while len(self._kept) > self._limit:
                self._kept.popitem(last=False)
