"""stock pushes: an urgent figure may overtake a listings feed in flight

A listing whose stock falls low while Amazon processes a feed holding its older figure is
patched at once instead of waiting out the feed (adapters/db/stock_sync.py): the queue row
remembers that its push in flight is a bulk one and which figure overtook it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stock_pushes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sending_bulk", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("overtaken_quantity", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stock_pushes", schema=None) as batch_op:
        batch_op.drop_column("overtaken_quantity")
        batch_op.drop_column("sending_bulk")
