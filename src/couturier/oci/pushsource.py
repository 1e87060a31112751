"""What a push reads: the push source port, and its adapter over an OCI image layout.

A :class:`PushSource` hands :func:`couturier.oci.push.push` the exact bytes of manifests and
indexes, the files of blobs and the referrers of a manifest, all by digest; the push walks
from each :class:`PushItem` (a root manifest or index and its tags) to everything it
references. It needs nothing else, so any store of content-addressed blobs adapts in a few
lines: :class:`LayoutPushSource` reads an image layout (what ``couturier build --output``
writes); :class:`couturier.services.pushes.RepositoryPushSource` reads a repository of
Couturier's registry (the blob store that service builds publish into) through its
:class:`couturier.services.registry.RegistryReader`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from couturier.errors import Code, IntegrityError, NotFoundError
from couturier.oci.documents import Descriptor
from couturier.oci.layout import Layout

__all__ = ["LayoutPushSource", "PushItem", "PushSource"]


@dataclass(frozen=True)
class PushItem:
    """A root to push: the manifest or index ``digest`` (``sha256:<hex>``) and the tags that
    name it at the destination (pushed last, after everything it references)."""

    digest: str
    tags: Sequence[str] = ()


class PushSource(Protocol):
    """Content to push, by digest. Raises :class:`NotFoundError` for content it lacks."""

    def manifest(self, digest: str) -> tuple[str, bytes]:
        """The ``mediaType`` and exact bytes of the manifest or index ``digest``."""
        ...

    def blob(self, digest: str) -> Path:
        """A file holding exactly the blob ``digest`` (a config, layer or artifact payload),
        not rewritten while the push reads it."""
        ...

    def referrers(self, digest: str) -> list[Descriptor]:
        """The descriptors of the artifact manifests whose ``subject`` is ``digest`` (with
        their ``artifact_type`` and annotations)."""
        ...


class LayoutPushSource:
    """The OCI image layout at ``root`` as a push source. Manifests are verified against
    their digest (:class:`IntegrityError`, ``blob-damaged``); blobs are streamed as they are
    (the destination checks their digest)."""

    def __init__(self, root: Path) -> None:
        self._layout = Layout(root)

    def manifest(self, digest: str) -> tuple[str, bytes]:
        path = self.blob(digest)
        data = path.read_bytes()
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise IntegrityError(
                f"blob {digest} in {self._layout.root} has digest {actual}",
                code=Code.BLOB_DAMAGED,
                fields={"path": str(path), "expected_digest": digest, "actual_digest": actual},
            )
        try:
            media_type = json.loads(data).get("mediaType", "")
        except (ValueError, AttributeError):
            media_type = ""
        return str(media_type), data

    def blob(self, digest: str) -> Path:
        path = self._layout.blob_path(digest)
        if not path.is_file():
            raise NotFoundError(
                f"blob {digest} is missing from {self._layout.root}",
                fields={"digest": digest, "path": str(self._layout.root)},
            )
        return path

    def referrers(self, digest: str) -> list[Descriptor]:
        return self._layout.referrers(digest)
