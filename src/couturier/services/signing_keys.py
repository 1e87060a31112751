"""Signing keys: one ECDSA P-256 key pair per tenant, and one for the installation's starters.

A tenant's key is made with the tenant (:func:`couturier.services.installation.create_tenant`
calls :func:`ensure_key`); a tenant made before keys existed gets its key the first time one
is needed (a build, ``GET /v1/signing-key``). The private key is kept sealed with the
installation key (:mod:`couturier.store.key`) and opened only to sign; it is never logged nor
answered. :func:`rotate` retires the current key and makes a new one: the retired public keys
stay listed (:func:`public_keys`) so that signatures made before still verify.

The signer a build uses is a :class:`~couturier.oci.signing.Signer`: a KMS or keyless signer
is another backend behind the same port.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from couturier.oci.signing import (
    KeySigner,
    generate_key,
    key_id,
    load_signer,
    private_pem,
    public_pem,
)
from couturier.services.installation import Installation
from couturier.store import InstallationKey, UnitOfWork
from couturier.store.signing_keys import SigningKeyRow, SigningKeys, sealed_purpose

__all__ = [
    "PublicKey",
    "current_public_key",
    "ensure_key",
    "public_keys",
    "rotate",
    "signer_of",
]


@dataclass(frozen=True)
class PublicKey:
    """A public key as the API lists it: ``pem``, ``key_id``, when it was made and retired."""

    key_id: str
    pem: str
    created: dt.datetime
    retired: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "pem": self.pem,
            "created": self.created.isoformat(),
            "retired": self.retired.isoformat() if self.retired else None,
            "current": self.retired is None,
        }


def _new_row(key: InstallationKey, tenant_id: int | None, now: dt.datetime) -> SigningKeyRow:
    private = generate_key()
    pem = public_pem(private.public_key())
    kid = key_id(pem)
    sealed = key.seal(private_pem(private), sealed_purpose(tenant_id, kid))
    return SigningKeyRow(key_id=kid, public_pem=pem, private_sealed=sealed, created_at=now)


def ensure_key(
    uow: UnitOfWork, key: InstallationKey, tenant_id: int | None, now: dt.datetime
) -> SigningKeyRow:
    """The current key of tenant ``tenant_id`` (None: the starters), made now when it has
    none, in ``uow``'s transaction (a write unit)."""
    keys = SigningKeys(uow.session, tenant_id)
    return keys.current() or keys.add(_new_row(key, tenant_id, now))


def _current(installation: Installation, tenant_id: int | None) -> SigningKeyRow:
    with installation.store.unit() as uow:
        row = SigningKeys(uow.session, tenant_id).current()
        if row is not None:
            return row
    with installation.store.unit(write=True) as uow:
        return ensure_key(uow, installation.key, tenant_id, installation.clock())


def signer_of(installation: Installation, tenant_id: int | None) -> KeySigner:
    """The signer over the current key of tenant ``tenant_id`` (None: the starters), made
    when there is none. Raises :class:`~couturier.errors.StateError` (``secret-unreadable``)
    when the sealed key does not open with the installation key."""
    row = _current(installation, tenant_id)
    sealed = installation.key.open(row.private_sealed, sealed_purpose(tenant_id, row.key_id))
    return load_signer(sealed, f"signing key {row.key_id}")


def current_public_key(installation: Installation, tenant_id: int | None) -> PublicKey:
    """The current public key of tenant ``tenant_id`` (None: the starters)."""
    row = _current(installation, tenant_id)
    return PublicKey(row.key_id, row.public_pem, row.created_at, row.retired_at)


def public_keys(installation: Installation, tenant_id: int | None) -> list[PublicKey]:
    """Every public key of tenant ``tenant_id`` (None: the starters), oldest first, the
    current one last (made when there is none)."""
    _current(installation, tenant_id)
    with installation.store.unit() as uow:
        return [
            PublicKey(row.key_id, row.public_pem, row.created_at, row.retired_at)
            for row in SigningKeys(uow.session, tenant_id).all()
        ]


def rotate(installation: Installation, tenant_id: int | None) -> PublicKey:
    """Retire the current key of tenant ``tenant_id`` (None: the starters) and make a new
    one; the new public key. Builds from now on sign with it; the retired public keys stay
    listed. Raises :class:`~couturier.errors.NotFoundError` (``tenant-not-found``) for an
    unknown tenant."""
    from couturier.services.installation import known_tenant

    now = installation.clock()
    with installation.store.unit(write=True) as uow:
        if tenant_id is not None:
            known_tenant(uow, tenant_id)
        keys = SigningKeys(uow.session, tenant_id)
        keys.retire_all(now)
        row = keys.add(_new_row(installation.key, tenant_id, now))
        return PublicKey(row.key_id, row.public_pem, row.created_at, None)
