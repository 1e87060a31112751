"""OCI JSON documents: image config, image manifest, image index, and the descriptors linking them.

Besides images, an *artifact manifest* (:func:`artifact_manifest`) carries another document about
an image, such as an SBOM, the way the OCI image spec 1.1 says artifacts are stored: an image
manifest with an ``artifactType``, the empty config (``application/vnd.oci.empty.v1+json``, ``{}``),
the document as its one layer, and a ``subject`` naming the image it is about (what the
referrers API and ``oras discover`` look for).

Every document is serialized as canonical JSON (sorted keys, compact separators, UTF-8), so the
same values give the same bytes and therefore the same digest. Times are taken from
``SOURCE_DATE_EPOCH`` (an integer of seconds) and written in RFC 3339 UTC, never from the clock.
Pure functions; no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from couturier.errors import Code, ConfigError, InputError
from couturier.oci.layer import Layer, sha256_digest

__all__ = [
    "ANNOTATION_PREFIX",
    "CONFIG_MEDIA_TYPE",
    "CYCLONEDX_MEDIA_TYPE",
    "EMPTY_BLOB",
    "EMPTY_MEDIA_TYPE",
    "INDEX_MEDIA_TYPE",
    "LINE_ANNOTATION",
    "MANIFEST_MEDIA_TYPE",
    "REF_NAME",
    "SPDX_MEDIA_TYPE",
    "TITLE",
    "Blob",
    "Descriptor",
    "Platform",
    "RuntimeConfig",
    "artifact_manifest",
    "canonical_json",
    "check_media_type",
    "image_annotations",
    "image_config",
    "image_index",
    "image_manifest",
    "rfc3339",
]

CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
# Couturier's own annotations (``io.couturier.starter``, ``io.couturier.line``, ...).
ANNOTATION_PREFIX = "io.couturier."
LINE_ANNOTATION = f"{ANNOTATION_PREFIX}line"
TITLE = "org.opencontainers.image.title"
# The empty descriptor's media type; its blob is the two bytes "{}" (sha256:44136fa3...).
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
# Media types (and artifact types) of the SBOM formats, as registered with IANA / by CycloneDX.
SPDX_MEDIA_TYPE = "application/spdx+json"
CYCLONEDX_MEDIA_TYPE = "application/vnd.cyclonedx+json"
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)

# Debian architecture → (GOARCH, variant), the names OCI platforms use.
_PLATFORMS: dict[str, tuple[str, str]] = {
    "amd64": ("amd64", ""),
    "arm64": ("arm64", "v8"),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v5"),
    "i386": ("386", ""),
    "ppc64el": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "mips64el": ("mips64le", ""),
    "loong64": ("loong64", ""),
}


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes: sorted keys, no spaces, UTF-8 (non-ASCII kept)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(epoch: int) -> str:
    """``epoch`` seconds as an RFC 3339 UTC timestamp, e.g. ``2024-01-02T03:04:05Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Platform:
    """An OCI platform: ``architecture`` and ``variant`` use Go's names (``arm64``/``v8``)."""

    architecture: str
    os: str = "linux"
    variant: str = ""

    @classmethod
    def for_debian(cls, arch: str) -> Platform:
        """The platform of a Debian architecture name; raises :class:`ConfigError` if unknown."""
        try:
            goarch, variant = _PLATFORMS[arch]
        except KeyError:
            known = ", ".join(sorted(_PLATFORMS))
            raise ConfigError(
                f"architecture {arch!r} has no OCI platform",
                f"use one of {known}",
                code=Code.ARCHITECTURE_UNKNOWN,
                fields={"architecture": arch, "suggestions": [], "known": known.split(", ")},
            ) from None
        return cls(goarch, "linux", variant)

    def to_json(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Platform:
        return cls(value["architecture"], value["os"], value.get("variant", ""))


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A reference to a blob: what it is, its digest and size, and optional annotations.

    ``artifact_type`` is set on the descriptor of an artifact manifest (e.g. an SBOM's), as
    ``index.json`` and the referrers API list them.
    """

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    artifact_type: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out

    def reference(self) -> Descriptor:
        """Only media type, digest and size: what a ``subject`` field holds."""
        return Descriptor(self.media_type, self.digest, self.size)

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Descriptor:
        platform = value.get("platform")
        return cls(
            media_type=value["mediaType"],
            digest=value["digest"],
            size=int(value["size"]),
            annotations=dict(value.get("annotations") or {}),
            platform=Platform.from_json(platform) if platform else None,
            artifact_type=value.get("artifactType") or "",
        )

    @classmethod
    def of_layer(cls, layer: Layer) -> Descriptor:
        return cls(layer.media_type, layer.digest, layer.size)


@dataclass(frozen=True, slots=True)
class Blob:
    """A small document held in memory (config, manifest, index) with its media type."""

    media_type: str
    data: bytes

    def descriptor(
        self, annotations: Mapping[str, str] | None = None, platform: Platform | None = None
    ) -> Descriptor:
        """The descriptor of this blob; hashing costs O(size)."""
        return Descriptor(
            self.media_type, sha256_digest(self.data), len(self.data), annotations or {}, platform
        )


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """What a container of the image runs with: the ``config`` object of an image config.

    ``env`` keeps its order (``PATH`` first reads best in ``inspect``); ``exposed_ports`` are
    ``"8080/tcp"`` strings (the spec's ``ExposedPorts`` keys); empty fields are omitted.
    """

    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    user: str = ""
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    exposed_ports: Sequence[str] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.env:
            out["Env"] = [f"{key}={value}" for key, value in self.env.items()]
        if self.entrypoint:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd:
            out["Cmd"] = list(self.cmd)
        if self.user:
            out["User"] = self.user
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.exposed_ports:
            out["ExposedPorts"] = {port: {} for port in self.exposed_ports}
        if self.labels:
            out["Labels"] = dict(self.labels)
        return out


def image_config(
    platform: Platform,
    layers: Sequence[Layer],
    runtime: RuntimeConfig,
    source_date_epoch: int,
    history: Sequence[str] = (),
) -> Blob:
    """The OCI image config of an image made of ``layers`` (bottom first).

    ``history`` gives one ``created_by`` text per layer (e.g. ``"couturier: starter packages"``);
    when empty each layer gets a generic one. Raises :class:`InputError` if the lengths differ.
    """
    if history and len(history) != len(layers):
        raise InputError(
            f"image config has {len(layers)} layers but {len(history)} history entries"
        )
    created = rfc3339(source_date_epoch)
    texts = list(history) or [f"couturier: layer {i + 1}" for i in range(len(layers))]
    body: dict[str, Any] = {
        **platform.to_json(),
        "created": created,
        "config": runtime.to_json(),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": created, "created_by": text} for text in texts],
    }
    return Blob(CONFIG_MEDIA_TYPE, canonical_json(body))


def image_manifest(
    config: Descriptor, layers: Sequence[Descriptor], annotations: Mapping[str, str]
) -> Blob:
    """The OCI image manifest listing ``config`` and ``layers`` (bottom first)."""
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        body["annotations"] = dict(annotations)
    return Blob(MANIFEST_MEDIA_TYPE, canonical_json(body))


EMPTY_BLOB = Blob(EMPTY_MEDIA_TYPE, b"{}")


def check_media_type(value: str, what: str) -> None:
    """Raise :class:`InputError` unless ``value`` is a ``type/subtype`` media type (RFC 6838)."""
    if not _MEDIA_TYPE.fullmatch(value):
        raise InputError(
            f"{what} {value!r} is not a media type", "use the form type/subtype, e.g. text/plain"
        )


def artifact_manifest(
    subject: Descriptor,
    artifact_type: str,
    layers: Sequence[Descriptor],
    annotations: Mapping[str, str],
) -> Blob:
    """An OCI 1.1 artifact manifest about ``subject`` carrying ``layers`` (the payload blobs).

    Its config is the empty descriptor (the blob ``{}``, which the caller stores), as the image
    spec's guidelines for artifacts ask when the artifact has no config of its own. The
    ``subject`` keeps only media type, digest and size. Raises :class:`InputError` for an
    ``artifact_type`` that is not a media type or a subject that is neither a manifest nor an
    index.
    """
    check_media_type(artifact_type, "artifact type")
    if subject.media_type not in (MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPE):
        raise InputError(
            f"the subject of an artifact must be an image manifest or index, not"
            f" {subject.media_type} ({subject.digest})"
        )
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": artifact_type,
        "config": EMPTY_BLOB.descriptor().to_json(),
        "layers": [layer.to_json() for layer in layers],
        "subject": subject.reference().to_json(),
    }
    if annotations:
        body["annotations"] = dict(annotations)
    return Blob(MANIFEST_MEDIA_TYPE, canonical_json(body))


def image_index(manifests: Sequence[Descriptor], annotations: Mapping[str, str]) -> Blob:
    """An OCI image index over per-platform manifests; each descriptor must carry a platform.

    Manifests are listed in the given order (callers pass them sorted by architecture so the
    digest does not depend on build order). Raises :class:`InputError` for a missing platform.
    """
    for manifest in manifests:
        if manifest.platform is None:
            raise InputError(f"manifest {manifest.digest} in an image index has no platform")
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [manifest.to_json() for manifest in manifests],
    }
    if annotations:
        body["annotations"] = dict(annotations)
    return Blob(INDEX_MEDIA_TYPE, canonical_json(body))


def image_annotations(
    source_date_epoch: int,
    *,
    title: str = "",
    description: str = "",
    version: str = "",
    source: str = "",
    base_name: str = "",
    base_digest: str = "",
    vendor: str = "",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The ``org.opencontainers.image.*`` annotations of a manifest or index; empty ones dropped.

    ``base_name``/``base_digest`` name the starter image a private image was made from; ``extra``
    adds further keys (e.g. Couturier's own) and wins over the standard ones.
    """
    prefix = "org.opencontainers.image."
    values = {
        "created": rfc3339(source_date_epoch),
        "title": title,
        "description": description,
        "version": version,
        "source": source,
        "base.name": base_name,
        "base.digest": base_digest,
        "vendor": vendor,
    }
    out = {prefix + key: value for key, value in values.items() if value}
    out.update(extra or {})
    return out
