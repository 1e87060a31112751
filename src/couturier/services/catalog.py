"""Catalog services for the interfaces: refresh with progress, load on demand, search, resolve.

:func:`refresh`, :func:`search` and :func:`resolve_requests` take a job's
:class:`~couturier.services.context.CatalogContext` and a request; :func:`catalog` is what a
context's catalog source calls (:func:`couturier.services.context.catalog_context`).

A command that needs a release's indexes and has none yet refreshes them first, so the first
``couturier packages resolve`` on a fresh machine just works; later ones load the snapshots
already verified and never touch the network, unless one of them, or a suite's state file, was
found damaged on disk: it is then downloaded again (the state rebuilt), with a warning.

The snapshot indexes opened are kept in a :class:`SnapshotCache`: the caller's (a job's
context may bring its own) or else :data:`SNAPSHOTS`, the one this service keeps for the
process, so a command that reads a release twice loads it once; the kept InReleases that the
suites' states are checked against, parsed, in :data:`RELEASES`. Both are thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from couturier.core.catalog import Catalog
from couturier.core.relations import parse_request
from couturier.core.resolver import Resolution, resolve
from couturier.debian import refresh as refresh_module
from couturier.debian.index import IndexCatalog, load_catalog
from couturier.debian.listing import ReleaseCache
from couturier.debian.refresh import ProgressEvent, RefreshReport
from couturier.debian.snapshots import (
    SnapshotCache,
    SnapshotDamagedError,
    SuiteStateDamagedError,
)
from couturier.debian.transport import Transport
from couturier.errors import NotFoundError
from couturier.settings import Settings

if TYPE_CHECKING:
    from couturier.services.context import CatalogContext

__all__ = [
    "RELEASES",
    "SNAPSHOTS",
    "Say",
    "catalog",
    "refresh",
    "report_lines",
    "resolve_requests",
    "search",
]

# What takes a job's messages (progress and warnings, one line each): the one alias of it.
Say = Callable[[str], None]
# The snapshot indexes this process opened through the service (see the module docstring).
SNAPSHOTS = SnapshotCache()
# The kept InReleases this process parsed through the service (see the module docstring).
RELEASES = ReleaseCache()


def refresh(
    context: CatalogContext,
    releases: Sequence[str] | None,
    architectures: Sequence[str] | None,
) -> RefreshReport:
    """Refresh the named releases and architectures (all when None) of the context's settings
    with its transport, reporting progress to its ``say``. Every suite is attempted; failures
    are in the report, not raised, except unknown release or architecture names
    (:class:`ConfigError`).
    """
    return _refresh(context.settings, releases, architectures, context.say, context.transport)


def _refresh(
    settings: Settings,
    releases: Sequence[str] | None,
    architectures: Sequence[str] | None,
    say: Say,
    transport: Transport | None,
    *,
    snapshots: SnapshotCache | None = None,
) -> RefreshReport:
    for name in releases or ():
        settings.release(name)

    def on_event(event: ProgressEvent) -> None:
        say(str(event))

    return refresh_module.refresh(
        settings,
        releases,
        architectures,
        transport,
        on_event,
        raise_errors=False,
        snapshots=snapshots,
    )


def report_lines(report: RefreshReport) -> list[str]:
    """One line per suite, then warnings and errors, for a terminal."""
    lines = [
        f"{s.release:<10} {s.suite:<20} {s.status:<9} "
        + (", ".join(f"{k} {v[:12]}" for k, v in sorted(s.snapshots.items())) or "-")
        for s in report.suites
    ]
    lines += [f"warning: {w}" for w in report.warnings]
    lines += [f"error: {e}" for e in report.errors]
    return lines


def catalog(
    settings: Settings,
    release: str,
    architecture: str,
    say: Say,
    transport: Transport | None = None,
    *,
    snapshots: SnapshotCache | None = None,
) -> IndexCatalog:
    """The catalog of ``release`` for ``architecture``, refreshing first if it has no snapshot,
    one of its snapshots was damaged on disk, or a suite's state file is damaged or disagrees
    with the verified InRelease kept beside it (both said to ``say`` as a warning).

    Snapshot indexes are kept in ``snapshots`` (:data:`SNAPSHOTS` when None).
    Raises :class:`ConfigError` for unknown names and the refresh's own error when that refresh
    fails (there is nothing older to fall back to).
    """
    opened = SNAPSHOTS if snapshots is None else snapshots
    settings.release(release)
    settings.check_architecture(architecture)
    warn = _warner(say)
    try:
        loaded = load_catalog(
            settings, release, architecture, warn, snapshots=opened, releases=RELEASES
        )
        if not loaded.missing_suites:
            return loaded
        return _with_missing_suites(settings, loaded, say, transport, opened)
    except NotFoundError:
        say(f"no indexes for {release}/{architecture} yet: refreshing")
    except SnapshotDamagedError as error:
        warn(f"{error.message}; downloading it again")
    except SuiteStateDamagedError as error:
        warn(f"{error.message}; refreshing to repair it")
    report = _refresh(settings, [release], [architecture], say, transport, snapshots=opened)
    if report.errors:
        raise report.errors[0] from None
    return load_catalog(settings, release, architecture, warn, snapshots=opened, releases=RELEASES)


def _with_missing_suites(
    settings: Settings,
    loaded: IndexCatalog,
    say: Say,
    transport: Transport | None,
    snapshots: SnapshotCache,
) -> IndexCatalog:
    """``loaded`` once its secondary suites without any state (never refreshed, or a damaged
    state removed by ``cache verify``) were refreshed; when that refresh fails, ``loaded``
    as it is, with a warning naming the suites left out."""
    release, architecture = loaded.release, loaded.architecture
    missing = ", ".join(loaded.missing_suites)
    say(f"no indexes for {missing} ({release}/{architecture}) yet: refreshing")
    report = _refresh(settings, [release], [architecture], say, transport, snapshots=snapshots)
    if report.errors:
        say(f"warning: {release}/{architecture} is used without {missing}: {report.errors[0]}")
        return loaded
    return load_catalog(
        settings, release, architecture, _warner(say), snapshots=snapshots, releases=RELEASES
    )


def _warner(say: Say) -> Say:
    def warn(message: str) -> None:
        say(f"warning: {message}")

    return warn


def search(
    context: CatalogContext,
    query: str,
    releases: Sequence[str] | None,
    architectures: Sequence[str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Search every named release and architecture (all configured when None) through the
    context's catalogs; newest version of each matching package per release and architecture,
    as plain dicts.
    """
    settings = context.settings
    hits: list[dict[str, Any]] = []
    for release in releases or list(settings.releases):
        for arch in architectures or list(settings.architectures):
            found: Catalog = context.catalogs(release, arch)
            hits.extend(
                {
                    "name": p.name,
                    "version": p.version,
                    "architecture": p.architecture,
                    "release": release,
                    "platform": arch,
                    "summary": p.summary,
                }
                for p in found.search(query, limit)
            )
    return hits


def resolve_requests(
    context: CatalogContext, release: str, architecture: str, requests: Sequence[str]
) -> Resolution:
    """What installing ``requests`` (``name``, ``name=version``, ``name:arch``) into an empty
    system of ``release`` on ``architecture`` needs, with the package that pulled each in: the
    one resolver (:func:`couturier.core.resolver.resolve`) on the context's catalog, as plans
    and builds use it.

    Raises :class:`InputError` for a malformed request (before any catalog is read),
    :class:`ResolutionError` when there is no solution, and what loading the catalog raises.
    """
    relations = [parse_request(text) for text in requests]
    return resolve(context.catalogs(release, architecture), relations)
