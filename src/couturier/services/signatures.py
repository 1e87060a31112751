"""Signing and attesting a created line as it is written: what a build with a signer adds.

For every platform manifest of a line, :func:`sign_and_attest` stores through the build's
writer (:mod:`couturier.oci.cosign` says the format):

* a cosign signature (the simple-signing payload, signed by the context's signer), as one
  artifact manifest that is a referrer of the manifest and is tagged ``sha256-<hex>.sig``;
* the attestations, as DSSE envelopes of in-toto statements signed with the same key, in one
  artifact manifest tagged ``sha256-<hex>.att``: SLSA provenance v1
  (:mod:`couturier.core.provenance`), and the SPDX and CycloneDX SBOMs of that architecture
  as predicates (``https://spdx.dev/Document``, ``https://cyclonedx.org/bom``, the types
  ``cosign verify-attestation --type spdxjson|cyclonedx`` select).

The index of a multi-platform line is signed the same way and attested with the line's
provenance (every architecture's packages) and every platform's SBOMs, so that ``cosign
verify-attestation --type spdxjson`` of the line's tag finds them too.

Any failure of the signer becomes :class:`SigningFailedError` (``signing-failed``): the build fails
the line rather than publish it unsigned.
"""

from __future__ import annotations

from collections.abc import Sequence

from couturier.core.planner import LinePlan
from couturier.core.provenance import (
    SLSA_PROVENANCE_V1,
    BuiltPackage,
    LineProvenance,
    slsa_provenance,
)
from couturier.errors import Code, CouturierError
from couturier.oci.cosign import (
    ATTESTATION_ARTIFACT_TYPE,
    SIGNATURE_ARTIFACT_TYPE,
    attestation_layer,
    signature_layer,
    write_signatures,
)
from couturier.oci.documents import Blob, Descriptor
from couturier.oci.signing import Signer
from couturier.oci.sink import ImageWriter

__all__ = [
    "CYCLONEDX_PREDICATE",
    "SPDX_PREDICATE",
    "SigningFailedError",
    "line_packages",
    "sign_and_attest",
]

# The predicate types cosign's --type spdxjson and --type cyclonedx stand for.
SPDX_PREDICATE = "https://spdx.dev/Document"
CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"


class SigningFailedError(CouturierError):
    """A signature or attestation of a line could not be made (``signing-failed``)."""

    def __init__(self, line: str, reason: str, trace_id: str) -> None:
        super().__init__(
            f"line {line} was not published: its signature could not be made ({reason})",
            "check the signing key (couturier signing-key) and build again",
            code=Code.SIGNING_FAILED,
            fields={"line": line, "reason": reason[:200], "trace_id": trace_id},
        )


def sign_and_attest(
    writer: ImageWriter,
    signer: Signer,
    subject: Descriptor,
    *,
    name: str,
    created: str,
    provenance: LineProvenance,
    sboms: Sequence[tuple[str, bytes]] = (),
) -> list[tuple[str, Descriptor]]:
    """Store the signature and attestations of ``subject`` (a platform manifest or index named
    ``name``) through ``writer``; the cosign tags to point at them, with their descriptors.

    ``sboms`` are (predicate type, JSON document bytes) pairs (:data:`SPDX_PREDICATE`,
    :data:`CYCLONEDX_PREDICATE`): an index carries each platform's; ``created`` (RFC 3339,
    the image's date) dates the artifact manifests.
    Raises :class:`SigningFailedError` when the signer fails (naming the line and the reason)."""
    try:
        signature = signature_layer(signer, name, subject.digest)
        attestations: list[tuple[Blob, dict[str, str]]] = [
            attestation_layer(
                signer, name, subject.digest, SLSA_PROVENANCE_V1, slsa_provenance(provenance)
            )
        ]
        for predicate_type, document in sboms:
            attestations.append(
                attestation_layer(signer, name, subject.digest, predicate_type, document)
            )
    except CouturierError as error:
        raise SigningFailedError(provenance.line, error.message, provenance.trace_id) from error
    except (ValueError, TypeError, OSError) as error:
        raise SigningFailedError(provenance.line, str(error), provenance.trace_id) from error
    tags = []
    for artifact_type, layers in (
        (SIGNATURE_ARTIFACT_TYPE, [signature]),
        (ATTESTATION_ARTIFACT_TYPE, attestations),
    ):
        entry, tag = write_signatures(writer, subject, artifact_type, layers, created)
        tags.append((tag, entry))
    return tags


def line_packages(plans: Sequence[LinePlan]) -> list[BuiltPackage]:
    """Every package of ``plans`` (one per architecture) with its ``.deb``'s sha256 from the
    index, for the provenance."""
    return [
        BuiltPackage(
            package.name,
            package.version,
            package.architecture,
            package.fields.get("SHA256", ""),
        )
        for plan in plans
        for package in plan.packages
    ]
