"""stock sync: per-account policies, per-SKU buffers, the push queue

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ordermesh.adapters.db.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time(name: str, nullable: bool) -> sa.Column:
    return sa.Column(
        name, ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "stock_sync_policies",
        sa.Column("channel_account", sa.String(length=64), nullable=False),
        sa.Column("locations", _JSON, nullable=True),
        sa.Column("buffer_units", sa.Integer(), nullable=False),
        sa.Column("buffer_percent_bp", sa.Integer(), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=True),
        sa.Column("last_units_threshold", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("hybrid", sa.String(length=16), nullable=False),
        sa.Column("fba_locations", _JSON, nullable=True),
        _time("updated_at", False),
        sa.CheckConstraint(
            "hybrid IN ('withdraw', 'keep')", name=op.f("ck_stock_sync_policies_hybrid")
        ),
        sa.PrimaryKeyConstraint("channel_account", name=op.f("pk_stock_sync_policies")),
    )
    op.create_table(
        "stock_sync_buffers",
        sa.Column("channel_account", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("buffer_units", sa.Integer(), nullable=False),
        sa.Column("buffer_percent_bp", sa.Integer(), nullable=False),
        _time("updated_at", False),
        sa.ForeignKeyConstraint(
            ["sku"],
            ["products.sku"],
            name=op.f("fk_stock_sync_buffers_sku_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_account", "sku", name=op.f("pk_stock_sync_buffers")),
    )
    op.create_table(
        "stock_pushes",
        sa.Column("channel_account", sa.String(length=64), nullable=False),
        sa.Column("channel_sku", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("confirmed_quantity", sa.Integer(), nullable=True),
        sa.Column("sending_quantity", sa.Integer(), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        _time("enqueued_at", False),
        _time("changed_at", False),
        _time("available_at", False),
        _time("claimed_until", True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _time("last_sent_at", True),
        sa.CheckConstraint(
            "status IN ('new', 'pending', 'sending', 'sent', 'rejected')",
            name=op.f("ck_stock_pushes_status"),
        ),
        sa.PrimaryKeyConstraint("channel_account", "channel_sku", name=op.f("pk_stock_pushes")),
    )
    with op.batch_alter_table("stock_pushes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stock_pushes_due",
            ["channel_account", "status", "urgent", "enqueued_at"],
            unique=False,
        )
        batch_op.create_index("ix_stock_pushes_sku", ["sku"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stock_pushes", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_pushes_sku")
        batch_op.drop_index("ix_stock_pushes_due")
    op.drop_table("stock_pushes")
    op.drop_table("stock_sync_buffers")
    op.drop_table("stock_sync_policies")
