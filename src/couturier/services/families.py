"""Package families of a starter's lines, for the interfaces and for spec checks.

Loads the catalog of every line's release (refreshing a release that has no snapshot yet, see
:func:`couturier.services.catalog.catalog`), resolves the starter's own packages on each line
(:func:`couturier.core.planner.plan_line`) and hands both to :mod:`couturier.core.families`.
A line whose starter packages cannot be resolved takes no part (``say`` is told why): it would
be skipped by a build anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from couturier.core.catalog import Catalog, Package
from couturier.core.families import (
    Family,
    auto_family,
    auto_problems,
    list_families,
    matching_families,
)
from couturier.core.planner import plan_line
from couturier.core.starter import Starter
from couturier.debian.transport import Transport
from couturier.errors import NotFoundError, ResolutionError
from couturier.services import catalog as catalog_service
from couturier.services.starters import get_starter
from couturier.settings import Settings

__all__ = ["LineContext", "check_autos", "families", "families_and_total", "line_context"]

Say = Callable[[str], None]


def _quiet(message: str) -> None:
    """The default ``say``: no progress output."""


@dataclass(frozen=True)
class LineContext:
    """What the family rules need of a starter: per line label, the catalog of the line's
    release and the starter's resolved packages there (lines that could not be resolved are
    absent from both)."""

    starter: Starter
    catalogs: Mapping[str, Catalog]
    starter_packages: Mapping[str, Sequence[Package]]


def line_context(
    settings: Settings,
    starter: Starter,
    arch: str,
    say: Say = _quiet,
    transport: Transport | None = None,
) -> LineContext:
    """Load each line's catalog (one per release) and resolve the starter on each line.

    Cost: one catalog load per release (a refresh the first time), one resolution per line.
    Raises :class:`ConfigError` for a release or architecture the settings do not know, and what
    a first refresh raises.
    """
    by_release: dict[str, Catalog] = {}
    catalogs: dict[str, Catalog] = {}
    packages: dict[str, Sequence[Package]] = {}
    for line in starter.lines:
        catalog = by_release.get(line.release)
        if catalog is None:
            catalog = catalog_service.catalog(settings, line.release, arch, say, transport)
            by_release[line.release] = catalog
        try:
            plan = plan_line(catalog, starter, line)
        except (ResolutionError, NotFoundError) as error:
            say(f"line {line.version} of {starter.name} left out: {error}")
            continue
        catalogs[line.version] = catalog
        packages[line.version] = plan.starter
    return LineContext(starter, catalogs, packages)


def _starter(settings: Settings, starter: str | Starter) -> Starter:
    return starter if isinstance(starter, Starter) else get_starter(settings, starter)


def families(
    settings: Settings,
    starter_name: str | Starter,
    query: str | None = None,
    arch: str = "amd64",
    *,
    say: Say = _quiet,
    transport: Transport | None = None,
    limit: int | None = None,
) -> list[Family]:
    """The families of the starter's lines matching ``query`` (see
    :func:`couturier.core.families.list_families`): the ``limit`` most relevant, sorted by name.

    ``starter_name`` is a shipped starter's name (or a :class:`Starter`). Raises
    :class:`NotFoundError` for an unknown starter and what :func:`line_context` raises.
    """
    found, _ = families_and_total(
        settings, starter_name, query, arch, say=say, transport=transport, limit=limit
    )
    return found


def families_and_total(
    settings: Settings,
    starter_name: str | Starter,
    query: str | None = None,
    arch: str = "amd64",
    *,
    say: Say = _quiet,
    transport: Transport | None = None,
    limit: int | None = None,
) -> tuple[list[Family], int]:
    """:func:`families`, and how many families match in all (to say that some were left out)."""
    context = line_context(settings, _starter(settings, starter_name), arch, say, transport)
    say(f"matching families of {context.starter.name}")
    total = len(matching_families(context.starter, context.catalogs, query))
    found = list_families(
        context.starter, context.catalogs, context.starter_packages, query, limit=limit
    )
    return found, total


def check_autos(
    settings: Settings,
    starter: str | Starter,
    requests: Sequence[str],
    arch: str = "amd64",
    *,
    say: Say = _quiet,
    transport: Transport | None = None,
) -> list[tuple[str, str]]:
    """(request, problem) for every ``-auto`` request whose family is unknown to the starter's
    releases, blocked or dependency-only, the problem saying how to fix it; [] when all are fine.

    Reads no catalog when ``requests`` holds no ``-auto`` entry. Raises what
    :func:`line_context` raises.
    """
    if not any(auto_family(request) is not None for request in requests):
        return []
    context = line_context(settings, _starter(settings, starter), arch, say, transport)
    return auto_problems(context.starter, context.catalogs, context.starter_packages, requests)
