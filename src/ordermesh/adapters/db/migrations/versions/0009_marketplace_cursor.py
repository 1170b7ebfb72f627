"""channel accounts: a cursor of their own for marketplace-fulfilled orders

Amazon FBA orders are read apart from the merchant-fulfilled ones, behind them, once Amazon has
shipped them (services/handlers/channels.py): one read of each instead of two.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ordermesh.adapters.db.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "marketplace_cursor",
                ordermesh.adapters.db.tables.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.drop_column("marketplace_cursor")
