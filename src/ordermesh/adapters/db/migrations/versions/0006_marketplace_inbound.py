"""marketplace inbound: FBA stock figures per listing, the latest account health report

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ordermesh.adapters.db.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool) -> sa.Column:
    return sa.Column(
        name, ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=nullable
    )


def _quantity(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "marketplace_stock",
        sa.Column("channel_account", sa.String(length=64), nullable=False),
        sa.Column("channel_sku", sa.String(length=200), nullable=False),
        sa.Column("marketplace_id", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=32), nullable=False),
        _quantity("fulfillable"),
        _quantity("reserved"),
        _quantity("reserved_for_orders"),
        _quantity("inbound_working"),
        _quantity("inbound_shipped"),
        _quantity("inbound_receiving"),
        _quantity("unfulfillable"),
        _quantity("researching"),
        sa.Column("asin", sa.String(length=10), nullable=True),
        sa.Column("fnsku", sa.String(length=20), nullable=True),
        _time("channel_updated_at", True),
        _time("fetched_at", False),
        sa.PrimaryKeyConstraint(
            "channel_account", "location", "channel_sku", name=op.f("pk_marketplace_stock")
        ),
    )
    op.create_table(
        "channel_account_health",
        sa.Column("channel_account", sa.String(length=64), nullable=False),
        _time("fetched_at", False),
        sa.Column("report", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("channel_account", name=op.f("pk_channel_account_health")),
    )


def downgrade() -> None:
    op.drop_table("channel_account_health")
    op.drop_table("marketplace_stock")
