"""Package families and ``<family>-auto`` packages across the image lines of a starter.

A *package family* is every package that differs only by a version embedded in its name, plus
every version of it in the releases of the starter's lines: ``php8.2-curl`` (bookworm) and
``php8.4-curl`` (trixie) are the family ``php-curl``; ``python3-rsa`` 4.8-1 and 4.9-2 are the
family ``python3-rsa``. Only the starter's *line labels* count as embedded versions
(:func:`family_name`), so ``python3-rsa`` keeps its ``3`` on the python starter.

``<family>-auto`` installs, in each line, the newest member of the family that fits that line
(:func:`choose_member`). The product rules (DESIGN.md, "Auto-versioning") live here:

1. each line gets the newest member its release offers that installs next to the starter's own
   packages, pinned to the versions the starter chose;
2. families that exist to be dependencies of others offer no ``-auto``; :func:`dependency_only`
   is the one place that rule is written;
3. a family of which the starter already ships a member is blocked (:func:`blocked_reason`),
   and the reason names the version the starter's newest line ships;
4. a line where no member fits gets none (a :class:`Family` simply has no :class:`Member` for it).

Finding the candidates of a family needs every package name of a catalog; :class:`FamilyIndex`
groups them once per catalog and label set (a few ms for a Debian release). The indexes are kept
by a :class:`FamilyIndexes` that a caller owns (a job's context), never in module state; the
functions here take one (``indexes``) and make their own for the call when given none.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from couturier.core.catalog import Catalog, Package
from couturier.core.relations import Relation
from couturier.core.resolver import resolve
from couturier.core.starter import ImageLine, Starter
from couturier.core.version import sort_key
from couturier.errors import NotFoundError, ResolutionError

__all__ = [
    "AUTO_SUFFIX",
    "Family",
    "FamilyIndex",
    "FamilyIndexes",
    "LabelFinder",
    "Member",
    "auto_description",
    "auto_family",
    "auto_problems",
    "blocked_reason",
    "choose_member",
    "dependency_only",
    "ecosystem_stems",
    "families_named",
    "family_name",
    "family_names_matching",
    "family_query",
    "line_labels",
    "list_families",
    "matching_families",
    "newest_line",
]

AUTO_SUFFIX = "-auto"


def auto_description(family: str) -> str:
    """The description of ``<family>-auto``, exactly as the product states it."""
    return (
        f"Universal package for {family} - automatically detects and installs a compatible version"
    )


def auto_family(request: str) -> str | None:
    """The family an ``-auto`` request names (``php-curl-auto`` → ``php-curl``), else None.

    A request with a version (``x-auto=1``) or an architecture is not an auto request.
    """
    if not request.endswith(AUTO_SUFFIX) or "=" in request or ":" in request:
        return None
    family = request[: -len(AUTO_SUFFIX)]
    return family or None


# ---------------------------------------------------------------------------------------------
# Family names


def _label_pattern(labels: Sequence[str]) -> re.Pattern[str] | None:
    """A regex finding a line label not followed by another digit (longest label first).

    The other half of "a whole token", no digit or dot before it, is checked by
    :func:`_labels_in`: a lookbehind at the front of the pattern would make ``re`` try it at
    every position and the scan over a release's names three times slower. Not cached here:
    code that names many packages makes one :class:`LabelFinder` and asks it each time.
    """
    if not labels:
        return None
    alternatives = "|".join(
        re.escape(label) for label in sorted(set(labels), key=len, reverse=True)
    )
    # "3.1" is not in "python3.11", "15" not in "15.2"
    return re.compile(rf"(?:{alternatives})(?![0-9]|\.[0-9])")


_DIGITS_AND_DOT = frozenset("0123456789.")


def _labels_in(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """Every whole label token of ``text``: not preceded by a digit or a dot ("15" is not in
    "libfoo115" nor in "2.15")."""
    for match in pattern.finditer(text):
        start = match.start()
        if start == 0 or text[start - 1] not in _DIGITS_AND_DOT:
            yield match


def _strip(name: str, start: int, end: int) -> str:
    """``name`` without the label at ``start:end``, hyphens joined and trimmed."""
    left, right = name[:start], name[end:]
    if left.endswith("-") and right.startswith("-"):
        right = right[1:]  # postgresql-15-pgvector -> postgresql-pgvector
    return (left + right).strip("-.")


class LabelFinder:
    """Finds the line label embedded in package names, for one set of line labels: the
    pattern is made once, when the finder is, and used for every name asked about."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        self.pattern = _label_pattern(self.labels)

    def family_name(self, package: str) -> tuple[str, str | None]:
        """See :func:`family_name`. Cost: one regex search."""
        pattern = self.pattern
        match = next(_labels_in(pattern, package), None) if pattern is not None else None
        if match is None:
            return package, None
        family = _strip(package, match.start(), match.end())
        return (family, match.group(0)) if family else (package, None)


