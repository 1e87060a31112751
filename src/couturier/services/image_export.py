"""An image's registry repository as one OCI image layout (``couturier images export``).

:func:`layout_members` lists what the layout of the tenant's image holds: ``oci-layout``,
``index.json`` with one entry per tag (``org.opencontainers.image.ref.name``) and one untagged
entry per referrer (with its ``artifactType``, as :class:`couturier.oci.layout.LayoutWriter`
lists SBOMs), and ``blobs/sha256/<hex>`` for every blob those entries reach (an index's
manifests, each manifest's config and layers, each artifact's payload). Every blob is checked
against its digest first (a damaged one is refused before anything is sent).
:func:`layout_tar` streams those members as one tar (``GET /v1/images/{tenant}/{name}/layout``);
the CLI unpacks it, accepting nothing else than those names.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from couturier.oci.documents import INDEX_MEDIA_TYPE, REF_NAME, canonical_json
from couturier.oci.layout import LAYOUT_VERSION
from couturier.services.images import find_image
from couturier.services.registry_sink import image_repository, installation_blobs
from couturier.store.registry import RegistryRecords

if TYPE_CHECKING:
    from couturier.services.installation import Installation
    from couturier.services.tokens import Principal

__all__ = ["LayoutMember", "layout_members", "layout_tar"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class LayoutMember:
    """One file of the layout: its relative ``name`` and either its bytes or the stored blob
    file that holds them."""

    name: str
    data: bytes | None = None
    path: Path | None = None


def layout_members(
    installation: Installation, principal: Principal, image: tuple[str, str]
) -> list[LayoutMember]:
    """The files of the OCI layout of the tenant's image ``image`` (``(tenant, name)``).
    Raises :class:`NotFoundError` for an image the tenant lacks, :class:`IntegrityError`
    (``blob-damaged``) for a stored blob that no longer matches its digest."""
    with installation.store.unit() as uow:
        found = find_image(uow, principal, *image)
        repository = image_repository(found.tenant_id, found.name)
        records = RegistryRecords(uow.session)
        manifests = {row.digest: row for row in records.manifests(repository)}
        references = records.references([row.id for row in manifests.values()])
        tags = [(row.tag, row.digest) for row in records.tags(repository)]
    blobs = installation_blobs(installation.settings)
    entries: list[dict[str, Any]] = []
    for tag, digest in tags:
        row = manifests[digest]
        entries.append(
            {
                "mediaType": row.media_type,
                "digest": digest,
                "size": row.size,
                "annotations": {REF_NAME: tag},
            }
        )
    for row in manifests.values():
        if row.subject is None:
            continue
        body = json.loads(blobs.read(row.digest) or b"{}")
        entry: dict[str, Any] = {
            "mediaType": row.media_type,
            "digest": row.digest,
            "size": row.size,
            "artifactType": row.artifact_type,
        }
        if body.get("annotations"):
            entry["annotations"] = body["annotations"]
        entries.append(entry)
    entries.sort(key=lambda e: (e.get("annotations", {}).get(REF_NAME, ""), e["digest"]))
    reached: dict[str, None] = {}
    pending = [entry["digest"] for entry in entries]
    while pending:
        digest = pending.pop()
        if digest in reached:
            continue
        reached[digest] = None
        held = manifests.get(digest)
        if held is not None:
            pending.extend(references.get(held.id, []))
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": entries}
    members = [
        LayoutMember("oci-layout", canonical_json({"imageLayoutVersion": LAYOUT_VERSION})),
        LayoutMember("index.json", canonical_json(index)),
    ]
    for digest in sorted(reached):
        path = blobs.path(digest)  # raises for a damaged blob
        if path is not None:
            members.append(
                LayoutMember(f"blobs/sha256/{digest.removeprefix('sha256:')}", path=path)
            )
    return members


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def layout_tar(members: list[LayoutMember]) -> Iterator[bytes]:
    """The members as a plain USTAR tar stream (regular files only, mode 0644, owner 0,
    mtime 0), each blob file read in 1 MiB chunks as it is sent: nothing is held whole.
    The names are at most 77 characters, within USTAR's 100."""
    for member in members:
        if member.data is not None:
            size = len(member.data)
            yield _header(member.name, size)
            yield member.data
        else:
            assert member.path is not None
            with member.path.open("rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                yield _header(member.name, size)
                while chunk := stream.read(_CHUNK):
                    yield chunk
        yield b"\0" * (-size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)  # the end of the archive
