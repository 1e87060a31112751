"""Freshness records: each image line's fingerprint and last check, each rebuild's change
record, and the refresh runs the scheduler counts.

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from couturier.store.models import UtcDateTime

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "line_states",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "image_id",
            sa.Integer(),
            sa.ForeignKey("images.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("full_version", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(80), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("checked_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("image_id", "line", name="uq_line_states_line"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_line_states_tenant", "line_states", ["tenant_id", "image_id"])
    op.create_table(
        "line_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "build_id",
            sa.Integer(),
            sa.ForeignKey("builds.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.UniqueConstraint("build_id", "line", name="uq_line_changes_line"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "refresh_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scheduled_for", UtcDateTime(), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("scope", sa.String(60), nullable=False),
        sa.UniqueConstraint("scheduled_for", name="uq_refresh_runs_due"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("refresh_runs")
    op.drop_table("line_changes")
    op.drop_index("ix_line_states_tenant", table_name="line_states")
    op.drop_table("line_states")