def family_name(package: str, labels: Sequence[str]) -> tuple[str, str | None]:
    """The family of ``package`` and the line label embedded in its name (None when none).

    ``labels`` are the starter's line labels; only one of them, as a whole version token, is an
    embedded version: ``php8.2-curl`` → (``php-curl``, ``8.2``), ``python3.13-venv`` →
    (``python-venv``, ``3.13``), ``postgresql-15-pgvector`` → (``postgresql-pgvector``, ``15``),
    ``python3-rsa`` → (``python3-rsa``, None) with python's labels. Cost: making the labels'
    pattern and one regex search; for many names, ask one :class:`LabelFinder`.
    """
    return LabelFinder(labels).family_name(package)


def line_labels(starter: Starter) -> tuple[str, ...]:
    """The labels of the starter's lines, in the starter's order."""
    return tuple(line.version for line in starter.lines)


def newest_line(starter: Starter) -> ImageLine:
    """The most advanced line (labels compared as Debian versions: ``3.13`` beats ``3.9``)."""
    return max(starter.lines, key=lambda line: sort_key(line.version))


def ecosystem_stems(starter: Starter) -> tuple[str, ...]:
    """The words naming the starter's ecosystem: the leading letters of each line's primary
    package family (``php8.4-cli`` → ``php``, ``python3.13`` → ``python``)."""
    finder = LabelFinder(line_labels(starter))
    stems: dict[str, None] = {}
    for line in starter.lines:
        family, _ = finder.family_name(line.primary)
        match = re.match(r"[a-z]+", family)
        if match:
            stems[match.group(0)] = None
    return tuple(stems)


