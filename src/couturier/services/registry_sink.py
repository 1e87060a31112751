"""Builds run by the service publish into the registry: the blob store and its records.

:func:`registry_sink` is the one place that says where a repository's images go: every
repository (``TENANT_ID/NAME`` for a private image, :func:`image_repository`;
``starters/STARTER`` for a starter, :func:`starter_repository`) goes to the installation's blob
store (:func:`installation_blobs`) and its registry records (:mod:`couturier.store.registry`).

A :class:`RegistryWriter` (the :class:`~couturier.oci.sink.ImageWriter` of a build) writes each
blob into the blob store as it is handed over (a layer shared with another image is stored
once; the blob store makes every write atomic), and keeps what the blobs mean: the manifests
(with the digests they reference, their ``subject`` and ``artifactType``) and the tags. Its
:meth:`~RegistryWriter.commit` records all of it in ONE database transaction: the manifests
and tags of every line of the build appear together or not at all. Until then the blobs are
stored but referenced by nothing, so nothing is pullable; an abort (or a crash) leaves them
to garbage collection (:mod:`couturier.services.gc`).

Tags follow :mod:`couturier.core.tags`: a timestamp tag never moves (one that names another
digest already is published with a ``-2``, ``-3`` suffix, which :meth:`~RegistryWriter.tag`
returns), only the newest ``timestamp_tags_kept`` timestamp tags of each line stay, and each
move of a mutable tag is kept in the tag history with the build's trace ID.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from couturier.blobs import LocalBlobStore, blob_store_dir
from couturier.core.tags import (
    TAG_PATTERN,
    expired_timestamp_tags,
    free_timestamp_tag,
    is_timestamp_tag,
)
from couturier.errors import Code, ConflictError, InputError, NotFoundError, StateError
from couturier.oci.documents import (
    INDEX_MEDIA_TYPE,
    LINE_ANNOTATION,
    MANIFEST_MEDIA_TYPE,
    Blob,
    Descriptor,
)
from couturier.store.registry import RegistryManifest, RegistryRecords

if TYPE_CHECKING:
    import datetime as dt

    from couturier.blobs import BlobStore
    from couturier.oci.documents import Platform
    from couturier.oci.layer import Layer
    from couturier.services.installation import Installation
    from couturier.settings import Settings
    from couturier.store import Store, UnitOfWork

__all__ = [
    "RegistrySink",
    "RegistryWriter",
    "image_repository",
    "installation_blobs",
    "registry_sink",
    "starter_repository",
]

MANIFEST_TYPES = (MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPE)

# Whether the build still owns what it publishes, asked inside the commit's transaction.
Guard = Callable[["UnitOfWork"], bool]


def image_repository(tenant_id: int, name: str) -> str:
    """The repository of tenant ``tenant_id``'s private image ``name``: ``"53/name"``."""
    return f"{int(tenant_id)}/{name}"


def starter_repository(starter: str) -> str:
    """The repository of a starter image: ``"starters/python"``."""
    return f"starters/{starter}"


def installation_blobs(settings: Settings) -> BlobStore:
    """The installation's blob store: ``<data_dir>/blobs``."""
    return LocalBlobStore(blob_store_dir(settings.data_dir))


def registry_sink(
    installation: Installation, repository: str, *, trace_id: str, guard: Guard | None = None
) -> RegistrySink:
    """The image sink of ``repository`` (made by :func:`image_repository` or
    :func:`starter_repository`) for the build ``trace_id``. ``guard`` is asked inside the
    commit's transaction whether the build may still publish (its image not deleted);
    when it says no, nothing is published and the commit raises :class:`NotFoundError`."""
    return RegistrySink(
        store=installation.store,
        blobs=installation_blobs(installation.settings),
        repository=repository,
        trace_id=trace_id,
        clock=installation.clock,
        keep=installation.settings.timestamp_tags_kept,
        guard=guard,
    )


@dataclass(frozen=True)
class RegistrySink:
    """A registry repository as a build's image sink (:class:`couturier.oci.sink.ImageSink`)."""

    store: Store
    blobs: BlobStore
    repository: str
    trace_id: str
    clock: Callable[[], dt.datetime]
    keep: int = 30
    guard: Guard | None = None

    @property
    def location(self) -> str:
        return f"registry repository {self.repository}"

    def check(self) -> None:
        """Nothing to refuse: a repository is made by its first commit."""

    def writer(self, warn: Callable[[str], None]) -> RegistryWriter:
        return RegistryWriter(self)


@dataclass
class _Manifest:
    media_type: str
    size: int
    references: list[str]
    artifact_type: str = ""
    subject: str | None = None
    line: str = ""


