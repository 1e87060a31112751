"""The registry content as the pull endpoint reads it: :func:`registry_reader`.

Implements :class:`couturier.services.registry.RegistryReader` over the installation's registry
records (:mod:`couturier.store.registry`) and blob store (:mod:`couturier.blobs`), with the
visibility rules of that port: a tenant sees its own repositories (``"<its id>/NAME"``) and the
starters it is entitled to (``"starters/S"``); every other repository is answered as one that
does not exist. A blob is served only when a manifest of the repository asked for references
it (or it is one of that repository's manifests).

A stored blob whose bytes no longer match its digest is never served: the blob store checks it
first and raises :class:`~couturier.errors.IntegrityError` (code ``blob-damaged``), which the
endpoint reports instead of the blob.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from couturier.errors import Code, IntegrityError
from couturier.services.registry import BlobLocation, RegistryReader, StoredManifest
from couturier.services.registry_sink import installation_blobs
from couturier.store.registry import RegistryManifest, RegistryRecords
from couturier.store.repositories import TenantRepository

if TYPE_CHECKING:
    from couturier.blobs import BlobStore
    from couturier.services.installation import Installation
    from couturier.store import Store, UnitOfWork

__all__ = ["StoreReader", "registry_reader"]

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_STARTERS = "starters/"


def _missing(digest: str) -> IntegrityError:
    """``blob-damaged`` for a blob the records reference but the blob store lacks (a file
    removed from the data directory by hand, a partial restore): lost data, which a ``404``
    would pass off as a name the client got wrong."""
    return IntegrityError(
        f"stored blob {digest} is missing from the blob store: it is not served",
        "the next build that makes it writes it again (or restore the data directory)",
        code=Code.BLOB_DAMAGED,
        fields={"digest": digest, "problem": "missing"},
    )


def registry_reader(installation: Installation) -> RegistryReader:
    """The :class:`RegistryReader` of ``installation``'s registry records and blob store."""
    return StoreReader(installation.store, installation_blobs(installation.settings))


def visible(uow: UnitOfWork, tenant_id: int, repository: str) -> bool:
    """Whether tenant ``tenant_id`` may read ``repository`` (whether or not it exists): its
    own ``"<id>/NAME"``, or ``"starters/S"`` for a starter S it is entitled to."""
    owner, _, rest = repository.partition("/")
    if not rest or "/" in rest:
        return False
    if f"{owner}/" == _STARTERS:
        return rest in TenantRepository(uow.session, tenant_id).entitlements()
    return owner == str(int(tenant_id))


@dataclass(frozen=True)
class StoreReader:
    """:class:`RegistryReader` over ``store`` and ``blobs``; each call is one read unit."""

    store: Store
    blobs: BlobStore

    def repository_exists(self, tenant_id: int, repository: str) -> bool:
        with self.store.unit() as uow:
            return visible(uow, tenant_id, repository) and RegistryRecords(
                uow.session
            ).repository_exists(repository)

    def _manifest_row(
        self, uow: UnitOfWork, tenant_id: int, repository: str, reference: str
    ) -> RegistryManifest | None:
        if not visible(uow, tenant_id, repository):
            return None
        records = RegistryRecords(uow.session)
        digest = reference
        if not _DIGEST.fullmatch(reference):
            tag = records.tag(repository, reference)
            if tag is None:
                return None
            digest = tag.digest
        return records.manifest(repository, digest)

    def manifest(self, tenant_id: int, repository: str, reference: str) -> StoredManifest | None:
        with self.store.unit() as uow:
            row = self._manifest_row(uow, tenant_id, repository, reference)
            if row is None:
                return None
            digest, media_type = row.digest, row.media_type
        content = self.blobs.read(digest)  # raises for a damaged blob: never served
        if content is None:
            raise _missing(digest)
        return StoredManifest(digest, media_type, content)

    def blob(self, tenant_id: int, repository: str, digest: str) -> BlobLocation | None:
        if not _DIGEST.fullmatch(digest):
            return None
        with self.store.unit() as uow:
            if not visible(uow, tenant_id, repository):
                return None
            records = RegistryRecords(uow.session)
            if not (
                records.referenced(repository, digest)
                or records.manifest(repository, digest) is not None
            ):
                return None
        path = self.blobs.path(digest)  # raises for a damaged blob: never served
        if path is None:
            raise _missing(digest)
        return BlobLocation(digest, path.stat().st_size, path)

    def tags(self, tenant_id: int, repository: str) -> list[str] | None:
        with self.store.unit() as uow:
            if not visible(uow, tenant_id, repository):
                return None
            records = RegistryRecords(uow.session)
            if not records.repository_exists(repository):
                return None
            return sorted(row.tag for row in records.tags(repository))

    def referrers(
        self, tenant_id: int, repository: str, subject: str, artifact_type: str | None = None
    ) -> list[dict[str, Any]] | None:
        with self.store.unit() as uow:
            if not visible(uow, tenant_id, repository):
                return None
            records = RegistryRecords(uow.session)
            if not records.repository_exists(repository):
                return None
            rows = [
                (row.media_type, row.digest, row.size, row.artifact_type)
                for row in records.referrers(repository, subject, artifact_type)
            ]
        found = []
        for media_type, digest, size, kind in rows:
            content = self.blobs.read(digest)
            if content is None:
                continue
            descriptor: dict[str, Any] = {
                "mediaType": media_type,
                "digest": digest,
                "size": size,
                "artifactType": kind,
            }
            annotations = json.loads(content).get("annotations")
            if annotations:
                descriptor["annotations"] = annotations
            found.append(descriptor)
        return found
