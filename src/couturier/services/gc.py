"""Garbage collection of the blob store: blobs that no manifest references are removed.

What is kept is marked from the database (:mod:`couturier.store.registry`): every manifest's
own digest and every digest a manifest references (configs, layers, an index's manifests,
artifact payloads), over every repository. A layer shared by a starter and the private images
built on it stays while any of them references it; deleting an image
(:func:`couturier.services.images.delete_image`) removes its manifests at once, and its blobs
that nothing else references go at the next collection.

Never racing a build: a build stores its blobs before its commit references them, so a blob
stored (or stored again: the blob store renews its time) after ``cutoff`` is spared, where
``cutoff`` is the earlier of ``now - grace`` and the start of the oldest build still running.
A build that started before a collection and commits after it finds its blobs spared; were
one removed anyway, its commit refuses to publish (the registry sink checks every blob is
still there) rather than publish a reference to nothing.

``couturier admin gc`` runs :func:`collect_garbage`; a refresh may call it after its builds.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from couturier.services.registry_sink import installation_blobs
from couturier.store.models import Build
from couturier.store.registry import RegistryRecords

if TYPE_CHECKING:
    from couturier.services.installation import Installation

__all__ = ["DEFAULT_GRACE", "GcSummary", "collect_garbage"]

# Blobs younger than this are spared whatever the builds' records say: a build's first blobs
# may be stored before its record says it started (a worker on another machine).
DEFAULT_GRACE = dt.timedelta(minutes=15)
IN_PROGRESS = "in progress"


@dataclass(frozen=True)
class GcSummary:
    """What a collection did: blobs removed and their bytes, blobs kept (referenced), and
    unreferenced blobs spared because a build may still reference them."""

    removed: int
    freed: int
    kept: int
    spared: int

    def to_json(self) -> dict[str, int]:
        return {
            "removed": self.removed,
            "freed": self.freed,
            "kept": self.kept,
            "spared": self.spared,
        }


def _cutoff_ns(installation: Installation, grace: dt.timedelta) -> int:
    """The time (ns since the epoch) before which an unreferenced blob may go."""
    cutoff = time.time_ns() - int(grace.total_seconds() * 1e9)
    with installation.store.unit() as uow:
        oldest = uow.session.scalar(
            select(func.min(Build.started_at)).where(Build.status == IN_PROGRESS)
        )
    if oldest is not None:
        cutoff = min(cutoff, int(oldest.timestamp() * 1e9))
    return cutoff


def collect_garbage(
    installation: Installation, *, grace: dt.timedelta = DEFAULT_GRACE
) -> GcSummary:
    """Remove the blobs of ``installation``'s blob store that no manifest references and that
    were stored before the cutoff (see the module docstring). Cost: one query for the marks,
    one ``stat`` per unreferenced blob. Raises :class:`OSError` when a blob cannot be removed."""
    cutoff = _cutoff_ns(installation, grace)
    with installation.store.unit() as uow:
        referenced = RegistryRecords(uow.session).all_references()
    blobs = installation_blobs(installation.settings)
    removed = freed = kept = spared = 0
    for digest in list(blobs.digests()):
        if digest in referenced:
            kept += 1
            continue
        modified = blobs.modified_ns(digest)
        if modified is None:
            continue
        if modified >= cutoff:
            spared += 1
            continue
        size = blobs.size(digest) or 0
        if blobs.delete(digest):
            removed += 1
            freed += size
    return GcSummary(removed, freed, kept, spared)
