"""channel accounts: sync state, sealed credentials; shared rate-limit buckets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ordermesh.adapters.db.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secrets", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "cursor", ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "last_sync_at",
                ordermesh.adapters.db.tables.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))

    op.create_table(
        "rate_limit_buckets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("burst", sa.Float(), nullable=False),
        sa.Column(
            "updated_at", ordermesh.adapters.db.tables.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_buckets")),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets")
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("last_sync_at")
        batch_op.drop_column("cursor")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("secrets")
