"""Checking an image's cosign signatures and attestations, and its SBOM against its layers.

:func:`verify_image` reads the image a reference names through a :class:`ContentReader` (a
registry repository, :class:`RegistryReader`) and runs, for the root manifest or index and
each platform manifest, the checks ``couturier verify`` reports (an image layout is read
through :class:`LayoutReader`):

* ``signature``: the ``sha256-<hex>.sig`` tag holds a simple-signing layer whose payload names
  this digest and whose signature one of the given public keys makes;
* ``provenance``: the ``sha256-<hex>.att`` tag holds a DSSE envelope of SLSA provenance v1
  about this digest, signed by one of the keys;
* ``spdx`` and ``cyclonedx`` (platform manifests): the same for the SBOM attestations;
* ``sbom-matches-dpkg`` (platform manifests): the packages the SPDX attestation says the image
  CONTAINS equal, name and version, the ``install ok installed`` entries of the dpkg database
  (``var/lib/dpkg/status``, the last layer that has it) in the image's layers.

Every content read is checked against its digest. The rules' source: cosign 2.x's signature
and attestation layouts (see :mod:`couturier.oci.cosign`), DSSE v1, in-toto statement v1.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from couturier.oci.cosign import (
    ATTESTATION_ARTIFACT_TYPE,
    DSSE_MEDIA_TYPE,
    IN_TOTO_PAYLOAD_TYPE,
    PREDICATE_TYPE,
    SIGNATURE_ANNOTATION,
    SIGNATURE_ARTIFACT_TYPE,
    SIMPLE_SIGNING_MEDIA_TYPE,
    cosign_tag,
    envelope_of,
    pae,
)
from couturier.oci.documents import INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from couturier.oci.layout import Layout
from couturier.oci.registry import RegistryClient
from couturier.oci.signing import signature_holds

__all__ = [
    "Check",
    "ContentReader",
    "LayoutReader",
    "RegistryReader",
    "dpkg_packages",
    "verify_image",
]

SLSA_PREDICATE = "https://slsa.dev/provenance/v1"
SPDX_PREDICATE = "https://spdx.dev/Document"
CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"
_ACCEPT = f"{INDEX_MEDIA_TYPE}, {MANIFEST_MEDIA_TYPE}"
_STATUS = "var/lib/dpkg/status"


class ContentReader(Protocol):
    """Manifests and blobs of one repository."""

    def manifest(self, reference: str) -> bytes | None:
        """The bytes of the manifest or index ``reference`` (a tag or digest); None if absent."""
        ...

    def blob(self, digest: str) -> bytes | None:
        """The bytes of blob ``digest``; None when absent."""
        ...


class RegistryReader:
    """A repository of a registry as a :class:`ContentReader`."""

    def __init__(self, client: RegistryClient, repository: str) -> None:
        self.client, self.repository = client, repository

    def manifest(self, reference: str) -> bytes | None:
        found = self.client.get_manifest(self.repository, reference, _ACCEPT)
        return found[1] if found is not None else None

    def blob(self, digest: str) -> bytes | None:
        return self.client.get_blob(self.repository, digest)


class LayoutReader:
    """An OCI image layout as a :class:`ContentReader` (tags are its ``ref.name`` entries)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def manifest(self, reference: str) -> bytes | None:
        if not reference.startswith("sha256:"):
            if reference not in self.layout.tags():
                return None
            reference = self.layout.tagged(reference).digest
        return self.blob(reference)

    def blob(self, digest: str) -> bytes | None:
        try:
            return self.layout.blob_path(digest).read_bytes()
        except FileNotFoundError:
            return None


@dataclass(frozen=True)
class Check:
    """One check of one manifest: its ``name``, the ``digest`` checked, and ``problem`` (empty
    when the check holds)."""

    name: str
    digest: str
    problem: str = ""

    @property
    def holds(self) -> bool:
        return not self.problem


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _json(data: bytes) -> dict[str, Any]:
    body = json.loads(data)
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body


def _layers(reader: ContentReader, reference: str) -> list[tuple[dict[str, Any], bytes]] | None:
    """The layers (descriptor, verified bytes) of the manifest ``reference``; None if absent."""
    data = reader.manifest(reference)
    if data is None:
        return None
    out = []
    for layer in _json(data).get("layers") or []:
        blob = reader.blob(str(layer.get("digest")))
        if blob is None or _digest(blob) != layer.get("digest"):
            raise ValueError(f"layer {layer.get('digest')} of {reference} is missing or damaged")
        out.append((layer, blob))
    return out


def _check_signature(
    reader: ContentReader, digest: str, keys: Sequence[ec.EllipticCurvePublicKey]
) -> Check:
    layers = _layers(reader, cosign_tag(digest, SIGNATURE_ARTIFACT_TYPE))
    if not layers:
        return Check("signature", digest, "no signature")
    for layer, payload in layers:
        if layer.get("mediaType") != SIMPLE_SIGNING_MEDIA_TYPE:
            continue
        try:
            signature = base64.b64decode(
                str((layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, "")), validate=True
            )
            signed = _json(payload)["critical"]["image"]["docker-manifest-digest"]
        except (binascii.Error, ValueError, KeyError, TypeError):
            continue
        if signed != digest:
            return Check("signature", digest, f"the signature is over another digest ({signed})")
        if any(signature_holds(key, signature, payload) for key in keys):
            return Check("signature", digest)
        return Check("signature", digest, "the signature is not made by a known key")
    return Check("signature", digest, "no signature layer")


