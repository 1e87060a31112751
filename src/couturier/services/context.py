"""The context of one job: everything a build or a plan needs besides its request.

A :class:`BuildContext` is made once per job from the frozen settings (:func:`build_context`)
and carries the ports the job uses: where catalogs come from, how packages are fetched, the
layer cache, the bundle store, the image sink (an OCI layout directory today), the clock and
build date, the progress callbacks and the trace id. The services take a context and a request;
the interfaces make the context (reading ``SOURCE_DATE_EPOCH``, choosing the output) and render
the results. Nothing below reads the environment, so jobs with different dates, outputs or
reporters can run side by side in one process (a server's threads).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from couturier.assembly.fetch import Progress, fetch
from couturier.assembly.layercache import LayerCache
from couturier.core.bundle import Bundle
from couturier.core.catalog import Package
from couturier.debian.index import IndexCatalog
from couturier.debian.snapshots import SnapshotCache
from couturier.debian.transport import Transport
from couturier.services import catalog as catalog_service
from couturier.services.bundles import get_bundle
from couturier.settings import Settings

if TYPE_CHECKING:
    from couturier.services.build import StageEvent

__all__ = ["BuildContext", "CatalogSource", "PackageFetcher", "build_context"]

Say = Callable[[str], None]


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
class BuildContext:
    """The ports and facts of one job; made by :func:`build_context`, never changed.

    ``output`` is the image sink (an OCI layout directory; None for a job that writes no
    image, such as a plan). ``epoch`` is the build date the layers' file dates are clamped to
    (None: each line's newest package date); ``now`` dates the tags. ``on_stage`` gets the
    build's :class:`~couturier.services.build.StageEvent` values (from fetch threads too: it
    must be thread-safe), ``say`` catalog messages and warnings.
    """

    settings: Settings
    catalogs: CatalogSource
    fetch: PackageFetcher
    layers: LayerCache
    bundles: Callable[[str], Bundle]
    output: Path | None
    epoch: int | None
    now: dt.datetime
    transport: Transport | None
    say: Say
    on_stage: Callable[[StageEvent], None]
    trace_id: str

    def warn(self, message: str) -> None:
        """Say a warning: something damaged on disk was found and repaired on the way."""
        self.say(f"warning: {message}")


def build_context(
    settings: Settings,
    *,
    output: Path | None = None,
    epoch: int | None = None,
    now: dt.datetime | None = None,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    transport: Transport | None = None,
    say: Say = lambda message: None,
    on_stage: Callable[[StageEvent], None] = lambda event: None,
    trace_id: str | None = None,
    snapshots: SnapshotCache | None = None,
) -> BuildContext:
    """The context of one job on ``settings``: catalogs through the catalog service, packages
    and layers in ``settings.cache_dir``, bundles from the bundle store, the image into
    ``output``. ``now`` defaults to ``epoch`` when one is given (a reproducible build dates its
    tags by it too), else to ``clock()``; ``trace_id`` to a new random id. Cost: nothing is
    read or written until the job uses a port. Snapshot indexes are shared through
    ``snapshots`` (the catalog service's process-wide :class:`SnapshotCache` when None)."""

    def warn(message: str) -> None:
        say(f"warning: {message}")

    def catalogs(release: str, architecture: str) -> IndexCatalog:
        return catalog_service.catalog(
            settings, release, architecture, say, transport, snapshots=snapshots
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
            warn=warn,
        )

    if now is None:
        now = clock() if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)
    return BuildContext(
        settings=settings,
        catalogs=catalogs,
        fetch=fetch_packages,
        layers=LayerCache(settings.cache_dir / "layers", warn),
        bundles=partial(get_bundle, settings),
        output=output,
        epoch=epoch,
        now=now,
        transport=transport,
        say=say,
        on_stage=on_stage,
        trace_id=trace_id or uuid.uuid4().hex,
    )
