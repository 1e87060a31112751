"""The gallery's cards kept ready as JSON (table ``image_cards``), made for every image there
is already.

Revision ID: 0002
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_cards",
        sa.Column(
            "image_id",
            sa.Integer(),
            sa.ForeignKey("images.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "tenant_id",
            sa.Integer(),
            sa.ForeignKey("tenants.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("card", sa.Text(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_image_cards_tenant_name"),
    )
    # The images made before this revision get their cards now, from their rows, as every
    # later change makes them (imported here, not copied: one shape of a card).
    from couturier.store.cards import refresh_cards

    connection = op.get_bind()
    ids = list(connection.scalars(sa.text("SELECT id FROM images ORDER BY id")))
    for start in range(0, len(ids), 500):  # bounded IN lists
        refresh_cards(connection, ids[start : start + 500])


def downgrade() -> None:
    op.drop_table("image_cards")
