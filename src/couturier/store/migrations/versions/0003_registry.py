"""The registry's records: manifests, the blobs they reference, tags and tag history.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from couturier.store.models import UtcDateTime

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_manifests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("media_type", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("artifact_type", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(80), nullable=True),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("repository", "digest", name="uq_registry_manifests_digest"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_registry_manifests_subject", "registry_manifests", ["repository", "subject"]
    )
    op.create_table(
        "registry_manifest_blobs",
        sa.Column(
            "manifest_id",
            sa.Integer(),
            sa.ForeignKey("registry_manifests.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("digest", sa.String(80), primary_key=True),
    )
    op.create_index("ix_registry_manifest_blobs_digest", "registry_manifest_blobs", ["digest"])
    op.create_table(
        "registry_tags",
        sa.Column("repository", sa.String(200), primary_key=True),
        sa.Column("tag", sa.String(128), primary_key=True),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("immutable", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "registry_tag_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=True),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_registry_tag_history_tag", "registry_tag_history", ["repository", "tag", "id"]
    )


def downgrade() -> None:
    for table in (
        "registry_tag_history",
        "registry_tags",
        "registry_manifest_blobs",
        "registry_manifests",
    ):
        op.drop_table(table)