@dataclass
class RegistryWriter:
    """One build's publication into a repository (:class:`couturier.oci.sink.ImageWriter`).
    Not thread-safe; one writer per build."""

    sink: RegistrySink
    _stored: set[str] = field(default_factory=set)
    _manifests: dict[str, _Manifest] = field(default_factory=dict)
    _tags: dict[str, str] = field(default_factory=dict)  # published name -> digest
    _asked: dict[str, str] = field(default_factory=dict)  # published name -> asked name
    _finished: bool = False

    def __enter__(self) -> RegistryWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError("registry writer was already committed or aborted")

    def add_blob(
        self,
        blob: Blob,
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
    ) -> Descriptor:
        """Store a document; a manifest or index is also noted for the commit."""
        self._check_open()
        descriptor = blob.descriptor(annotations, platform)
        if descriptor.digest not in self._stored:
            self.sink.blobs.put_bytes(descriptor.digest, blob.data)
            self._stored.add(descriptor.digest)
        if blob.media_type in MANIFEST_TYPES:
            self._manifests[descriptor.digest] = _parsed(blob)
        return descriptor

    def add_layer(self, layer: Layer) -> Descriptor:
        """Store a layer blob (copied from the layer cache's file: the cache may rewrite it)."""
        self._check_open()
        if layer.digest not in self._stored:
            if layer.path is not None:
                self.sink.blobs.put_file(layer.digest, layer.path)
            else:
                self.sink.blobs.put_bytes(layer.digest, layer.data or b"")
            self._stored.add(layer.digest)
        return Descriptor.of_layer(layer)

    def list_referrer(self, manifest: Descriptor) -> None:
        """Nothing more to do: a stored artifact manifest is found by its ``subject``."""
        self._check_open()

    def tag(self, ref: str, descriptor: Descriptor) -> str:
        """Point ``ref`` at the stored manifest ``descriptor`` at the commit; the name it is
        published under (a timestamp tag naming another digest already gets a suffix).
        Raises :class:`InputError` for a tag registries would refuse."""
        self._check_open()
        if not TAG_PATTERN.fullmatch(ref):
            raise InputError(
                f"tag {ref!r} is not a valid image tag",
                "use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')",
                fields={"kind": "tag", "value": ref[:200]},
            )
        name = ref
        if is_timestamp_tag(ref):
            with self.sink.store.unit() as uow:
                name = self._free_name(RegistryRecords(uow.session), ref, descriptor.digest)
        self._tags[name] = descriptor.digest
        self._asked[name] = ref
        return name

    def _free_name(self, records: RegistryRecords, ref: str, digest: str) -> str:
        taken = {
            row.tag: row.digest
            for row in records.tags(self.sink.repository)
            if row.tag == ref or row.tag.startswith(f"{ref}-")
        }
        taken.update((t, d) for t, d in self._tags.items() if self._asked.get(t) == ref)
        return free_timestamp_tag(ref, digest, taken)

    def commit(self) -> None:
        """Record the manifests and tags in one transaction; afterwards the writer is closed.
        Raises :class:`NotFoundError` when the guard says the build no longer owns the
        repository (nothing recorded), :class:`StateError` when a stored blob went missing
        meanwhile, :class:`ConflictError` when another build took a timestamp tag since."""
        self._check_open()
        self._finished = True
        sink = self.sink
        missing = sorted(d for d in self._stored if not sink.blobs.has(d))
        if missing:
            raise StateError(
                f"blob {missing[0]} vanished from the blob store before the commit",
                "build again",
                fields={"digest": missing[0]},
            )
        now = sink.clock()
        with sink.store.unit(write=True) as uow:
            if sink.guard is not None and not sink.guard(uow):
                raise NotFoundError(
                    "the image was deleted while it was built: nothing was published",
                    "",
                    code=Code.IMAGE_NOT_FOUND,
                    fields={"trace_id": sink.trace_id},
                )
            records = RegistryRecords(uow.session)
            for digest, manifest in self._manifests.items():
                records.add_manifest(
                    RegistryManifest(
                        repository=sink.repository,
                        digest=digest,
                        media_type=manifest.media_type,
                        size=manifest.size,
                        artifact_type=manifest.artifact_type,
                        subject=manifest.subject,
                        line=manifest.line,
                        published_at=now,
                    ),
                    manifest.references,
                )
            self._write_tags(records, now)

    def _write_tags(self, records: RegistryRecords, now: dt.datetime) -> None:
        sink = self.sink
        lines: set[str] = set()
        for name, digest in self._tags.items():
            known = self._manifests.get(digest)
            row = records.manifest(sink.repository, digest)
            line = known.line if known is not None else (row.line if row is not None else "")
            immutable = is_timestamp_tag(name)
            if immutable:
                existing = records.tag(sink.repository, name)
                if existing is not None and existing.digest != digest:
                    raise ConflictError(
                        f"timestamp tag {name} was taken by another build meanwhile",
                        "build again",
                        code=Code.NAME_TAKEN,
                        fields={"tag": name, "repository": sink.repository},
                    )
                lines.add(line)
            records.set_tag(
                sink.repository,
                name,
                digest,
                line=line,
                immutable=immutable,
                now=now,
                trace_id=sink.trace_id,
            )
        for line in sorted(lines):
            stamped = [
                row.tag
                for row in records.tags(sink.repository)
                if row.immutable and row.line == line
            ]
            records.remove_tags(sink.repository, expired_timestamp_tags(stamped, sink.keep))

    def abort(self) -> None:
        """Forget everything not committed; the stored blobs stay unreferenced until garbage
        collection. Safe to call more than once, and after :meth:`commit`."""
        self._finished = True
        self._manifests.clear()
        self._tags.clear()


def _parsed(blob: Blob) -> _Manifest:
    """What a manifest or index (built by :mod:`couturier.oci.documents`) references."""
    body = json.loads(blob.data)
    references: list[str] = []
    if "config" in body:
        references.append(body["config"]["digest"])
    for key in ("layers", "manifests"):
        references.extend(item["digest"] for item in body.get(key) or ())
    subject = body.get("subject")
    annotations = body.get("annotations") or {}
    return _Manifest(
        media_type=blob.media_type,
        size=len(blob.data),
        references=references,
        artifact_type=str(body.get("artifactType") or ""),
        subject=subject["digest"] if subject else None,
        # The line's label (services/build.py annotates it): how a tag is filed under its
        # line, for keeping the newest timestamp tags per line.
        line=str(annotations.get(LINE_ANNOTATION, ""))[:40],
    )
