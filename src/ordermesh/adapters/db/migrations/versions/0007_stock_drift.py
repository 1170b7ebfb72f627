"""stock drift: what reconciliation found each channel showing against our figure

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ordermesh.adapters.db.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool) -> sa.Column:
    return sa.Column(
        name, ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "stock_drift",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("channel_account", sa.String(length=64), nullable=False),
        sa.Column("channel_sku", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        _time("found_at", False),
        sa.Column("ours", sa.Integer(), nullable=False),
        sa.Column("theirs", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_drift")),
    )
    with op.batch_alter_table("stock_drift", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stock_drift_account_found", ["channel_account", "found_at"], unique=False
        )
    op.create_table(
        "stock_reconciliations",
        sa.Column("channel_account", sa.String(length=64), nullable=False),
        _time("checked_at", False),
        sa.Column("checked", sa.Integer(), nullable=False),
        sa.Column("drifted", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("channel_account", name=op.f("pk_stock_reconciliations")),
    )


def downgrade() -> None:
    op.drop_table("stock_reconciliations")
    with op.batch_alter_table("stock_drift", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_drift_account_found")
    op.drop_table("stock_drift")
