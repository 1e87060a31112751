"""What Couturier's OCI pull endpoint reads: repositories, manifests, blobs, tags and referrers.

The ``/v2/`` routes (:mod:`couturier.api.registry`) answer the OCI distribution specification's
pull category and referrers API from a :class:`RegistryReader`; they know nothing of how the
content is stored. The implementation over the installation's blob store and database is
:func:`couturier.services.registry_store.registry_reader`.

Repository names are the path of the pull reference without host and reference:
``"53/payments-api"`` (a tenant's private image: ``TENANT_ID/NAME``) or ``"starters/python"``
(a starter, pullable by every tenant entitled to it).

Visibility is the reader's job, not the route's: every method takes the asking tenant and
answers ``None`` (or an empty result) for a repository that tenant cannot see, exactly as for one
that does not exist, so that no answer tells tenant B anything about tenant A. A blob is found
only through a repository whose manifests reference it (a layer's digest known to tenant B does
not make tenant A's layer readable).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["BlobLocation", "RegistryReader", "StoredManifest"]


@dataclass(frozen=True)
class StoredManifest:
    """A manifest or index as stored: ``content`` is the exact bytes whose sha256 is ``digest``
    (``"sha256:<64 hex>"``); ``media_type`` is its ``mediaType`` (sent as ``Content-Type``)."""

    digest: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class BlobLocation:
    """A stored blob: the read-only file ``path`` holds exactly ``size`` bytes whose sha256 is
    ``digest``. The file is never rewritten in place (blobs are written atomically), so a reader
    may stream it while the store works; it may disappear only through garbage collection."""

    digest: str
    size: int
    path: Path


class RegistryReader(Protocol):
    """Read access to the registry content one tenant can see. Thread-safe."""

    def repository_exists(self, tenant_id: int, repository: str) -> bool:
        """Whether ``repository`` exists and ``tenant_id`` may pull from it."""
        ...

    def manifest(self, tenant_id: int, repository: str, reference: str) -> StoredManifest | None:
        """The manifest or index that ``reference`` (a tag, or a ``sha256:`` digest) names in
        ``repository``; ``None`` when there is none or the tenant cannot see the repository."""
        ...

    def blob(self, tenant_id: int, repository: str, digest: str) -> BlobLocation | None:
        """The blob ``digest`` if a manifest of ``repository`` references it (config, layer,
        artifact payload) or it is itself one of the repository's manifests; else ``None``."""
        ...

    def tags(self, tenant_id: int, repository: str) -> list[str] | None:
        """Every tag of ``repository`` in lexical order; ``None`` for an unknown repository."""
        ...

    def referrers(
        self, tenant_id: int, repository: str, subject: str, artifact_type: str | None = None
    ) -> list[dict[str, Any]] | None:
        """The descriptors (``mediaType``, ``digest``, ``size``, ``artifactType``,
        ``annotations``) of the manifests in ``repository`` whose ``subject`` is the digest
        ``subject``, only those of ``artifact_type`` when given; ``None`` for an unknown
        repository (an unknown subject has no referrers: an empty list)."""
        ...
