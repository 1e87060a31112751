"""Signatures and attestations in cosign's format, and where they are stored.

What cosign 2.x reads (sigstore/cosign, ``pkg/oci``, ``pkg/types``; the DSSE and in-toto
specifications):

* A **signature** of the manifest or index ``sha256:<hex>`` is a layer of media type
  ``application/vnd.dev.cosign.simplesigning.v1+json`` holding the *simple-signing payload*
  (``{"critical": {"identity": {"docker-reference": REPO}, "image": {"docker-manifest-digest":
  DIGEST}, "type": "cosign container image signature"}, "optional": null}``); the annotation
  ``dev.cosignproject.cosign/signature`` holds the base64 ECDSA signature of those exact bytes.
* An **attestation** is a layer of media type ``application/vnd.dsse.envelope.v1+json``: a DSSE
  envelope whose payload is an in-toto statement about the digest, signed over DSSE's
  pre-authentication encoding (:func:`pae`); the layer's annotation ``predicateType`` names
  the statement's predicate (what ``cosign verify-attestation --type`` selects by).
* cosign looks for them under the tags ``sha256-<hex>.sig`` and ``sha256-<hex>.att`` of the
  subject's repository, and, with ``--experimental-oci11``, among the subject's OCI 1.1
  referrers of artifact type ``application/vnd.dev.cosign.artifact.sig.v1+json`` (``.att.v1``
  for attestations).

Couturier stores each as ONE artifact manifest (:func:`write_signatures`) that carries both
the ``subject`` and the artifact type of a referrer and is also named by the cosign tag, so
the default lookup and the referrers lookup find the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from couturier.oci.documents import (
    Blob,
    Descriptor,
    artifact_manifest,
    canonical_json,
)
from couturier.oci.signing import Signer
from couturier.oci.sink import ImageWriter, publish_referrer

__all__ = [
    "ATTESTATION_ARTIFACT_TYPE",
    "DSSE_MEDIA_TYPE",
    "IN_TOTO_PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "SIGNATURE_ANNOTATION",
    "SIGNATURE_ARTIFACT_TYPE",
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "STATEMENT_TYPE",
    "Envelope",
    "attestation_layer",
    "cosign_tag",
    "envelope_of",
    "pae",
    "signature_layer",
    "simple_signing_payload",
    "statement",
    "write_signatures",
]

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
PREDICATE_TYPE = "predicateType"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
ATTESTATION_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.att.v1+json"
_SUFFIXES = {SIGNATURE_ARTIFACT_TYPE: "sig", ATTESTATION_ARTIFACT_TYPE: "att"}


def cosign_tag(digest: str, artifact_type: str) -> str:
    """The tag cosign looks under: ``sha256:<hex>`` → ``sha256-<hex>.sig`` (or ``.att`` for
    :data:`ATTESTATION_ARTIFACT_TYPE`). Raises :class:`KeyError` for another type."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded}.{_SUFFIXES[artifact_type]}"


def simple_signing_payload(repository: str, digest: str) -> bytes:
    """The simple-signing payload cosign signs for the image ``digest`` of ``repository``
    (cosign checks the digest; the reference only says where it was signed)."""
    body = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return canonical_json(body)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what an envelope's signature is over
    (``DSSEv1 <len> <type> <len> <payload>``, lengths in ASCII decimal)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(
    name: str, digest: str, predicate_type: str, predicate: Mapping[str, Any] | bytes
) -> bytes:
    """An in-toto v1 statement about the manifest ``digest`` (``sha256:<hex>``) named ``name``.

    ``predicate`` is a mapping, or the bytes of a JSON object already written (an SBOM as its
    referrer holds it): embedded as they are, so the attested SBOM is byte for byte the one
    published beside it, and a large document is not encoded twice."""
    algorithm, _, encoded = digest.partition(":")
    head = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {algorithm: encoded}}],
        "predicateType": predicate_type,
    }
    if not isinstance(predicate, bytes):
        return canonical_json({**head, "predicate": predicate})
    return canonical_json(head)[:-1] + b',"predicate":' + predicate.strip() + b"}"


