"""Garbage collection of the registry: manifests that no tag reaches, then blobs that no
manifest references, are removed.

**Manifests.** A repository keeps what its tags reach: each tagged manifest or index, the
manifests an index lists, and the referrers (SBOMs) of everything reached. A manifest left
behind (its line moved on and its timestamp tag was among the oldest, removed once newer ones
made the ``timestamp_tags_kept``) goes, unless a build published it since the cutoff.

**Blobs.** What is kept is marked from the database (:mod:`couturier.store.registry`): every
manifest's own digest and every digest a manifest references (configs, layers, an index's manifests,
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
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from couturier.services.registry_sink import installation_blobs
from couturier.store.models import Build
from couturier.store.registry import RegistryManifest, RegistryRecords

if TYPE_CHECKING:
    from couturier.services.installation import Installation

__all__ = ["DEFAULT_GRACE", "GcSummary", "collect_garbage"]

# Blobs younger than this are spared whatever the builds' records say: a build's first blobs
# may be stored before its record says it started (a worker on another machine).
DEFAULT_GRACE = dt.timedelta(minutes=15)
IN_PROGRESS = "in progress"


@dataclass(frozen=True)
class GcSummary:
    """What a collection did: manifests no tag reached, removed; blobs removed and their
    bytes, blobs kept (referenced), and unreferenced blobs spared because a build may still
    reference them."""

    removed: int
    freed: int
    kept: int
    spared: int
    manifests: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "manifests": self.manifests,
            "removed": self.removed,
            "freed": self.freed,
            "kept": self.kept,
            "spared": self.spared,
        }


def _oldest_running(installation: Installation) -> dt.datetime | None:
    with installation.store.unit() as uow:
        return uow.session.scalar(
            select(func.min(Build.started_at)).where(Build.status == IN_PROGRESS)
        )


def _cutoff_ns(oldest: dt.datetime | None, grace: dt.timedelta) -> int:
    """The time (ns since the epoch, by the file system's clock) before which an
    unreferenced blob may go."""
    cutoff = time.time_ns() - int(grace.total_seconds() * 1e9)
    if oldest is not None:
        cutoff = min(cutoff, int(oldest.timestamp() * 1e9))
    return cutoff


def unreachable_manifests(
    manifests: list[RegistryManifest],
    references: list[tuple[int, str]],
    tags: list[tuple[str, str]],
) -> list[int]:
    """The ids of the ``manifests`` that no tag (``(repository, digest)``) of their
    repository reaches, through an index's manifests or as a referrer of what is reached.
    Cost O(manifests + references) per pass; referrers of referrers add passes."""
    by_repository: dict[str, dict[str, RegistryManifest]] = defaultdict(dict)
    for row in manifests:
        by_repository[row.repository][row.digest] = row
    refs: dict[int, list[str]] = defaultdict(list)
    for manifest_id, digest in references:
        refs[manifest_id].append(digest)
    referrers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in manifests:
        if row.subject is not None:
            referrers[(row.repository, row.subject)].append(row.digest)
    reached: set[tuple[str, str]] = set()
    pending = [(repository, digest) for repository, digest in tags]
    while pending:
        key = pending.pop()
        found = by_repository[key[0]].get(key[1])
        if key in reached or found is None:
            continue
        reached.add(key)
        pending.extend((key[0], digest) for digest in refs[found.id])
        pending.extend((key[0], digest) for digest in referrers[key])
    return [row.id for row in manifests if (row.repository, row.digest) not in reached]


def _collect_manifests(installation: Installation, cutoff: dt.datetime) -> int:
    """Remove the manifests no tag reaches that were last published before ``cutoff``."""
    with installation.store.unit(write=True) as uow:
        records = RegistryRecords(uow.session)
        manifests = records.all_manifests()
        tags = [(row.repository, row.digest) for row in records.all_tags()]
        doomed = unreachable_manifests(manifests, records.all_reference_rows(), tags)
        before = len(manifests)
        records.remove_unpublished_since(doomed, cutoff)
        uow.session.flush()
        after = uow.session.scalar(select(func.count()).select_from(RegistryManifest)) or 0
    return before - int(after)


def collect_garbage(
    installation: Installation, *, grace: dt.timedelta = DEFAULT_GRACE
) -> GcSummary:
    """Remove the manifests no tag reaches, then the blobs of ``installation``'s blob store
    that no manifest references, sparing what was published or stored since the cutoff (see
    the module docstring). Cost: a read of the registry's rows, one ``stat`` per unreferenced
    blob. Raises :class:`OSError` when a blob cannot be removed."""
    oldest = _oldest_running(installation)
    published = installation.clock() - grace
    manifests = _collect_manifests(installation, min(published, oldest or published))
    cutoff = _cutoff_ns(oldest, grace)
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
    return GcSummary(removed, freed, kept, spared, manifests)
