"""Signing keys: a tenant's (and the starters') ECDSA P-256 key pairs, private keys sealed.

Existing tenants get their key when they first need one (a build, ``GET /v1/signing-key``):
making a key needs the installation key, which a migration does not hold.

Revision ID: 0007
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from couturier.store.models import UtcDateTime

revision = "0007"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("private_sealed", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("retired_at", UtcDateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_signing_keys_tenant", "signing_keys", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_signing_keys_tenant", table_name="signing_keys")
    op.drop_table("signing_keys")
