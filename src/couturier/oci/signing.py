"""Signing keys and the signer port that signatures and attestations are made with.

A :class:`Signer` signs bytes and names its public key; :mod:`couturier.oci.cosign` makes
cosign's documents with one. :class:`KeySigner` is the backend of today: an ECDSA P-256 key
held by Couturier (a tenant's key, the installation's starter key, or a key file given to
``couturier build --sign-key``). A KMS signer or a keyless one (Fulcio certificates and Rekor
entries, which need the internet) is another class with the same three members.

Signatures are ECDSA over SHA-256, DER-encoded, as cosign makes and checks them (``cosign
verify --key`` takes the PEM ``PUBLIC KEY`` of :meth:`Signer.public_pem`). The nonce is
derived from the key and the message (RFC 6979, ``deterministic_signing``), so the same
document signed twice gives the same bytes: a layout built twice with one key is the same.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from couturier.errors import Code, InputError

__all__ = [
    "KeySigner",
    "Signer",
    "generate_key",
    "key_id",
    "load_public_key",
    "load_signer",
    "private_pem",
    "public_pem",
    "signature_holds",
]

# RFC 6979: the nonce from the key and the digest, never from a random source.
_ALGORITHM = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_VERIFYING = ec.ECDSA(hashes.SHA256())
_KEY_LIMIT = 64 * 1024  # a PEM key is a few hundred bytes; a larger file is not one


class Signer(Protocol):
    """What signs Couturier's signatures and attestations."""

    @property
    def key_id(self) -> str:
        """The first 16 hex digits of the sha256 of the public key's DER form."""
        ...

    def public_pem(self) -> str:
        """The public key, PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The DER signature (ECDSA P-256 over SHA-256) of ``data``. Raises
        :class:`~couturier.errors.CouturierError` when the backend cannot sign."""
        ...


class KeySigner:
    """A :class:`Signer` over an ECDSA P-256 private key in memory. Its ``repr`` shows no key
    material."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("a signing key is ECDSA P-256")
        self._key = key
        self._public = public_pem(key.public_key())

    def __repr__(self) -> str:
        return f"KeySigner(key_id={self.key_id!r})"

    @property
    def key_id(self) -> str:
        return key_id(self._public)

    def public_pem(self) -> str:
        return self._public

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, _ALGORITHM)


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A new ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """``key`` as unencrypted PKCS #8 PEM (only ever kept sealed by the installation key)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: ec.EllipticCurvePublicKey) -> str:
    """``key`` as PEM ``PUBLIC KEY`` text."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def key_id(pem: str) -> str:
    """The key ID of a public key in PEM: the first 16 hex digits of its DER's sha256."""
    der = load_public_key(pem.encode()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def _invalid(what: str, problem: str) -> InputError:
    return InputError(
        f"{what} {problem}",
        "give an ECDSA P-256 key in PEM (openssl ecparam -name prime256v1 -genkey | "
        "openssl pkcs8 -topk8 -nocrypt)",
        code=Code.SIGNING_KEY_INVALID,
        fields={"key": what},
    )


def load_signer(pem: bytes, what: str = "the signing key") -> KeySigner:
    """A signer over the unencrypted PEM private key ``pem`` (PKCS #8 ``PRIVATE KEY`` or SEC 1
    ``EC PRIVATE KEY``). Raises :class:`InputError` (``signing-key-invalid``) for anything
    else: an encrypted key, another algorithm or curve, text that is not a key."""
    if len(pem) > _KEY_LIMIT:
        raise _invalid(what, "is too large to be a key")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise _invalid(what, "is encrypted; give it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise _invalid(what, "is not a PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _invalid(what, "is not an ECDSA P-256 key")
    return KeySigner(key)


def load_public_key(pem: bytes, what: str = "the public key") -> ec.EllipticCurvePublicKey:
    """The ECDSA P-256 public key in PEM ``pem``. Raises :class:`InputError`
    (``signing-key-invalid``) for anything else."""
    if len(pem) > _KEY_LIMIT:
        raise _invalid(what, "is too large to be a key")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise _invalid(what, "is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _invalid(what, "is not an ECDSA P-256 key")
    return key


def signature_holds(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` (DER) is ``key``'s ECDSA SHA-256 signature of ``data``."""
    try:
        key.verify(signature, data, _VERIFYING)
    except (InvalidSignature, ValueError):
        return False
    return True