def signature_layer(signer: Signer, repository: str, digest: str) -> tuple[Blob, dict[str, str]]:
    """The signature layer of ``digest`` and its annotations. Raises what the signer raises."""
    payload = simple_signing_payload(repository, digest)
    signature = base64.b64encode(signer.sign(payload)).decode("ascii")
    return Blob(SIMPLE_SIGNING_MEDIA_TYPE, payload), {SIGNATURE_ANNOTATION: signature}


def attestation_layer(
    signer: Signer,
    name: str,
    digest: str,
    predicate_type: str,
    predicate: Mapping[str, Any] | bytes,
) -> tuple[Blob, dict[str, str]]:
    """The DSSE envelope layer attesting ``predicate`` about ``digest``, with cosign's
    annotations (an empty signature annotation: the signature is inside the envelope)."""
    payload = statement(name, digest, predicate_type, predicate)
    signature = signer.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload))
    # The canonical JSON of {"payload", "payloadType", "signatures"}, written around the
    # base64 text (which holds nothing JSON escapes) instead of encoding a copy of it.
    tail = canonical_json(
        {
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"keyid": "", "sig": base64.b64encode(signature).decode("ascii")}],
        }
    )
    envelope = b'{"payload":"' + base64.b64encode(payload) + b'",' + tail[1:]
    annotations = {SIGNATURE_ANNOTATION: "", PREDICATE_TYPE: predicate_type}
    return Blob(DSSE_MEDIA_TYPE, envelope), annotations


def write_signatures(
    writer: ImageWriter,
    subject: Descriptor,
    artifact_type: str,
    layers: Sequence[tuple[Blob, Mapping[str, str]]],
    created: str,
) -> tuple[Descriptor, str]:
    """Store ``layers`` (from :func:`signature_layer` or :func:`attestation_layer`) as one
    artifact manifest about ``subject`` through ``writer``, list it as a referrer and return
    its descriptor and the cosign tag to point at it (the caller tags it, at the commit).
    ``created`` (RFC 3339) dates the manifest, from the image's epoch to keep it stable."""
    descriptors = []
    for blob, layer_annotations in layers:
        # One hash per payload: the stored descriptor carries the layer's annotations.
        descriptors.append(writer.add_blob(blob, dict(layer_annotations)))
    annotations = {"org.opencontainers.image.created": created}
    document = artifact_manifest(subject, artifact_type, descriptors, annotations)
    entry = publish_referrer(writer, document, artifact_type, annotations)
    return entry, cosign_tag(subject.digest, artifact_type)


@dataclass(frozen=True)
class Envelope:
    """An opened DSSE envelope: the statement it carries and whether a key's signature holds."""

    statement: Mapping[str, Any]
    payload: bytes
    signatures: tuple[bytes, ...]


def envelope_of(data: bytes) -> Envelope:
    """The DSSE envelope ``data`` of an attestation layer, opened (not verified). Raises
    :class:`ValueError` for one that is not an in-toto envelope."""
    body = json.loads(data)
    if not isinstance(body, dict) or body.get("payloadType") != IN_TOTO_PAYLOAD_TYPE:
        raise ValueError("not an in-toto DSSE envelope")
    try:
        payload = base64.b64decode(str(body["payload"]), validate=True)
        signatures = tuple(
            base64.b64decode(str(item["sig"]), validate=True) for item in body["signatures"]
        )
    except (KeyError, TypeError, binascii.Error) as error:
        raise ValueError(f"a malformed envelope ({error})") from None
    parsed = json.loads(payload)
    if not isinstance(parsed, dict):
        raise ValueError("the envelope's statement is not a JSON object")
    return Envelope(parsed, payload, signatures)