def _attestations(
    reader: ContentReader, digest: str, keys: Sequence[ec.EllipticCurvePublicKey]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The verified statements of ``digest`` by predicate type, and a problem per type whose
    envelope does not verify."""
    statements: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    layers = _layers(reader, cosign_tag(digest, ATTESTATION_ARTIFACT_TYPE)) or []
    for layer, data in layers:
        if layer.get("mediaType") != DSSE_MEDIA_TYPE:
            continue
        kind = str((layer.get("annotations") or {}).get(PREDICATE_TYPE, ""))
        try:
            envelope = envelope_of(data)
        except ValueError as error:
            problems[kind] = f"the attestation envelope is malformed ({error})"
            continue
        message = pae(IN_TOTO_PAYLOAD_TYPE, envelope.payload)
        if not any(
            signature_holds(key, sig, message) for key in keys for sig in envelope.signatures
        ):
            problems[kind] = "the attestation's signature does not verify with a known key"
            continue
        body = envelope.statement
        subjects = [s.get("digest", {}) for s in body.get("subject") or [] if isinstance(s, dict)]
        if not any(f"sha256:{s.get('sha256')}" == digest for s in subjects):
            problems[kind] = "the attestation is about another digest"
            continue
        statements[str(body.get("predicateType"))] = dict(body)
    return statements, problems


def _attestation_check(
    name: str,
    predicate_type: str,
    digest: str,
    statements: dict[str, dict[str, Any]],
    problems: dict[str, str],
) -> Check:
    if predicate_type in statements:
        return Check(name, digest)
    return Check(name, digest, problems.get(predicate_type, f"no {name} attestation"))


def _tar_members(blob: bytes) -> Iterator[tuple[str, tarfile.TarFile, tarfile.TarInfo]]:
    data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive:
            yield member.name.removeprefix("./"), archive, member


def dpkg_packages(status: str) -> set[tuple[str, str]]:
    """(name, version) of every ``install ok installed`` stanza of a dpkg status file."""
    out = set()
    for stanza in status.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        if fields.get("Status") == "install ok installed" and "Package" in fields:
            out.add((fields["Package"], fields.get("Version", "")))
    return out


def _image_dpkg(reader: ContentReader, manifest: dict[str, Any]) -> set[tuple[str, str]] | None:
    """The dpkg database of the image's layers (the last layer holding it wins); None if none."""
    found: set[tuple[str, str]] | None = None
    for layer in manifest.get("layers") or []:
        blob = reader.blob(str(layer.get("digest")))
        if blob is None or _digest(blob) != layer.get("digest"):
            raise ValueError(f"layer {layer.get('digest')} is missing or damaged")
        for name, archive, member in _tar_members(blob):
            if name == _STATUS and member.isfile():
                handle = archive.extractfile(member)
                if handle is not None:
                    found = dpkg_packages(handle.read().decode("utf-8", "replace"))
    return found


def _spdx_packages(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(name, version) of the packages an SPDX document says the image CONTAINS."""
    contained = {
        r.get("relatedSpdxElement")
        for r in document.get("relationships") or []
        if r.get("spdxElementId") == "SPDXRef-Image" and r.get("relationshipType") == "CONTAINS"
    }
    return {
        (str(p.get("name")), str(p.get("versionInfo", "")))
        for p in document.get("packages") or []
        if p.get("SPDXID") in contained
    }


def _sbom_check(
    reader: ContentReader, digest: str, manifest: dict[str, Any], spdx: dict[str, Any] | None
) -> Check:
    name = "sbom-matches-dpkg"
    if spdx is None:
        return Check(name, digest, "no verified SPDX attestation to compare")
    installed = _image_dpkg(reader, manifest)
    if installed is None:
        return Check(name, digest, f"the image has no {_STATUS}")
    listed = _spdx_packages(spdx.get("predicate") or {})
    if listed == installed:
        return Check(name, digest)
    extra = sorted(f"{n}={v}" for n, v in listed - installed)[:3]
    missing = sorted(f"{n}={v}" for n, v in installed - listed)[:3]
    return Check(
        name,
        digest,
        f"the SBOM lists {', '.join(extra) or 'nothing more'} beyond the dpkg database and"
        f" lacks {', '.join(missing) or 'nothing'}",
    )


def verify_image(
    reader: ContentReader, reference: str, keys: Sequence[ec.EllipticCurvePublicKey]
) -> list[Check]:
    """Every check of the image ``reference`` (a tag or digest) with ``keys`` (any one may
    have signed). Raises :class:`LookupError` when the reference names no manifest, and
    :class:`ValueError` for content that is missing or damaged."""
    data = reader.manifest(reference)
    if data is None:
        raise LookupError(f"no image {reference}")
    root, body = _digest(data), _json(data)
    subjects = [(root, body)]
    for child in body.get("manifests") or []:
        child_data = reader.manifest(str(child.get("digest")))
        if child_data is None or _digest(child_data) != child.get("digest"):
            raise ValueError(f"manifest {child.get('digest')} is missing or damaged")
        subjects.append((str(child["digest"]), _json(child_data)))
    checks = []
    for digest, manifest in subjects:
        checks.append(_check_signature(reader, digest, keys))
        statements, problems = _attestations(reader, digest, keys)
        checks.append(
            _attestation_check("provenance", SLSA_PREDICATE, digest, statements, problems)
        )
        if "layers" not in manifest:
            continue  # an index: its SBOMs are its platform manifests'
        checks.append(_attestation_check("spdx", SPDX_PREDICATE, digest, statements, problems))
        checks.append(
            _attestation_check("cyclonedx", CYCLONEDX_PREDICATE, digest, statements, problems)
        )
        checks.append(_sbom_check(reader, digest, manifest, statements.get(SPDX_PREDICATE)))
    return checks
