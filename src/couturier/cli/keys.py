"""Key files named on the command line: a signing key (``build --sign-key``) and a public key
(``verify --key``), read with one clear line when they cannot be used."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from couturier.errors import Code, InputError
from couturier.oci.signing import KeySigner, load_public_key, load_signer

__all__ = ["read_public_key", "read_signing_key"]

_LIMIT = 64 * 1024


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_LIMIT + 1)
    except OSError as error:
        raise InputError(
            f"key file {path} cannot be read ({error.strerror})",
            "name a readable PEM file",
            code=Code.SIGNING_KEY_INVALID,
            fields={"key": str(path)},
        ) from None


def read_signing_key(path: Path) -> KeySigner:
    """The signer over the private key in ``path``. Raises :class:`InputError`
    (``signing-key-invalid``) for an unreadable file or one that is not such a key."""
    return load_signer(_read(path), f"key file {path}")


def read_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    """The ECDSA P-256 public key in ``path`` (PEM). Raises :class:`InputError`
    (``signing-key-invalid``)."""
    return load_public_key(_read(path), f"key file {path}")
