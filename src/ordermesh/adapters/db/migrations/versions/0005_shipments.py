"""shipments: packages that left with tracking, their lines, the channel's confirmation

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ordermesh.adapters.db.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool) -> sa.Column:
    return sa.Column(
        name, ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "shipments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("location", sa.String(length=32), nullable=True),
        sa.Column("carrier", sa.String(length=100), nullable=False),
        sa.Column("service", sa.String(length=100), nullable=True),
        sa.Column("tracking_number", sa.String(length=100), nullable=False),
        sa.Column("tracking_url", sa.String(length=2000), nullable=True),
        _time("shipped_at", False),
        sa.Column("confirmation", sa.String(length=16), nullable=False),
        sa.Column("channel_message", sa.Text(), nullable=True),
        sa.Column("channel_reference", sa.String(length=200), nullable=True),
        _time("answered_at", True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        _time("created_at", False),
        sa.CheckConstraint(
            "confirmation IN ('pending', 'confirmed', 'rejected', 'not_required')",
            name=op.f("ck_shipments_confirmation"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_shipments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
    )
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index("ix_shipments_order", ["order_id"], unique=False)
        batch_op.create_index("ix_shipments_tracking_number", ["tracking_number"], unique=False)
    op.create_table(
        "shipment_lines",
        sa.Column("shipment_id", sa.String(length=32), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_shipment_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name=op.f("fk_shipment_lines_shipment_id_shipments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shipment_id", "line_no", name=op.f("pk_shipment_lines")),
    )


def downgrade() -> None:
    op.drop_table("shipment_lines")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_tracking_number")
        batch_op.drop_index("ix_shipments_order")
    op.drop_table("shipments")
