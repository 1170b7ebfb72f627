"""dashboard users with argon2 password hashes; indexes for the dashboard's order reads

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ordermesh.adapters.db.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at", ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_login_at", ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "disabled_at", ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=True
        ),
        sa.CheckConstraint("role IN ('admin', 'operator', 'viewer')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index("ix_orders_status_ship_by", "orders", ["status", "ship_by"])
    op.create_index("ix_orders_channel_order_id", "orders", ["channel_order_id"])


def downgrade() -> None:
    op.drop_index("ix_orders_channel_order_id", table_name="orders")
    op.drop_index("ix_orders_status_ship_by", table_name="orders")
    op.drop_table("users")
