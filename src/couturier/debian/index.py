"""The catalog of one release and architecture, read lazily from its current index snapshots.

:func:`load_catalog` opens the current snapshot of every suite x component of a release (the
``.idx`` lookup tables only: a few tens of milliseconds for bookworm) and returns an
:class:`IndexCatalog`, which implements :class:`couturier.core.catalog.Catalog` over the union of
those snapshots. Stanzas are parsed when a package is looked up, and cached.

Search scans each snapshot's mmapped lowercase search text (sorted by name) with ``find`` and
stops as soon as it has enough names, so a query costs a few milliseconds even across several
catalogs.
"""

from __future__ import annotations

import contextlib
import heapq
import mmap
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from couturier.core.catalog import Catalog, Package, matches_query, newest_first
from couturier.core.distro import DEBIAN, Distro, distro_of
from couturier.core.relations import Relation
from couturier.debian.listing import ReleaseCache, state_problems
from couturier.debian.snapshots import (
    SnapshotCache,
    SnapshotIndex,
    SnapshotStore,
    SuiteState,
    SuiteStateDamagedError,
    load_suite_state,
    suite_state_path,
)
from couturier.errors import Code, NotFoundError
from couturier.settings import Settings

__all__ = ["IndexCatalog", "SnapshotPart", "load_catalog", "release_distro", "versions_across"]


@dataclass(frozen=True)
class SnapshotPart:
    """One snapshot taking part in a catalog, and the origin its packages are labelled with."""

    origin: str  # e.g. "bookworm-security/main"
    index: SnapshotIndex
    root: str = ""  # mirror root URL the snapshot was read from (where its Filename paths are)


