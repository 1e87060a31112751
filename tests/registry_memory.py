"""A registry reader held in memory, for the HTTP semantics of ``/v2/`` (a helper).

This is a stand-in for :func:`couturier.services.registry_store.registry_reader` (the real
reader over the blob store and the database, which the real-client tests use): it implements
the :class:`~couturier.services.registry.RegistryReader` protocol with the same visibility
rule (a tenant sees its own repositories and the starters it is entitled to; anything else is
answered exactly as a missing repository), so that ranges, pagination, error codes and
headers can be checked on content the test chooses. Blobs are real files under a directory.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from couturier.services.registry import BlobLocation, StoredManifest

__all__ = ["MemoryRegistry"]

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class _Repository:
    owner: int | None  # None: a starter
    entitled: set[int]
    manifests: dict[str, StoredManifest] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    blobs: set[str] = field(default_factory=set)
    referrers: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def visible_to(self, tenant_id: int) -> bool:
        return self.owner == tenant_id or tenant_id in self.entitled


class MemoryRegistry:
    """Repositories built by the test: :meth:`add_repository`, :meth:`add_blob`,
    :meth:`add_manifest` (with tags), :meth:`add_referrer`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repositories: dict[str, _Repository] = {}
        self.files: dict[str, Path] = {}

    def add_repository(
        self, name: str, owner: int | None, entitled: set[int] | None = None
    ) -> None:
        self.repositories[name] = _Repository(owner, set(entitled or ()))

    def add_blob(self, repository: str, data: bytes) -> str:
        digest = digest_of(data)
        path = self.root / digest.replace(":", "-")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[digest] = path
        self.repositories[repository].blobs.add(digest)
        return digest

    def add_manifest(
        self, repository: str, document: dict[str, Any], tags: tuple[str, ...] = ()
    ) -> StoredManifest:
        content = json.dumps(document, separators=(",", ":")).encode()
        stored = StoredManifest(digest_of(content), str(document["mediaType"]), content)
        repo = self.repositories[repository]
        repo.manifests[stored.digest] = stored
        for tag in tags:
            repo.tags[tag] = stored.digest
        subject = document.get("subject")
        if subject:
            descriptor = {
                "mediaType": stored.media_type,
                "digest": stored.digest,
                "size": len(content),
                "artifactType": document.get("artifactType", ""),
            }
            repo.referrers.append((subject["digest"], descriptor))
        return stored

    def _visible(self, tenant_id: int, repository: str) -> _Repository | None:
        repo = self.repositories.get(repository)
        return repo if repo is not None and repo.visible_to(tenant_id) else None

    # the RegistryReader protocol

    def repository_exists(self, tenant_id: int, repository: str) -> bool:
        return self._visible(tenant_id, repository) is not None

    def manifest(self, tenant_id: int, repository: str, reference: str) -> StoredManifest | None:
        repo = self._visible(tenant_id, repository)
        if repo is None:
            return None
        return repo.manifests.get(repo.tags.get(reference, reference))

    def blob(self, tenant_id: int, repository: str, digest: str) -> BlobLocation | None:
        repo = self._visible(tenant_id, repository)
        if repo is None:
            return None
        if digest in repo.manifests:
            content = repo.manifests[digest].content
            path = self.root / digest.replace(":", "-")
            path.write_bytes(content)
            return BlobLocation(digest, len(content), path)
        if digest not in repo.blobs:
            return None
        path = self.files[digest]
        return BlobLocation(digest, path.stat().st_size, path)

    def tags(self, tenant_id: int, repository: str) -> list[str] | None:
        repo = self._visible(tenant_id, repository)
        return sorted(repo.tags) if repo is not None else None

    def referrers(
        self, tenant_id: int, repository: str, subject: str, artifact_type: str | None = None
    ) -> list[dict[str, Any]] | None:
        repo = self._visible(tenant_id, repository)
        if repo is None:
            return None
        return [
            descriptor
            for of, descriptor in repo.referrers
            if of == subject and artifact_type in (None, descriptor["artifactType"])
        ]
