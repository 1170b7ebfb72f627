"""dashboard rollups: the overview's heavy figures kept up to date by a worker job

Orders per purchase day and channel, units sold per purchase day and SKU, channel SKUs seen
on order lines with no product, and snapshots (the rollup's watermark, stock alerts, days of
cover), so that a page reads a few hundred rows instead of months of orders. Also: the orders
list filtered by a SKU walks (sku, order id) newest first, one status is listed in creation
order straight from its index, and held orders have their own small index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ordermesh.adapters.db.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

HELD = "CAST(holds AS VARCHAR) != '[]'"


def upgrade() -> None:
    op.create_table(
        "dashboard_order_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "channel", name=op.f("pk_dashboard_order_days")),
    )
    op.create_table(
        "dashboard_sku_days",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "sku", name=op.f("pk_dashboard_sku_days")),
    )
    op.create_table(
        "dashboard_unmapped_skus",
        sa.Column("channel_account", sa.String(length=64), nullable=False),
        sa.Column("channel_sku", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "channel_account", "channel_sku", name=op.f("pk_dashboard_unmapped_skus")
        ),
    )
    op.create_table(
        "dashboard_snapshots",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("as_of", ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dashboard_snapshots")),
    )
    op.drop_index("ix_order_lines_sku", table_name="order_lines")
    op.create_index("ix_order_lines_sku_order", "order_lines", ["sku", "order_id"])
    # With the id, the index gives "oldest/newest first" of one status whole: without it,
    # SQLite with statistics prefers walking every order by creation time.
    op.drop_index("ix_orders_status_created", table_name="orders")
    op.create_index("ix_orders_status_created", "orders", ["status", "created_at", "id"])
    op.create_index(
        "ix_orders_held",
        "orders",
        ["created_at", "id"],
        sqlite_where=sa.text(HELD),
        postgresql_where=sa.text(HELD),
    )


def downgrade() -> None:
    op.drop_index("ix_orders_held", table_name="orders")
    op.drop_index("ix_orders_status_created", table_name="orders")
    op.create_index("ix_orders_status_created", "orders", ["status", "created_at"])
    op.drop_index("ix_order_lines_sku_order", table_name="order_lines")
    op.create_index("ix_order_lines_sku", "order_lines", ["sku"])
    op.drop_table("dashboard_snapshots")
    op.drop_table("dashboard_unmapped_skus")
    op.drop_table("dashboard_sku_days")
    op.drop_table("dashboard_order_days")