class FamilyIndex:
    """The package names of one catalog grouped by family, for one set of line labels.

    Built from names only (pure); building costs one regex scan over all names. Names without an
    embedded label are their own family and are not copied: a lookup checks the name set.
    """

    def __init__(self, names: Iterable[str], labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        self._names = frozenset(names)
        labelled: dict[str, list[tuple[str, str]]] = defaultdict(list)
        carrying: set[str] = set()
        pattern = _label_pattern(self.labels)
        if pattern is not None:
            # One scan over all names joined by newlines: labels are rare, so this is several
            # times faster than a search per name (a few ms for 65,000 names).
            text = "\n".join(self._names)
            last = -1
            for match in _labels_in(pattern, text):
                start = text.rfind("\n", 0, match.start()) + 1
                if start == last:
                    continue  # only the first label of a name counts, as in family_name
                last = start
                end = text.find("\n", match.end())
                name = text[start : end if end >= 0 else len(text)]
                family = _strip(name, match.start() - start, match.end() - start)
                if family:
                    labelled[family].append((name, match.group(0)))
                    carrying.add(name)
        self._labelled = {family: tuple(sorted(found)) for family, found in labelled.items()}
        self._carrying = frozenset(carrying)  # names with a label: not families of their own
        # What a query is looked for in: (family, text) with the text "family<TAB>name<TAB>
        # name..." for the labelled families, and every name that is its own family. One
        # substring test per family (faster than a regex over the joined names in CPython),
        # not one per name and member: a search as you type asks at every keystroke.
        labelled_text = (
            (family, "\t".join([family, *(name for name, _ in members)]))
            for family, members in self._labelled.items()
        )
        plain = ((name, name) for name in sorted(self._names) if name not in carrying)
        self.searchable: tuple[tuple[str, str], ...] = (*labelled_text, *plain)

    def candidates(self, family: str) -> tuple[tuple[str, str | None], ...]:
        """Every (package name, embedded label) of ``family`` in the catalog."""
        found: list[tuple[str, str | None]] = list(self._labelled.get(family, ()))
        if family in self._names and family not in self._carrying:
            found.append((family, None))
        return tuple(found)

    def families(self, query: str | None, stems: Sequence[str] = ()) -> set[str]:
        """Families matching ``query``: the family name or one of its package names contains
        it. With no query, the families that carry a line label in a package name and whose
        name contains one of ``stems`` (the starter's ecosystem): a bounded, useful default.
        """
        if query is None:
            return {f for f in self._labelled if any(stem in f for stem in stems)}
        if "\t" in query:
            return set()  # no package name holds one (it separates the names searched)
        return {family for family, text in self.searchable if query in text}


class FamilyIndexes:
    """The :class:`FamilyIndex` of each catalog and label set, built on first use and kept as
    long as its catalog (weakly keyed: dropping the catalog drops its indexes).

    An owned cache: a job's context holds one (:class:`couturier.services.context.
    CatalogContext`), and the functions below that look families up take it, building their
    own for the call when given none. Safe to share between threads: a lock guards the table,
    and two threads asking for one index at once both get the one stored first (the index is
    built outside the lock, so one slow build holds no other catalog's lookups).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Catalog object -> {labels: index}.
        self._indexes: weakref.WeakKeyDictionary[object, dict[tuple[str, ...], FamilyIndex]] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, catalog: Catalog, labels: Sequence[str]) -> FamilyIndex:
        """The index of ``catalog`` for ``labels``. Cost: a dict lookup once built; building
        scans every name of the catalog once (a few ms for a Debian release)."""
        key = tuple(labels)
        try:
            with self._lock:
                index = self._indexes.setdefault(catalog, {}).get(key)
        except TypeError:  # a catalog that cannot be weakly referenced: build every time
            return FamilyIndex(catalog.names(), key)
        if index is not None:
            return index
        built = FamilyIndex(catalog.names(), key)
        with self._lock:
            return self._indexes.setdefault(catalog, {}).setdefault(key, built)


# ---------------------------------------------------------------------------------------------
# Rule 2: families that exist to be dependencies of others


# (suffix, what such packages are). Checked on the family name, so php8.2-dev and php-dev agree.
_DEPENDENCY_SUFFIXES = (
    ("-common", "files shared by the other packages of its source"),
    ("-data", "data used by other packages"),
    ("-dev", "development files"),
    ("-doc", "documentation"),
    ("-dbg", "debugging symbols"),
    ("-dbgsym", "debugging symbols"),
    ("-l10n", "translations used by other packages"),
    ("-i18n", "translations used by other packages"),
)
_CONFIG_SUFFIXES = ("-conf", "-config")
# Debian sections whose packages are libraries, documentation or debug data.
_DEPENDENCY_SECTIONS = {
    "libs": "libraries",
    "libdevel": "library development files",
    "oldlibs": "obsolete libraries",
    "doc": "documentation",
    "debug": "debugging symbols",
}
# Sections of language libraries: php-league-config or ruby-mixlib-config are libraries a user
# adds on purpose, not configuration carried for another package (fontconfig-config is).
_LANGUAGE_SECTIONS = frozenset(
    {"python", "php", "ruby", "javascript", "perl", "java", "golang", "rust", "lisp", "haskell"}
)


def _section(package: Package) -> str:
    return package.section.rsplit("/", 1)[-1]  # "contrib/libs" -> "libs"


def dependency_only(family: str, members: Sequence[Package]) -> str | None:
    """Why ``family`` offers no ``-auto`` (it exists to be a dependency of others), else None.

    THE rule, in order: a family name ending in ``-common``, ``-data``, ``-dev``, ``-doc``,
    ``-dbg``, ``-dbgsym``, ``-l10n`` or ``-i18n``; a library (a ``lib*`` name); a package of
    section ``libs``, ``libdevel``, ``oldlibs``, ``doc`` or ``debug`` (any of ``members``); a
    configuration-only package (a ``-conf``/``-config`` name outside a language's section).
    ``members`` are packages of the family (any line). Returns the reason in words.
    """
    for suffix, what in _DEPENDENCY_SUFFIXES:
        if family.endswith(suffix):
            return f"{family} holds {what} ({suffix}); the packages that need them pull them in"
    if family.startswith("lib"):
        return f"{family} is a library (lib*); the programs that need it pull it in"
    for package in members:
        section = _section(package)
        if section in _DEPENDENCY_SECTIONS:
            return (
                f"{package.name} is in section {section} ({_DEPENDENCY_SECTIONS[section]}); "
                "the packages that need it pull it in"
            )
    if family.endswith(_CONFIG_SUFFIXES) and not any(
        _section(p) in _LANGUAGE_SECTIONS for p in members
    ):
        return f"{family} holds only configuration; the packages it configures pull it in"
    return None


# ---------------------------------------------------------------------------------------------
# Rule 3: families the starter already ships


def _shipped_member(
    family: str, packages: Sequence[Package], labels: Sequence[str]
) -> Package | None:
    """The package of ``family`` among ``packages``; one with a label in its name first."""
    finder = LabelFinder(labels)
    named = {p.name: finder.family_name(p.name) for p in packages}
    found = [p for p in packages if named[p.name][0] == family]
    found.sort(key=lambda p: (named[p.name][1] is None, p.name))
    return found[0] if found else None


def blocked_reason(
    family: str,
    starter: Starter,
    newest_line_packages: Sequence[Package],
    labels: Sequence[str],
    other_lines: Mapping[str, Sequence[Package]] | None = None,
) -> str | None:
    """Why ``family`` cannot be added to ``starter`` (it already ships a member), else None.

    ``newest_line_packages`` are the starter's resolved packages on its newest line; the reason
    names the member and version found there. ``other_lines`` (label → packages) are checked
    next, most advanced first, for a member shipped only by an older line.
    """
    shipped = _shipped_member(family, newest_line_packages, labels)
    if shipped is not None:
        return (
            f"the {starter.name} starter already ships {shipped.name} {shipped.version} "
            f"on its newest line {newest_line(starter).version}"
        )
    for label in sorted(other_lines or {}, key=sort_key, reverse=True):
        shipped = _shipped_member(family, (other_lines or {})[label], labels)
        if shipped is not None:
            return (
                f"the {starter.name} starter already ships {shipped.name} {shipped.version} "
                f"on its line {label}"
            )
    return None


def _blocked(
    family: str,
    starter: Starter,
    starter_packages: Mapping[str, Sequence[Package]],
    labels: Sequence[str],
) -> str | None:
    """:func:`blocked_reason` over every line's packages, the newest line first."""
    newest = newest_line(starter).version
    others = {label: p for label, p in starter_packages.items() if label != newest}
    return blocked_reason(family, starter, starter_packages.get(newest, ()), labels, others)


# ---------------------------------------------------------------------------------------------
# Rule 1 and 4: the newest fitting member of each line


@dataclass(frozen=True)
class Member:
    """The member of a family a line installs: the line's label and the package."""

    line: str
    package: Package


@dataclass(frozen=True)
class Family:
    """A package family across a starter's lines.

    ``members`` holds the newest fitting member per line (a line with none is absent);
    ``blocked`` and ``dependency_only`` say, in words, why no ``-auto`` is offered.
    """

    name: str
    members: tuple[Member, ...]
    blocked: str | None = None
    dependency_only: str | None = None

    @property
    def auto(self) -> str | None:
        """``<name>-auto`` when it is offered (neither blocked nor dependency-only)."""
        if self.blocked is None and self.dependency_only is None:
            return self.name + AUTO_SUFFIX
        return None

    @property
    def description(self) -> str:
        return auto_description(self.name)

    def member(self, line: str) -> Package | None:
        """The member installed on the line labelled ``line``, None when none fits."""
        for member in self.members:
            if member.line == line:
                return member.package
        return None


def _candidates(
    catalog: Catalog, family: str, label: str, labels: Sequence[str], indexes: FamilyIndexes
) -> list[Package]:
    """Every version of every candidate of ``family`` for the line ``label``, best first:
    names carrying the line's label before version-less names, then newest version first."""
    index = indexes.get(catalog, labels)
    labelled: list[Package] = []
    plain: list[Package] = []
    for name, embedded in index.candidates(family):
        if embedded is None:
            plain.extend(catalog.versions(name))
        elif embedded == label:
            labelled.extend(catalog.versions(name))
    order = lambda p: sort_key(p.version)  # noqa: E731 - a local sort key
    return sorted(labelled, key=order, reverse=True) + sorted(plain, key=order, reverse=True)


def _fits(
    catalog: Catalog,
    pins: Sequence[Relation],
    package: Package,
    *,
    family: str,
    label: str,
    labels: Sequence[str],
) -> bool:
    try:
        resolution = resolve(catalog, [*pins, Relation(package.name, "=", package.version)])
    except (ResolutionError, NotFoundError):
        return False
    # A version-less metapackage (php-curl) that pulls in another line's member (php8.4-curl on
    # the 8.2 line) installs the wrong version: that is not a fit.
    finder = LabelFinder(labels)
    for chosen in resolution.packages:
        name, embedded = finder.family_name(chosen.name)
        if name == family and embedded not in (None, label):
            return False
    return True


def choose_member(
    catalog: Catalog,
    family: str,
    line: ImageLine,
    labels: Sequence[str],
    starter_packages: Sequence[Package],
    *,
    indexes: FamilyIndexes | None = None,
) -> Package | None:
    """The newest member of ``family`` that fits ``line`` on ``catalog``, None when none fits.

    Candidates are the catalog's packages whose :func:`family_name` is ``family`` and whose
    embedded label, if any, is the line's; names carrying the label come before version-less
    ones (``php8.2-curl`` before the ``php-curl`` metapackage), then newer versions first. A
    candidate fits when it resolves together with ``starter_packages`` pinned to their versions.
    Cost: one resolution per candidate tried, stopping at the first fit (and building the
    catalog's family index when ``indexes`` has none, or is None).
    """
    indexes = indexes or FamilyIndexes()
    pins = [Relation(p.name, "=", p.version) for p in starter_packages]
    for package in _candidates(catalog, family, line.version, labels, indexes):
        if _fits(catalog, pins, package, family=family, label=line.version, labels=labels):
            return package
    return None


def _family(
    name: str,
    starter: Starter,
    catalogs: Mapping[str, Catalog],
    starter_packages: Mapping[str, Sequence[Package]],
    labels: Sequence[str],
    *,
    indexes: FamilyIndexes,
    choose: bool = True,
) -> Family:
    blocked = _blocked(name, starter, starter_packages, labels)
    members: list[Member] = []
    seen: dict[tuple[str, str, str], Package] = {}
    for line in starter.lines:
        catalog = catalogs.get(line.version)
        if catalog is None:
            continue
        for candidate, _ in indexes.get(catalog, labels).candidates(name):
            for package in catalog.versions(candidate)[:1]:
                seen.setdefault(package.key, package)
        if not choose:
            continue
        packages = starter_packages.get(line.version, ())
        member = choose_member(catalog, name, line, labels, packages, indexes=indexes)
        if member is not None:
            members.append(Member(line.version, member))
    return Family(name, tuple(members), blocked, dependency_only(name, list(seen.values())))


def family_query(query: str | None) -> str | None:
    """What a family search looks for: the query lowercased, without an ``-auto`` suffix;
    None for no (or a blank) query."""
    needle = (query or "").strip().lower() or None
    if needle is not None:
        needle = auto_family(needle) or needle
    return needle


def family_names_matching(
    starter: Starter,
    catalogs: Mapping[str, Catalog],
    query: str | None = None,
    indexes: FamilyIndexes | None = None,
) -> set[str]:
    """The names of the families of ``starter``'s lines matching ``query``, as
    :func:`matching_families` finds them, unordered. Cost: one index per catalog (kept in
    ``indexes``) and a regex scan of its names, no resolution."""
    indexes = indexes or FamilyIndexes()
    labels = line_labels(starter)
    needle = family_query(query)
    stems = ecosystem_stems(starter)
    names: set[str] = set()
    for catalog in catalogs.values():
        names |= indexes.get(catalog, labels).families(needle, stems)
    return names


def matching_families(
    starter: Starter,
    catalogs: Mapping[str, Catalog],
    query: str | None = None,
    indexes: FamilyIndexes | None = None,
) -> list[str]:
    """Names of the families of ``starter``'s lines matching ``query``, most relevant first.

    A family matches when its name or one of its package names contains ``query`` (lowercased;
    an ``-auto`` suffix is ignored). With no (or an empty) query: the families with a line label
    in a package name whose name contains the ecosystem's word (``php``, ``python``...), see
    :meth:`FamilyIndex.families`. Most relevant: the query in the family's own name, then the
    ecosystem's word, then the closest (shortest) names, so ``python3-requests`` comes before
    ``python-requests-mock-doc``; then by name. Cost: one index per catalog (kept in
    ``indexes``), no resolution.
    """
    needle = family_query(query)
    stems = ecosystem_stems(starter)
    names = family_names_matching(starter, catalogs, query, indexes)

    def relevance(name: str) -> tuple[bool, bool, int, str]:
        return (
            needle is not None and needle not in name,
            not any(stem in name for stem in stems),
            len(name),
            name,
        )

    return sorted(names, key=relevance)


def list_families(
    starter: Starter,
    catalogs: Mapping[str, Catalog],
    starter_packages: Mapping[str, Sequence[Package]],
    query: str | None = None,
    *,
    limit: int | None = None,
    indexes: FamilyIndexes | None = None,
) -> list[Family]:
    """The families of ``starter``'s lines matching ``query`` (see :func:`matching_families`),
    the ``limit`` most relevant ones, sorted by name.

    ``catalogs`` maps a line label to the catalog of that line's release (a line without one
    gets no members); ``starter_packages`` maps a label to the starter's resolved packages there.
    Cost: :func:`matching_families`, then up to one resolution per candidate, line and family.
    """
    indexes = indexes or FamilyIndexes()
    labels = line_labels(starter)
    names = matching_families(starter, catalogs, query, indexes)
    if limit is not None:
        names = names[: max(limit, 0)]
    return [
        _family(name, starter, catalogs, starter_packages, labels, indexes=indexes)
        for name in sorted(names)
    ]


def families_named(
    starter: Starter,
    catalogs: Mapping[str, Catalog],
    starter_packages: Mapping[str, Sequence[Package]],
    names: Iterable[str],
    *,
    indexes: FamilyIndexes | None = None,
    choose: bool = True,
) -> list[Family]:
    """The families called ``names`` (as :func:`list_families` makes each), in that order.
    Cost: up to one resolution per candidate, line and family. With ``choose`` False no
    member is chosen (no resolution: the families have no members, but are blocked and
    dependency-only as they would be), for an answer that says its members come later."""
    indexes = indexes or FamilyIndexes()
    labels = line_labels(starter)
    return [
        _family(name, starter, catalogs, starter_packages, labels, indexes=indexes, choose=choose)
        for name in names
    ]


def auto_problems(
    starter: Starter,
    catalogs: Mapping[str, Catalog],
    starter_packages: Mapping[str, Sequence[Package]],
    requests: Sequence[str],
    indexes: FamilyIndexes | None = None,
) -> list[tuple[str, str]]:
    """(request, problem) for every ``-auto`` request whose family is unknown, blocked or
    dependency-only, the problem saying how to fix it; other requests are ignored. Cost: no
    resolution, one index per catalog (kept in ``indexes``).
    """
    indexes = indexes or FamilyIndexes()
    labels = line_labels(starter)
    finder = LabelFinder(labels)
    problems: list[tuple[str, str]] = []
    for request in requests:
        family = auto_family(request)
        if family is None:
            continue
        packages: list[Package] = []
        for catalog in catalogs.values():
            for candidate, _ in indexes.get(catalog, labels).candidates(family):
                packages.extend(catalog.versions(candidate)[:1])
        if not packages:
            releases = ", ".join(dict.fromkeys(c.release for c in catalogs.values()))
            problems.append(
                (
                    request,
                    f"{family} is not a package family of the {starter.name} starter's lines "
                    f"(no package of it in {releases or 'any release'}); search the package "
                    f"families of the {starter.name} starter for {family}",
                )
            )
            continue
        blocked = _blocked(family, starter, starter_packages, labels)
        if blocked is not None:
            problems.append((request, f"{family} is blocked: {blocked}; remove it from packages"))
            continue
        reason = dependency_only(family, packages)
        if reason is not None:
            # A member carrying a line label says best what to write instead (php8.4-dev).
            pool = [p for p in packages if finder.family_name(p.name)[1] is not None]
            example = max(pool or packages, key=lambda p: sort_key(p.version)).name
            problems.append(
                (
                    request,
                    f"{request} is not offered: {reason}; add the package that needs it, or "
                    f"name a member such as {example} for the lines that have it",
                )
            )
    return problems
