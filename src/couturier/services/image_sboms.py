"""The SBOMs of a private image's created lines, read from its registry repository.

Each created line carries an SPDX and a CycloneDX document per architecture, stored as OCI
referrers of the line's image manifest (:func:`couturier.services.build.build` writes them).
:func:`line_sbom` finds the line's image by the digest its last finished build recorded (not by
a tag, which a later build may have moved), the manifest of the architecture asked for, and the
document of the format asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from couturier.core.spec import SpecError, Violation
from couturier.core.suggest import close_names, did_you_mean
from couturier.errors import Code, NotFoundError
from couturier.oci.documents import (
    CYCLONEDX_MEDIA_TYPE,
    INDEX_MEDIA_TYPE,
    SPDX_MEDIA_TYPE,
    Descriptor,
    Platform,
)
from couturier.services.images import find_image
from couturier.services.registry_sink import image_repository, installation_blobs
from couturier.store.cards import SBOM_FORMATS
from couturier.store.images import TenantImages
from couturier.store.registry import RegistryRecords

if TYPE_CHECKING:
    from couturier.blobs import BlobStore
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = [
    "FORMATS",
    "LineManifest",
    "line_manifest",
    "line_sbom",
    "platform_manifest",
    "read_document",
    "repository_sbom",
]

FORMATS = {"spdx": SPDX_MEDIA_TYPE, "cyclonedx": CYCLONEDX_MEDIA_TYPE}
assert tuple(FORMATS) == SBOM_FORMATS


@dataclass(frozen=True)
class LineManifest:
    """The image manifest of one created line of a private image, for one architecture: its
    repository (``"53/name"``), starter, architecture and manifest digest (None when the
    blob store lacks the line's manifest)."""

    repository: str
    starter: str
    arch: str
    manifest: str | None


def line_manifest(
    installation: Installation,
    principal: Principal,
    image: tuple[str, str],
    line: str,
    arch: str | None,
) -> LineManifest:
    """The manifest of line ``line`` of the tenant's image ``image`` (``(tenant, name)``) on
    ``arch`` (the image's first architecture by default), as its last finished build made it
    (by the digest it recorded, not by a tag, which a later build may have moved). Raises
    :class:`NotFoundError` for an image the tenant lacks or a line it has not created,
    :class:`SpecError` for an architecture the image is not built for."""
    settings = installation.settings
    with installation.store.unit() as uow:
        found = find_image(uow, principal, *image)
        repo = TenantImages(uow.session, principal.tenant_id)
        done = repo.latest_builds([found.id], finished=True).get(found.id)
        rows = repo.lines([done.id])[done.id] if done is not None else []
        archs = list(found.spec.get("architectures") or settings.architectures)
        repository, starter = image_repository(found.tenant_id, found.name), found.starter
    if arch is not None and arch not in archs:
        rule = f"must be an architecture the image is built for: {', '.join(archs)}"
        raise SpecError([Violation("arch", arch, rule)], source="request")
    created = {row.line: row.digest for row in rows if row.status == "created" and row.digest}
    digest = created.get(line)
    if digest is None:
        known = sorted(created)
        raise NotFoundError(
            f"the image has no created line {line[:40]!r}{did_you_mean(line, known)}",
            f"its created lines: {', '.join(known) or 'none yet'}",
            code=Code.LINE_NOT_FOUND,
            fields={
                "starter": starter,
                "lines": [line[:40]],
                "suggestions": close_names(line, known),
                "known": known,
            },
        )
    chosen = arch or archs[0]
    manifest = platform_manifest(installation_blobs(settings), digest, Platform.for_debian(chosen))
    return LineManifest(repository, starter, chosen, manifest)


def line_sbom(
    installation: Installation,
    principal: Principal,
    image: tuple[str, str],
    line: str,
    *,
    format: str,
    arch: str | None,
) -> tuple[bytes, str]:
    """The SBOM document (its bytes and media type) of line ``line`` of the tenant's image
    ``image`` (``(tenant, name)``) on ``arch``, as its last finished build made it. Raises as
    :func:`line_manifest` does, and :class:`NotFoundError` when the line has no such SBOM."""
    found = line_manifest(installation, principal, image, line, arch)
    blobs = installation_blobs(installation.settings)
    media_type = FORMATS[format]
    document = _referrer(installation, blobs, found.repository, found.manifest, media_type)
    if document is None:
        raise NotFoundError(
            f"the image's line {line} has no {format} SBOM for {found.arch}",
            "rebuild the image",
            fields={"repository": found.repository, "digest": found.manifest},
        )
    return document, media_type


def repository_sbom(
    installation: Installation, repository: str, digest: str, arch: str, format: str
) -> bytes | None:
    """The ``format`` SBOM of the ``arch`` image under ``digest`` (a line's manifest or index)
    in registry repository ``repository`` (a starter's too); None when it has none."""
    blobs = installation_blobs(installation.settings)
    manifest = platform_manifest(blobs, digest, Platform.for_debian(arch))
    return _referrer(installation, blobs, repository, manifest, FORMATS[format])


def read_document(blobs: BlobStore, digest: str) -> dict[str, Any] | None:
    data = blobs.read(digest)
    if data is None:
        return None
    document: dict[str, Any] = json.loads(data)
    return document


def platform_manifest(blobs: BlobStore, digest: str, platform: Platform) -> str | None:
    """The digest of the image manifest of ``platform`` under the line's ``digest`` (a
    manifest, or an index of one per architecture)."""
    body = read_document(blobs, digest)
    if body is None or body.get("mediaType") != INDEX_MEDIA_TYPE:
        return digest if body is not None else None
    for item in body.get("manifests") or ():
        have = Descriptor.from_json(item).platform
        if have is not None and (have.architecture, have.variant) == (
            platform.architecture,
            platform.variant,
        ):
            return str(item["digest"])
    return None


def _referrer(
    installation: Installation,
    blobs: BlobStore,
    repository: str,
    manifest: str | None,
    media_type: str,
) -> bytes | None:
    """The payload of the first referrer of ``manifest`` of type ``media_type``."""
    if manifest is None:
        return None
    with installation.store.unit() as uow:
        rows = RegistryRecords(uow.session).referrers(repository, manifest, media_type)
        digests = [row.digest for row in rows]
    for digest in digests:
        body = read_document(blobs, digest)
        layers = (body or {}).get("layers") or []
        if layers:
            return blobs.read(str(layers[0]["digest"]))
    return None
