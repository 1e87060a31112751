"""Catalogs, family indexes and starter lines kept by a serving process between requests.

Every request of ``GET /v1/packages`` (a search as you type sends one per keystroke) would
otherwise open each release's catalog anew: a new :class:`~couturier.debian.index.IndexCatalog`
has none of the stanzas its predecessor parsed, its family indexes (keyed by the catalog
object, :class:`~couturier.core.families.FamilyIndexes`) are built again (tens of ms for a
Debian release), and the starter is resolved again on each line. What these depend on is
only the snapshots the catalog reads (immutable, named by their sha256) and the starter's
definition, so a :class:`KeptCatalogs` hands out the catalog it kept while a freshly loaded
one reads the same snapshots, and the starter lines worked out on those catalogs (with their
family names merged, :class:`~couturier.core.family_names.FamilyNames`). A refresh
that changes a snapshot changes the catalog's identity: the new catalog replaces the kept one
(and its indexes, weakly keyed, go with it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from couturier.core.families import FamilyIndexes, line_labels
from couturier.core.family_names import FamilyNames
from couturier.core.starter import Starter
from couturier.debian.index import IndexCatalog
from couturier.services import families as family_service
from couturier.services.families import StarterLines

if TYPE_CHECKING:
    from couturier.services.context import CatalogContext

__all__ = ["LINES_LIMIT", "KeptCatalogs", "catalog_identity"]

LINES_LIMIT = 64  # starter x architecture x snapshot sets: a few starters' lines each


def catalog_identity(catalog: IndexCatalog) -> Hashable:
    """What a catalog's packages are made of: its release, architecture, the (origin,
    snapshot sha256, mirror root) of each part in order, and the suites it lacks."""
    parts = tuple((part.origin, part.index.sha256, part.root) for part in catalog.parts)
    return (catalog.release, catalog.architecture, parts, catalog.missing_suites)


class KeptCatalogs:
    """The newest catalog seen per (release, architecture), the family indexes of the kept
    catalogs (``families``) and the :class:`StarterLines` worked out on them, for one serving
    process (an :class:`~couturier.services.installation.Installation` owns one).

    Safe to share between threads: a lock guards the tables; work (loading, resolving) happens
    outside it, so two threads may do the same work at once and the first stored wins. A kept
    catalog's caches only grow by what requests read (parsed stanzas), bounded by its snapshots.
    """

    def __init__(self, lines_limit: int = LINES_LIMIT) -> None:
        self._lock = threading.Lock()
        self._catalogs: dict[tuple[str, str], IndexCatalog] = {}
        # (starter digest, arch, ((release, catalog identity), ...)) -> lines.
        self._lines: OrderedDict[tuple[str, str, tuple[Any, ...]], StarterLines] = OrderedDict()
        self._lines_limit = lines_limit
        self.families = FamilyIndexes()

    def same(self, loaded: IndexCatalog) -> IndexCatalog:
        """The kept catalog when it reads the same snapshots as ``loaded`` (its caches warm),
        else ``loaded``, kept from now on in place of the older one."""
        key = (loaded.release, loaded.architecture)
        identity = catalog_identity(loaded)
        with self._lock:
            kept = self._catalogs.get(key)
            if kept is not None:
                old = catalog_identity(kept)
                if old == identity:
                    return kept
                # The starter lines worked out on the replaced catalog go with it: nothing
                # asks for them again, and they would keep its parsed stanzas in memory.
                for stale in [k for k in self._lines if (loaded.release, old) in k[2]]:
                    del self._lines[stale]
            self._catalogs[key] = loaded
            return loaded

    def starter_lines(self, context: CatalogContext, starter: Starter, arch: str) -> StarterLines:
        """:func:`couturier.services.families.starter_lines` of ``starter`` on ``arch``, kept
        while the catalogs of its lines' releases (loaded through ``context``, whose catalog
        source should hand out this keeper's catalogs) read the same snapshots. Cost when kept:
        loading each release's catalog (its state files checked), no resolution. Raises what
        loading a catalog or :func:`~couturier.services.families.starter_lines` raises."""
        releases = [
            release
            for release in dict.fromkeys(line.release for line in starter.lines)
            if release in context.settings.releases
        ]
        current = tuple((r, catalog_identity(context.catalogs(r, arch))) for r in releases)
        key = (starter.definition_digest, arch, current)
        with self._lock:
            found = self._lines.get(key)
            if found is not None:
                self._lines.move_to_end(key)
                return found
        made = family_service.starter_lines(context, starter, arch)
        labels = line_labels(starter)
        unique = {id(catalog): catalog for catalog in made.catalogs.values()}.values()
        made = replace(made, names=FamilyNames(self.families.get(c, labels) for c in unique))
        with self._lock:
            self._lines[key] = made
            self._lines.move_to_end(key)
            while len(self._lines) > self._lines_limit:
                self._lines.popitem(last=False)
        return made
