"""The context of one job: everything a build, a plan or a catalog query needs besides its
request.

A :class:`BuildContext` is made once per job from the frozen settings (:func:`build_context`)
and carries the ports the job uses: where catalogs come from, how packages are fetched, the
layer cache, the bundle store, the image sink (:class:`~couturier.oci.sink.ImageSink`: an OCI
layout directory today), the clock and build date, the progress callbacks and the trace id. A
job that builds nothing (a search, a resolve, the families of a starter) takes the narrower
:class:`CatalogContext` (:func:`catalog_context`), which a :class:`BuildContext` also is. The
caches a job fills (family indexes, opened snapshot indexes) belong to its context or are
handed to it, never to a module.

The services take a context and a request; the interfaces make the context (reading
``SOURCE_DATE_EPOCH``, choosing the output) and render the results. Nothing below reads the
environment, so jobs with different dates, outputs or reporters can run side by side in one
process (a server's threads).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from couturier.core.families import FamilyIndexes
from couturier.services import catalog as catalog_service
from couturier.services.catalog import Say
from couturier.settings import Settings

if TYPE_CHECKING:
    # The build's ports are imported by build_context when a build is made: a job that only
    # reads catalogs (`couturier packages resolve`) does not pay for the engine's imports.
    from couturier.assembly.fetch import Progress
    from couturier.assembly.layercache import LayerCache
    from couturier.core.bundle import Bundle
    from couturier.core.catalog import Package
    from couturier.debian.index import IndexCatalog
    from couturier.debian.snapshots import SnapshotCache
    from couturier.debian.transport import Transport
    from couturier.oci.signing import Signer
    from couturier.oci.sink import ImageSink
    from couturier.services.build import StageEvent
    from couturier.services.catalog_keep import KeptCatalogs
    from couturier.services.smoke import SmokeTester

__all__ = [
    "BuildContext",
    "CatalogContext",
    "CatalogSource",
    "PackageFetcher",
    "build_context",
    "catalog_context",
]


class CatalogSource(Protocol):
    """The catalog of a release for an architecture (refreshed first when it has none)."""

    def __call__(self, release: str, architecture: str) -> IndexCatalog: ...


class PackageFetcher(Protocol):
    """Put the ``.deb`` files of ``packages`` in the download cache; name → local path."""

    def __call__(
        self,
        packages: Sequence[Package],
        url_of: Callable[[Package], str],
        progress: Progress | None = None,
    ) -> dict[str, Path]: ...


@dataclass(frozen=True)
class CatalogContext:
    """The ports of a job that reads catalogs and builds nothing (a search, a resolve, the
    families of a starter, a spec's checks); made by :func:`catalog_context`, never changed.
    A :class:`BuildContext` is one too, so a build's plan and checks use the build's ports.

    ``catalogs`` loads (refreshing when needed) a release's catalog; ``families`` keeps the
    family indexes of the catalogs this job reads (an owned, thread-safe cache: a server may
    hand one to many jobs); ``say`` gets catalog messages and warnings; ``transport`` is the
    HTTP transport of refreshes and downloads (None: the default client).
    """

    settings: Settings
    catalogs: CatalogSource
    families: FamilyIndexes
    transport: Transport | None
    say: Say
    trace_id: str

    def warn(self, message: str) -> None:
        """Say a warning: something damaged on disk was found and repaired on the way."""
        self.say(f"warning: {message}")


@dataclass(frozen=True)
class BuildContext(CatalogContext):
    """The ports and facts of one build (or plan) job; made by :func:`build_context`, never
    changed.

    ``sink`` is the image sink (:class:`~couturier.oci.sink.ImageSink`: an OCI layout directory
    for ``couturier build``, the registry repository for the service's builds; None for a job
    that writes no image, such as a plan). ``epoch`` is the build date
    the layers' file dates are clamped to (None: each line's newest package date); ``now``
    dates the tags. ``signer`` (None: nothing is signed) signs every created line's manifests
    and attests them (:mod:`couturier.services.signatures`). ``on_stage`` gets the build's
    :class:`~couturier.services.build.StageEvent` values (from fetch threads too: it must be
    thread-safe). ``smoke`` starts each created line once before it is published
    (:mod:`couturier.services.smoke`; None: lines are untested).
    """

    fetch: PackageFetcher
    layers: LayerCache
    bundles: Callable[[str], Bundle]
    sink: ImageSink | None
    epoch: int | None
    now: dt.datetime
    on_stage: Callable[[StageEvent], None]
    signer: Signer | None = None
    smoke: SmokeTester | None = None


def catalog_context(
    settings: Settings,
    *,
    transport: Transport | None = None,
    say: Say = lambda message: None,
    trace_id: str | None = None,
    snapshots: SnapshotCache | None = None,
    families: FamilyIndexes | None = None,
    kept: KeptCatalogs | None = None,
) -> CatalogContext:
    """The context of one job on ``settings`` that reads catalogs only: catalogs through the
    catalog service (snapshot indexes shared through ``snapshots``, the service's process-wide
    :class:`SnapshotCache` when None), family indexes in ``families`` (a new owner when None),
    ``trace_id`` a new random id when None. With ``kept`` (a serving process's), a catalog
    that reads the same snapshots as the one kept there is that one, caches warm, and the
    family indexes are the keeper's (unless ``families`` is given). Cost: nothing is read until
    the job uses a port."""

    def catalogs(release: str, architecture: str) -> IndexCatalog:
        loaded = catalog_service.catalog(
            settings, release, architecture, say, transport, snapshots=snapshots
        )
        return loaded if kept is None else kept.same(loaded)

    return CatalogContext(
        settings=settings,
        catalogs=catalogs,
        families=families or (kept.families if kept is not None else FamilyIndexes()),
        transport=transport,
        say=say,
        trace_id=trace_id or uuid.uuid4().hex,
    )


def build_context(
    settings: Settings,
    *,
    output: Path | None = None,
    sink: ImageSink | None = None,
    epoch: int | None = None,
    now: dt.datetime | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    transport: Transport | None = None,
    say: Say = lambda message: None,
    on_stage: Callable[[StageEvent], None] = lambda event: None,
    trace_id: str | None = None,
    snapshots: SnapshotCache | None = None,
    families: FamilyIndexes | None = None,
    tenant: int | None = None,
    signer: Signer | None = None,
    smoke: SmokeTester | None = None,
) -> BuildContext:
    """The context of one build job on ``settings``: the ports of :func:`catalog_context`,
    packages and layers in ``settings.cache_dir``, bundles from the bundle store, the images
    into ``sink`` (or, given ``output`` instead, the OCI image layout directory there: a
    :class:`~couturier.oci.layout.LayoutSink`). ``now`` defaults to ``epoch`` when one is given
    (a reproducible build dates its tags by it too), else to ``clock()``. Cost: nothing is read
    or written until the job uses a port. Bundles come from ``tenant``'s bundle store (None:
    the command line's local one); ``smoke`` smoke-tests the lines (None: none). Raises
    :class:`ValueError` given both ``output`` and ``sink``."""
    from couturier.assembly.fetch import fetch
    from couturier.assembly.layercache import LayerCache
    from couturier.oci.layout import LayoutSink
    from couturier.services.bundles import get_bundle

    if output is not None:
        if sink is not None:
            raise ValueError("give a build context an output or a sink, not both")
        sink = LayoutSink(output)
    base = catalog_context(
        settings,
        transport=transport,
        say=say,
        trace_id=trace_id,
        snapshots=snapshots,
        families=families,
    )

    def fetch_packages(
        packages: Sequence[Package],
        url_of: Callable[[Package], str],
        progress: Progress | None = None,
    ) -> dict[str, Path]:
        return fetch(
            packages,
            url_of,
            settings.cache_dir,
            transport=transport,
            progress=progress,
            warn=base.warn,
        )

    if now is None:
        now = clock() if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)
    return BuildContext(
        settings=settings,
        catalogs=base.catalogs,
        families=base.families,
        transport=transport,
        say=say,
        trace_id=base.trace_id,
        fetch=fetch_packages,
        layers=LayerCache(settings.cache_dir / "layers", base.warn),
        bundles=partial(get_bundle, settings, tenant=tenant),
        sink=sink,
        epoch=epoch,
        now=now,
        on_stage=on_stage,
        signer=signer,
        smoke=smoke,
    )
