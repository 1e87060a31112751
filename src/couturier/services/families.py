"""Package families of a starter's lines, for the interfaces and for spec checks.

Loads the catalog of every line's release through the job's context (refreshing a release that
has no snapshot yet, see :func:`couturier.services.catalog.catalog`), resolves the starter's own
packages on each line (:func:`couturier.core.planner.plan_line`) and hands both to
:mod:`couturier.core.families`, with the context's family indexes. A line whose starter
packages cannot be resolved takes no part (the context's ``say`` is told why): it would be
skipped by a build anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from couturier.core.catalog import Catalog, Package
from couturier.core.families import (
    Family,
    auto_family,
    auto_problems,
    family_names_matching,
    family_query,
    list_families,
    matching_families,
)
from couturier.core.family_names import FamilyNames
from couturier.core.planner import plan_line
from couturier.core.starter import Starter
from couturier.core.suggest import close_names
from couturier.errors import NotFoundError, ResolutionError
from couturier.services.starters import get_starter

if TYPE_CHECKING:
    from couturier.services.context import CatalogContext

__all__ = [
    "StarterLines",
    "check_autos",
    "families",
    "families_and_total",
    "matching_name_set",
    "matching_names",
    "near_package_names",
    "starter_lines",
]


@dataclass(frozen=True)
class StarterLines:
    """What the family rules need of a starter: per line label, the catalog of the line's
    release and the starter's resolved packages there (lines that could not be resolved are
    absent from both), and maybe the catalogs' family names merged (``names``)."""

    starter: Starter
    catalogs: Mapping[str, Catalog]
    starter_packages: Mapping[str, Sequence[Package]]
    # The family names of the catalogs merged, when whoever keeps these lines made them
    # (couturier.services.catalog_keep): a query is then matched once, not per catalog.
    names: FamilyNames | None = field(default=None, compare=False, repr=False)


def starter_lines(context: CatalogContext, starter: Starter, arch: str) -> StarterLines:
    """Load each line's catalog (one per release) and resolve the starter on each line.

    Cost: one catalog load per release (a refresh the first time), one resolution per line.
    A line whose release the settings do not configure is left out, as one that cannot be
    resolved. Raises :class:`ConfigError` for an architecture the settings do not know, and
    what a first refresh raises.
    """
    by_release: dict[str, Catalog] = {}
    catalogs: dict[str, Catalog] = {}
    packages: dict[str, Sequence[Package]] = {}
    for line in starter.lines:
        if line.release not in context.settings.releases:
            # A starter's line newer than the settings: left out, as an unresolvable one.
            context.say(
                f"line {line.version} of {starter.name} left out: its release "
                f"{line.release} is not in the settings"
            )
            continue
        catalog = by_release.get(line.release)
        if catalog is None:
            catalog = context.catalogs(line.release, arch)
            by_release[line.release] = catalog
        try:
            plan = plan_line(catalog, starter, line)
        except (ResolutionError, NotFoundError) as error:
            context.say(f"line {line.version} of {starter.name} left out: {error}")
            continue
        catalogs[line.version] = catalog
        packages[line.version] = plan.starter
    return StarterLines(starter, catalogs, packages)


def _starter(context: CatalogContext, starter: str | Starter) -> Starter:
    return starter if isinstance(starter, Starter) else get_starter(context.settings, starter)


def families(
    context: CatalogContext,
    starter_name: str | Starter,
    query: str | None = None,
    arch: str = "amd64",
    *,
    limit: int | None = None,
) -> list[Family]:
    """The families of the starter's lines matching ``query`` (see
    :func:`couturier.core.families.list_families`): the ``limit`` most relevant, sorted by name.

    ``starter_name`` is a starter's name, site starters included (or a :class:`Starter`).
    Raises :class:`NotFoundError` for an unknown starter and what :func:`starter_lines` raises.
    """
    found, _ = families_and_total(context, starter_name, query, arch, limit=limit)
    return found


def families_and_total(
    context: CatalogContext,
    starter_name: str | Starter,
    query: str | None = None,
    arch: str = "amd64",
    *,
    limit: int | None = None,
) -> tuple[list[Family], int]:
    """:func:`families`, and how many families match in all (to say that some were left out)."""
    lines = starter_lines(context, _starter(context, starter_name), arch)
    context.say(f"matching families of {lines.starter.name}")
    indexes = context.families
    total = len(matching_families(lines.starter, lines.catalogs, query, indexes))
    found = list_families(
        lines.starter, lines.catalogs, lines.starter_packages, query, limit=limit, indexes=indexes
    )
    return found, total


def matching_names(
    context: CatalogContext, lines: StarterLines, query: str | None = None
) -> list[str]:
    """The names of the families of ``lines`` matching ``query`` by a package name, most
    relevant first (:func:`couturier.core.families.matching_families`). Cost: no resolution."""
    return matching_families(lines.starter, lines.catalogs, query, context.families)


def matching_name_set(
    context: CatalogContext, lines: StarterLines, query: str | None = None
) -> set[str]:
    """:func:`matching_names`, unordered (what a caller that orders by name needs; sorting by
    relevance costs more than the match for a one-letter query). Cost: no resolution; with
    the lines' merged ``names``, one scan of them (of the last query's matches when the query
    extends it)."""
    needle = family_query(query)
    if lines.names is not None and needle is not None:
        return lines.names.matching(needle)
    return family_names_matching(lines.starter, lines.catalogs, query, context.families)


def check_autos(
    context: CatalogContext,
    starter: str | Starter,
    requests: Sequence[str],
    arch: str = "amd64",
) -> list[tuple[str, str]]:
    """(request, problem) for every ``-auto`` request whose family is unknown to the starter's
    releases, blocked or dependency-only, the problem saying how to fix it; [] when all are fine.

    Reads no catalog when ``requests`` holds no ``-auto`` entry. Raises what
    :func:`starter_lines` raises.
    """
    if not any(auto_family(request) is not None for request in requests):
        return []
    lines = starter_lines(context, _starter(context, starter), arch)
    return auto_problems(
        lines.starter, lines.catalogs, lines.starter_packages, requests, context.families
    )


def near_package_names(
    context: CatalogContext, starter: Starter, query: str, arch: str
) -> list[str]:
    """The package names of the releases of ``starter``'s lines nearest to ``query`` (a query
    that matched no family), at most three, nearest first; [] when none is near. Cost: one
    catalog per release (already loaded by the families query) and a scan of its names, a few
    tens of milliseconds."""
    names: set[str] = set()
    for release in dict.fromkeys(line.release for line in starter.lines):
        names.update(context.catalogs(release, arch).names())
    return close_names(query, sorted(names))
