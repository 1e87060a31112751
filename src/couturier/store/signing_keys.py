"""Signing keys as a table, and the queries over them.

``signing_keys``: one row per ECDSA P-256 key pair. ``tenant_id`` is the tenant whose images
the key signs, or NULL for the installation's starter key. ``key_id`` is the first 16 hex
digits of the sha256 of the public key's DER; ``public_pem`` is the public key as PEM;
``private_sealed`` is the PKCS #8 private key sealed with the installation key for the purpose
:func:`sealed_purpose` names (so a sealed key copied into another row does not open there).
``retired_at`` is set when the key is rotated out: a retired key signs nothing more, and its
public key stays listed so older signatures still verify. The current key of an owner is its
newest row without ``retired_at``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, ForeignKey, Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from couturier.store.models import NEVER_REUSED, Base, UtcDateTime

__all__ = ["SigningKeyRow", "SigningKeys", "sealed_purpose"]


class SigningKeyRow(Base):
    """One signing key pair of a tenant (or, with no tenant, of the installation's starters)."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True
    )
    key_id: Mapped[str] = mapped_column(String(16))
    public_pem: Mapped[str] = mapped_column(Text)
    private_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (Index("ix_signing_keys_tenant", "tenant_id", "id"), NEVER_REUSED)


def sealed_purpose(tenant_id: int | None, key_id: str) -> str:
    """What a private key is sealed for: ``signing-key:53:<key id>`` (``starters`` for the
    installation's starter key)."""
    owner = "starters" if tenant_id is None else str(int(tenant_id))
    return f"signing-key:{owner}:{key_id}"


class SigningKeys:
    """The signing keys of one owner: tenant ``tenant_id``, or the starters (None). Every
    query is bound to it."""

    def __init__(self, session: Session, tenant_id: int | None) -> None:
        self.session, self.tenant_id = session, tenant_id

    def _owned(self) -> ColumnElement[bool]:
        if self.tenant_id is None:
            return SigningKeyRow.tenant_id.is_(None)
        return SigningKeyRow.tenant_id == self.tenant_id

    def current(self) -> SigningKeyRow | None:
        """The newest key not retired; None when there is none."""
        query = (
            select(SigningKeyRow)
            .where(self._owned(), SigningKeyRow.retired_at.is_(None))
            .order_by(SigningKeyRow.id.desc())
            .limit(1)
        )
        return self.session.scalars(query).first()

    def all(self) -> list[SigningKeyRow]:
        """Every key, oldest first (retired ones too)."""
        query = select(SigningKeyRow).where(self._owned()).order_by(SigningKeyRow.id)
        return list(self.session.scalars(query))

    def add(self, row: SigningKeyRow) -> SigningKeyRow:
        row.tenant_id = self.tenant_id
        self.session.add(row)
        self.session.flush()
        return row

    def retire_all(self, now: dt.datetime) -> None:
        """Retire every key not retired yet."""
        self.session.execute(
            update(SigningKeyRow)
            .where(self._owned(), SigningKeyRow.retired_at.is_(None))
            .values(retired_at=now)
        )
