"""The catalog model: binary packages of one release and architecture, and how to query them.

A :class:`Package` is one stanza of a ``Packages`` index, with its relationship fields parsed on
first use. A :class:`Catalog` answers the questions a resolver and a search ask: every version of a
package, every package providing a name, a text search. :class:`MemoryCatalog` holds packages in
memory; index-backed catalogs (``couturier.debian``) implement the same protocol lazily.

Pure: nothing here reads files or the network.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from couturier.core.relations import Dependency, Relation, parse_relations
from couturier.core.version import sort_key

__all__ = ["Catalog", "MemoryCatalog", "Package", "matches_query", "newest_first"]

_PRIORITY_RANK = {"required": 5, "important": 4, "standard": 3, "optional": 2, "extra": 1}


class Package:
    """One binary package version as an index describes it.

    ``fields`` is the raw stanza (field name → value, as written). ``origin`` names the index it
    came from (e.g. ``bookworm-security/main``). Relationship fields are parsed lazily and cached.
    """

    __slots__ = ("_relations", "architecture", "fields", "name", "origin", "version")

    def __init__(
        self,
        fields: Mapping[str, str],
        origin: str = "",
        identity: tuple[str, str, str] | None = None,
    ) -> None:
        # ``identity`` (name, version, architecture) lets a parser that already found them skip
        # three lookups in a lazily parsed ``fields``: this runs once per stanza of an index.
        self.fields = fields
        if identity is None:
            identity = (fields["Package"], fields["Version"], fields.get("Architecture", "all"))
        self.name, self.version, self.architecture = identity
        self.origin = origin
        self._relations: dict[str, tuple[Dependency, ...]] | None = None

    def relations(self, field: str) -> tuple[Dependency, ...]:
        """Parsed relationship field ``field`` (e.g. ``Depends``); empty when absent."""
        relations = self._relations
        if relations is None:
            relations = self._relations = {}
        cached = relations.get(field)
        if cached is None:
            text = self.fields.get(field)
            cached = parse_relations(text) if text else ()
            relations[field] = cached
        return cached

    @property
    def conflicts(self) -> tuple[Relation, ...]:
        return tuple(alt for dep in self.relations("Conflicts") for alt in dep)

    @property
    def breaks(self) -> tuple[Relation, ...]:
        return tuple(alt for dep in self.relations("Breaks") for alt in dep)

    @property
    def provides(self) -> tuple[Relation, ...]:
        return tuple(alt for dep in self.relations("Provides") for alt in dep)

    @property
    def replaces(self) -> tuple[Relation, ...]:
        return tuple(alt for dep in self.relations("Replaces") for alt in dep)

    @property
    def multi_arch(self) -> str:
        return self.fields.get("Multi-Arch", "no")

    @property
    def essential(self) -> bool:
        return self.fields.get("Essential", "no") == "yes"

    @property
    def priority(self) -> str:
        return self.fields.get("Priority", "optional")

    @property
    def priority_rank(self) -> int:
        return _PRIORITY_RANK.get(self.priority, 0)

    @property
    def filename(self) -> str:
        return self.fields.get("Filename", "")

    @property
    def size(self) -> int:
        return int(self.fields.get("Size", "0"))

    @property
    def sha256(self) -> str:
        return self.fields.get("SHA256", "")

    @property
    def section(self) -> str:
        return self.fields.get("Section", "")

    @property
    def source(self) -> tuple[str, str]:
        """Source package name and version (the binary's own when the field is absent)."""
        text = self.fields.get("Source")
        if not text:
            return self.name, self.version
        name, _, rest = text.partition(" ")
        version = rest.strip().strip("()") or self.version
        return name, version

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return self.fields.get("Description", "").split("\n", 1)[0]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.version, self.architecture)

    def __repr__(self) -> str:
        return f"<Package {self.name} {self.version} {self.architecture}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Package) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


def newest_first(packages: Iterable[Package]) -> list[Package]:
    """Sort packages by version, newest first (dpkg order)."""
    return sorted(packages, key=lambda p: sort_key(p.version), reverse=True)


def matches_query(package: Package, query: str) -> bool:
    """Tell whether a lowercase ``query`` occurs in the name, version or description summary."""
    return query in package.name or query in package.version or query in package.summary.lower()


class Catalog(Protocol):
    """What a resolver and a search need from the packages of one release and architecture.

    Implementations return only packages installable on ``architecture`` (native or ``all``),
    deduplicated by (name, version, architecture).
    """

    @property
    def release(self) -> str: ...

    @property
    def architecture(self) -> str: ...

    def versions(self, name: str) -> Sequence[Package]:
        """Every version of the real package ``name``, newest first; empty if none."""
        ...

    def providers(self, name: str) -> Sequence[tuple[Package, Relation]]:
        """Every package whose Provides names ``name``, with that Provides term."""
        ...

    def names(self) -> Iterable[str]:
        """Every real package name."""
        ...

    def search(self, query: str, limit: int = 50) -> list[Package]:
        """Newest version of each package whose name, version or summary contains ``query``."""
        ...


class MemoryCatalog:
    """A catalog over packages held in memory; the reference implementation of :class:`Catalog`.

    Building it costs one pass over the packages; queries are dict lookups.
    """

    def __init__(self, packages: Iterable[Package], release: str, architecture: str) -> None:
        self._release = release
        self._architecture = architecture
        by_name: dict[str, dict[tuple[str, str], Package]] = defaultdict(dict)
        for package in packages:
            if package.architecture not in (architecture, "all"):
                continue
            by_name[package.name].setdefault((package.version, package.architecture), package)
        self._versions = {name: newest_first(v.values()) for name, v in by_name.items()}
        provided: dict[str, list[tuple[Package, Relation]]] = defaultdict(list)
        for versions in self._versions.values():
            for package in versions:
                for relation in package.provides:
                    provided[relation.name].append((package, relation))
        self._providers = dict(provided)

    @property
    def release(self) -> str:
        return self._release

    @property
    def architecture(self) -> str:
        return self._architecture

    def versions(self, name: str) -> Sequence[Package]:
        return self._versions.get(name, ())

    def providers(self, name: str) -> Sequence[tuple[Package, Relation]]:
        return self._providers.get(name, ())

    def names(self) -> Iterable[str]:
        return self._versions.keys()

    def search(self, query: str, limit: int = 50) -> list[Package]:
        needle = query.lower()
        found = [v[0] for v in self._versions.values() if matches_query(v[0], needle)]
        found.sort(key=lambda p: (not p.name.startswith(needle), p.name))
        return found[:limit]
