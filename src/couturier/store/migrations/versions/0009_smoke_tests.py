"""Each build line keeps its smoke test (services/smoke.py): build_lines.smoke.

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("build_lines") as table:
        table.add_column(sa.Column("smoke", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("build_lines") as table:
        table.drop_column("smoke")
