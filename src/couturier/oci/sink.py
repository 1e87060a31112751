"""Where a build puts its images: the image sink port, and the documents every sink stores.

A build hands its images to an :class:`ImageSink`. It asks the sink to :meth:`~ImageSink.check`
its target before anything is built, then opens an :class:`ImageWriter` (:meth:`~ImageSink.
writer`), stores each line's blobs, layers, manifests, SBOM referrers and tags through it, and
commits once; an exception aborts, leaving the target as it was. Tags move only at the commit,
after every blob of the line is stored.

A writer only stores what it is handed. How an image's config, manifest and index and an
artifact's manifest are made is written here, once, for every sink (:func:`write_image`,
:func:`write_index`, :func:`write_referrer`): the same build gives the same digests whatever it
is written to.

Implementations: :class:`couturier.oci.layout.LayoutSink`, an OCI image layout directory
(``couturier build --output``), and :class:`couturier.services.registry_sink.RegistrySink`, a
repository of the service's registry (the blob store and its records); the build service
(:mod:`couturier.services.build`) knows only this protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from couturier.errors import InputError
from couturier.oci.documents import (
    EMPTY_BLOB,
    REF_NAME,
    TITLE,
    Blob,
    Descriptor,
    Platform,
    RuntimeConfig,
    artifact_manifest,
    check_media_type,
    image_config,
    image_index,
    image_manifest,
)
from couturier.oci.layer import Layer

__all__ = [
    "ImageSink",
    "ImageWriter",
    "publish_referrer",
    "write_image",
    "write_index",
    "write_referrer",
]


class ImageWriter(Protocol):
    """One publication to a sink: everything stored is published at :meth:`commit`, at once.

    Not thread-safe; one writer per build. Storing the same content twice stores it once.
    """

    def add_blob(
        self,
        blob: Blob,
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
    ) -> Descriptor:
        """Store a document (config, manifest, index, artifact payload); its descriptor."""
        ...

    def add_layer(self, layer: Layer) -> Descriptor:
        """Store a layer blob; its descriptor."""
        ...

    def list_referrer(self, manifest: Descriptor) -> None:
        """Make the stored artifact manifest ``manifest`` (with its ``artifact_type`` and
        annotations) findable from its subject, as a registry's referrers API finds it."""
        ...

    def tag(self, ref: str, descriptor: Descriptor) -> str:
        """Point tag ``ref`` at a stored manifest or index at the commit; a later call for
        ``ref`` wins. Returns the name the tag is published under: ``ref``, or for an
        immutable (timestamp) tag that already names another digest in the target, ``ref``
        with a ``-2``, ``-3`` suffix. Raises :class:`InputError` for a tag registries would
        refuse."""
        ...

    def commit(self) -> None:
        """Publish everything stored; the writer can no longer be used."""
        ...

    def abort(self) -> None:
        """Drop everything stored and not committed; the target stays as it was. Safe to call
        more than once, and after :meth:`commit` (then it does nothing)."""
        ...


class ImageSink(Protocol):
    """Where the images of a build go (a layout directory today; a blob store, a registry)."""

    @property
    def location(self) -> str:
        """Where the images go, in words for messages (a path, a repository URL)."""
        ...

    def check(self) -> None:
        """Refuse, before anything is built, a target this sink could not publish to:
        :class:`InputError` (or :class:`StateError` for a damaged one) naming it."""
        ...

    def writer(self, warn: Callable[[str], None]) -> ImageWriter:
        """A new writer; ``warn`` gets one line for each damaged thing of the target that the
        commit repaired. Raises what :meth:`check` raises, and :class:`OSError` when the
        target cannot be written."""
        ...


def write_image(
    writer: ImageWriter,
    platform: Platform,
    layers: Sequence[Layer],
    *,
    runtime: RuntimeConfig,
    source_date_epoch: int,
    annotations: Mapping[str, str],
    history: Sequence[str] = (),
) -> Descriptor:
    """Store one single-platform image: its layers, config and manifest.

    Returns the manifest's descriptor carrying ``platform`` (ready for :func:`write_index`) and
    no annotations (tags are added by :meth:`ImageWriter.tag`). Raises what
    :func:`~couturier.oci.documents.image_config` raises.
    """
    config = writer.add_blob(image_config(platform, layers, runtime, source_date_epoch, history))
    layer_descriptors = [writer.add_layer(layer) for layer in layers]
    manifest = image_manifest(config, layer_descriptors, annotations)
    return writer.add_blob(manifest, platform=platform)


def write_index(
    writer: ImageWriter, manifests: Sequence[Descriptor], annotations: Mapping[str, str]
) -> Descriptor:
    """Store a multi-platform image index over already stored manifests.

    Manifests are sorted by platform, so the index digest does not depend on build order.
    """
    ordered = sorted(manifests, key=_platform_key)
    return writer.add_blob(image_index(ordered, annotations))


def write_referrer(
    writer: ImageWriter,
    subject: Descriptor,
    artifact_type: str,
    payload: bytes,
    payload_media_type: str,
    *,
    annotations: Mapping[str, str] | None = None,
    title: str = "",
) -> Descriptor:
    """Store an artifact (e.g. an SBOM) about the manifest or index ``subject``.

    Stores the empty config blob, ``payload`` as the one layer (annotated with ``title``, a
    file name, when given) and an artifact manifest with ``artifactType`` and ``subject``
    (:func:`~couturier.oci.documents.artifact_manifest`), and lists it as a referrer of
    ``subject`` (:meth:`ImageWriter.list_referrer`). ``annotations`` go on the manifest (and a
    layout's ``index.json`` entry); pass ``org.opencontainers.image.created`` from the image's
    epoch to keep the digest stable. Returns the manifest's descriptor (with
    ``artifact_type``). Storing the same artifact twice stores it once. Raises
    :class:`InputError` for a bad media type or subject, or annotations holding a tag name.
    """
    check_media_type(payload_media_type, "payload media type")
    annotations = dict(annotations or {})
    if REF_NAME in annotations:
        raise InputError(
            "a referrer cannot carry a tag name annotation",
            f"drop {REF_NAME}; tag the image instead",
        )
    blob = Blob(payload_media_type, payload)
    layer = blob.descriptor({TITLE: title} if title else None)
    document = artifact_manifest(subject, artifact_type, [layer], annotations)
    # Stored only once the manifest is known to be valid: no stray blob after a refusal.
    writer.add_blob(blob)
    return publish_referrer(writer, document, artifact_type, annotations)


def publish_referrer(
    writer: ImageWriter, document: Blob, artifact_type: str, annotations: Mapping[str, str]
) -> Descriptor:
    """Store the artifact manifest ``document`` (made by
    :func:`~couturier.oci.documents.artifact_manifest`, with ``artifact_type`` and
    ``annotations``; its layers already stored) with the empty config blob it names, and list
    it as a referrer of its subject. Returns the manifest's descriptor (with
    ``artifact_type`` and ``annotations``)."""
    writer.add_blob(EMPTY_BLOB)
    manifest = writer.add_blob(document)
    entry = Descriptor(
        manifest.media_type,
        manifest.digest,
        manifest.size,
        dict(annotations),
        artifact_type=artifact_type,
    )
    writer.list_referrer(entry)
    return entry


def _platform_key(descriptor: Descriptor) -> tuple[str, str, str, str]:
    platform = descriptor.platform or Platform("")
    return (platform.os, platform.architecture, platform.variant, descriptor.digest)
