"""Destinations (a tenant's external registries) and the outcome of each build's pushes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from couturier.store.models import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "destinations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("prefix", sa.String(200), nullable=False),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("password_sealed", sa.Text(), nullable=True),
        sa.Column("ca_pem", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_destinations_tenant", "destinations", ["tenant_id", "id"])
    op.create_table(
        "build_pushes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "build_id",
            sa.Integer(),
            sa.ForeignKey("builds.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "destination_id",
            sa.Integer(),
            sa.ForeignKey("destinations.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("url", sa.String(300), nullable=False),
        sa.Column("repository", sa.String(300), nullable=False),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("problem", sa.JSON(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_build_pushes_build", "build_pushes", ["build_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_build_pushes_build", table_name="build_pushes")
    op.drop_table("build_pushes")
    op.drop_index("ix_destinations_tenant", table_name="destinations")
    op.drop_table("destinations")