class IndexCatalog:
    """A :class:`Catalog` over index snapshots, parsing stanzas on demand.

    ``parts`` are in suite order; a (name, version, architecture) present in several is taken from
    the first. ``missing_suites`` names secondary suites that have no snapshot (never refreshed or
    failed): the catalog works without them, interfaces should warn. ``distro`` is where the
    release's packages come from (see :func:`release_distro`); ``warn`` hears of damaged
    derived files this catalog's searches rebuilt.
    """

    def __init__(
        self,
        release: str,
        architecture: str,
        parts: Sequence[SnapshotPart],
        missing_suites: Sequence[str] = (),
        distro: Distro = DEBIAN,
        *,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self._release = release
        self._warn = warn
        self._architecture = architecture
        self.parts = tuple(parts)
        self.missing_suites = tuple(missing_suites)
        self.distro = distro
        self._versions: dict[str, list[Package]] = {}
        self._providers: dict[str, list[tuple[Package, Relation]]] = {}
        self._names: list[str] | None = None

    @property
    def release(self) -> str:
        return self._release

    @property
    def architecture(self) -> str:
        return self._architecture

    @property
    def snapshots(self) -> tuple[str, ...]:
        """The sha256 of every snapshot in use (what a build records)."""
        return tuple(part.index.sha256 for part in self.parts)

    def url_of(self, package: Package) -> str:
        """Download URL of ``package``'s ``.deb``: the root of the mirror its snapshot came from,
        then its ``Filename``. Raises :class:`NotFoundError` for a package of another catalog.
        """
        for part in self.parts:
            if part.origin == package.origin and part.root and package.filename:
                return f"{part.root.rstrip('/')}/{package.filename}"
        raise NotFoundError(
            f"{package.name} {package.version} ({package.origin or 'no origin'}) has no download "
            f"URL in the {self._release}/{self._architecture} catalog",
            "refresh the release's catalog",
            code=Code.INDEX_MISSING,
            fields={
                "release": self._release,
                "architecture": self._architecture,
                "package": package.name,
                "version": package.version,
            },
        )

    def versions(self, name: str) -> Sequence[Package]:
        cached = self._versions.get(name)
        if cached is not None:
            return cached
        found: dict[tuple[str, str], Package] = {}
        arch = self._architecture
        for part in self.parts:
            for package in part.index.packages(name, part.origin):
                if package.architecture in (arch, "all"):
                    found.setdefault((package.version, package.architecture), package)
        versions = newest_first(found.values())
        self._versions[name] = versions
        return versions

    def providers(self, name: str) -> Sequence[tuple[Package, Relation]]:
        cached = self._providers.get(name)
        if cached is not None:
            return cached
        candidates: dict[str, None] = {}
        for part in self.parts:
            candidates.update(dict.fromkeys(part.index.providers(name)))
        result = [
            (package, relation)
            for candidate in candidates
            for package in self.versions(candidate)
            for relation in package.provides
            if relation.name == name
        ]
        self._providers[name] = result
        return result

    def names(self) -> Iterable[str]:
        if self._names is None:
            merged: dict[str, None] = {}
            for part in self.parts:
                merged.update(dict.fromkeys(part.index.sorted_names))
            self._names = list(merged)
        return self._names

    def search(self, query: str, limit: int = 50) -> list[Package]:
        """Newest version of each package whose name, version or summary contains ``query``.

        Same result and order as :class:`MemoryCatalog`: names starting with the query first,
        then the others, each group by name. Cost: a binary search for the first group; for the
        second, ``find`` over the mmapped search text until ``limit`` names are found.
        """
        needle = query.lower()
        if _unsearchable(needle):
            return []
        found: list[Package] = []
        seen: set[str] = set()
        for name in _merge_unique(self._prefixed(needle)):
            versions = self.versions(name)
            if versions:
                found.append(versions[0])
                seen.add(name)
                if len(found) >= limit:
                    return found
        for name in _merge_unique(self._containing(needle)):
            if name in seen or name.startswith(needle):
                continue
            versions = self.versions(name)
            if versions and matches_query(versions[0], needle):
                found.append(versions[0])
                if len(found) >= limit:
                    break
        return found

    def search_names(self, query: str, limit: int = 50) -> list[str]:
        """The names :meth:`search` would look at for ``query``, at most ``limit``, in its
        order: those with a stanza (any version in the catalog) whose name, version or summary
        contains ``query``. Cost: as :meth:`search`, without parsing a stanza (what a search
        that only needs names, such as the families', saves on a broad query)."""
        needle = query.lower()
        if _unsearchable(needle):
            return []
        found: dict[str, None] = {}
        for name in _merge_unique(self._prefixed(needle)):
            found[name] = None
            if len(found) >= limit:
                return list(found)
        for name in _merge_unique(self._containing(needle)):
            found[name] = None
            if len(found) >= limit:
                break
        return list(found)

    def _prefixed(self, needle: str) -> list[Iterator[str]]:
        def scan(names: list[str]) -> Iterator[str]:
            position = bisect_left(names, needle)
            while position < len(names) and names[position].startswith(needle):
                yield names[position]
                position += 1

        return [scan(part.index.sorted_names) for part in self.parts]

    def _containing(self, needle: str) -> list[Iterator[str]]:
        raw = needle.encode()

        def scan(text: mmap.mmap | bytes) -> Iterator[str]:
            position = text.find(raw) if raw else 0
            while 0 <= position < len(text):
                start = text.rfind(b"\n", 0, position) + 1
                yield text[start : text.find(b"\0", start)].decode()
                end = text.find(b"\n", position)
                if end < 0:
                    return
                position = text.find(raw, end + 1) if raw else end + 1

        return [scan(part.index.search_text(self._warn)) for part in self.parts]

    def __repr__(self) -> str:
        return f"<IndexCatalog {self._release}/{self._architecture} {len(self.parts)} snapshots>"


def _unsearchable(needle: str) -> bool:
    """Whether no package's name, version or one-line summary can hold ``needle``: it holds a
    NUL or a newline, which separate the fields of the search text (taken out, a query of
    only those would be empty and match every package)."""
    return "\0" in needle or "\n" in needle


def _merge_unique(streams: list[Iterator[str]]) -> Iterator[str]:
    """Merge sorted name streams, each name once."""
    last = None
    for name in heapq.merge(*streams):
        if name != last:
            yield name
            last = name


def load_catalog(
    settings: Settings,
    release: str,
    arch: str,
    warn: Callable[[str], None] | None = None,
    *,
    snapshots: SnapshotCache | None = None,
    releases: ReleaseCache | None = None,
) -> IndexCatalog:
    """Open the catalog of ``release`` for ``arch`` over its current snapshots, each verified
    (see :meth:`SnapshotStore.open`; damaged derived files are rebuilt and reported to ``warn``).
    Indexes already in ``snapshots`` are reused, those opened are kept there (none without it);
    the kept InReleases the states are checked against are parsed once while in ``releases``.

    Cost: one small JSON per suite, one ``.idx`` read and hashed per snapshot, and a full hash
    of a snapshot only when its stamp does not vouch for it; no index is parsed.
    Raises :class:`ConfigError` for an unknown release or architecture, :class:`NotFoundError`
    when the release (its first suite) has no snapshot for ``arch`` yet or one is missing, and
    :class:`~couturier.debian.snapshots.SnapshotDamagedError` for a snapshot changed on disk
    (it is removed: a refresh downloads it again), and
    :class:`~couturier.debian.snapshots.SuiteStateDamagedError` for a suite state file that
    cannot be parsed or names other indexes than the verified InRelease kept beside it lists
    (a refresh repairs it). Checking the states costs a ``stat`` per suite, and a parse of its
    kept InRelease the first time in a process.
    """
    definition = settings.release(release)
    settings.check_architecture(arch)
    store = SnapshotStore(settings.snapshot_dir, warn, snapshots)
    parts: list[SnapshotPart] = []
    missing: list[str] = []
    first: SuiteState | None = None
    for position, suite in enumerate(definition.suites):
        state = load_suite_state(settings.state_dir, suite.mirror.name, suite.name)
        if position == 0:
            first = state
        if state is not None and state.absent:
            continue
        if state is not None:
            _check_state(settings, state, [f"{c}/{arch}" for c in suite.components], releases)
        for component in suite.components:
            current = state.index(component, arch) if state is not None else None
            if current is None:
                if position == 0:
                    raise NotFoundError(
                        f"release {release} has no {component}/{arch} index snapshot of suite "
                        f"{suite.name} yet",
                        "refresh the release's catalog",
                        code=Code.INDEX_MISSING,
                        fields={
                            "release": release,
                            "architecture": arch,
                            "suite": suite.name,
                            "component": component,
                        },
                    )
                missing.append(f"{suite.name}/{component}")
                continue
            index = store.open(current.sha256)
            parts.append(SnapshotPart(f"{suite.name}/{component}", index, current.root))
    distro = release_distro(settings, release, arch, first)
    return IndexCatalog(release, arch, parts, missing, distro, warn=warn)


def _check_state(
    settings: Settings, state: SuiteState, keys: list[str], releases: ReleaseCache | None
) -> None:
    """Raise :class:`SuiteStateDamagedError` when entries ``keys`` of ``state`` disagree with
    the verified InRelease kept beside it (see :func:`state_problems`)."""
    problems = state_problems(settings.state_dir, state, keys, releases)
    if problems:
        path = suite_state_path(settings.state_dir, state.mirror, state.suite)
        raise SuiteStateDamagedError(path, problems[0])


def release_distro(
    settings: Settings, release: str, arch: str, state: SuiteState | None = None
) -> Distro:
    """Where ``release``'s packages come from, as its first suite says: the settings' ``vendor``
    of that suite's mirror, else the ``Origin`` of the ``InRelease`` it was last verified from
    (for ``arch``'s mirror root), else Debian; the codename and version from the same
    ``InRelease``, else the release's name (see :mod:`couturier.core.distro`).

    ``state`` is the first suite's state when the caller has read it already. Cost: one small
    JSON read at most. Raises :class:`ConfigError` for an unknown release.
    """
    suite = settings.release(release).suites[0]
    if state is None:
        with contextlib.suppress(SuiteStateDamagedError):  # said by whoever loads the catalog
            state = load_suite_state(settings.state_dir, suite.mirror.name, suite.name)
    facts: dict[str, str] = {}
    if state is not None and state.inreleases:
        root = suite.mirror.url_for(arch)
        facts = state.inreleases.get(root) or next(iter(state.inreleases.values()))
    return distro_of(
        suite.mirror.vendor,
        facts.get("origin", ""),
        facts.get("codename", "") or release,
        facts.get("version", ""),
    )


def versions_across(catalogs: Iterable[Catalog], name: str) -> dict[str, list[Package]]:
    """Every version of package ``name`` in each catalog's release, newest first.

    Keys are release names in the order of ``catalogs`` (several architectures of one release are
    merged, deduplicated by version); a release without the package maps to an empty list. This is
    what a package family is built on.
    """
    result: dict[str, list[Package]] = {}
    for catalog in catalogs:
        known = result.setdefault(catalog.release, [])
        versions = {p.version for p in known}
        known.extend(p for p in catalog.versions(name) if p.version not in versions)
    return {release: newest_first(packages) for release, packages in result.items()}
