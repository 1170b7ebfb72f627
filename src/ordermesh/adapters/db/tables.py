"""The schema. Money is integer minor units plus an ISO 4217 code; times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")
"""Auto-increment ids: BIGINT on PostgreSQL; INTEGER on SQLite, where only that aliases the rowid."""

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

locations = Table(
    "locations",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("address", Json, nullable=False, default=dict),
    Column("working_days", String(40), nullable=False),
    Column("cutoff", String(5), nullable=False),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("kind IN ('warehouse', 'marketplace', '3pl')", name="kind"),
)

products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("title", String(500), nullable=False),
    Column("gtin", String(14)),
    Column("asin", String(10)),
    Column("brand", String(200)),
    Column("product_type", String(100)),
    Column("tags", Json, nullable=False, default=list),
    Column("weight_g", Integer),
    Column("length_mm", Integer),
    Column("width_mm", Integer),
    Column("height_mm", Integer),
    Column("unit_cost_minor", BigInteger),
    Column("cost_currency", String(3)),
    Column("hs_code", String(20)),
    Column("country_of_origin", String(2)),
    Column("low_stock_threshold", Integer, nullable=False, default=5),
    Column("is_bundle", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

bundle_components = Table(
    "bundle_components",
    metadata,
    Column(
        "bundle_sku", String(64), ForeignKey("products.sku", ondelete="CASCADE"), primary_key=True
    ),
    Column("component_sku", String(64), ForeignKey("products.sku"), primary_key=True),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity >= 1", name="quantity_positive"),
)

channel_accounts = Table(
    "channel_accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("name", String(200), nullable=False, unique=True),
    Column("status", String(32), nullable=False, default="active"),
    Column("settings", Json, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False),
)

channel_listings = Table(
    "channel_listings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_account", String(64), nullable=False),
    Column("channel_sku", String(200), nullable=False),
    Column("sku", String(64), ForeignKey("products.sku"), nullable=False, index=True),
    Column("asin", String(10)),
    Column("variant_id", String(64)),
    Column("fulfilled_by", String(16), nullable=False, default="merchant"),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel_account", "channel_sku", name="uq_channel_listings_account_sku"),
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", String(64), ForeignKey("products.sku"), primary_key=True),
    Column("location", String(32), ForeignKey("locations.code"), primary_key=True),
    Column("on_hand", Integer, nullable=False, default=0),
    Column("reserved", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
    # The database itself refuses an oversell, whatever the code above it does.
    CheckConstraint(
        "on_hand >= 0 AND reserved >= 0 AND reserved <= on_hand", name="never_oversold"
    ),
    Index("ix_stock_levels_location", "location"),
)

stock_movements = Table(
    "stock_movements",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sku", String(64), nullable=False),
    Column("location", String(32), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("on_hand_delta", Integer, nullable=False),
    Column("reserved_delta", Integer, nullable=False),
    Column("reason", String(500), nullable=False, default=""),
    Column("reference", String(200), nullable=False, default=""),
    Column("actor", String(200), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Index("ix_stock_movements_sku_location", "sku", "location", "id"),
    Index("ix_stock_movements_reference", "reference"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("channel_account", String(64), nullable=False),
    Column("channel_order_id", String(100), nullable=False),
    Column("marketplace", String(32)),
    Column("status", String(20), nullable=False),
    Column("purchase_date", UTCDateTime, nullable=False),
    Column("ship_by", UTCDateTime),
    Column("deliver_by", UTCDateTime),
    Column("is_prime", Boolean, nullable=False, default=False),
    Column("is_business", Boolean, nullable=False, default=False),
    Column("fulfilled_by", String(16), nullable=False),
    Column("service_level", String(64)),
    Column("buyer_name", String(200)),
    Column("buyer_email", String(320)),
    Column("shipping_address", Json),
    Column("currency", String(3), nullable=False),
    Column("total_minor", BigInteger),
    Column("tags", Json, nullable=False, default=list),
    Column("holds", Json, nullable=False, default=list),
    Column("buyer_cancel_requested", String(500)),
    Column("channel_updated_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    UniqueConstraint("channel_account", "channel_order_id", name="uq_orders_channel_order"),
    Index("ix_orders_created", "created_at", "id"),
    Index("ix_orders_status_created", "status", "created_at", "id"),
    Index("ix_orders_channel_created", "channel", "created_at"),
    Index("ix_orders_purchase_date", "purchase_date"),
    Index("ix_orders_ship_by", "ship_by"),
    Index("ix_orders_buyer_name", "buyer_name"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(32), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_minor", BigInteger),
    Column("tax_minor", BigInteger),
    Column("discount_minor", BigInteger),
    Column("channel_line_id", String(100)),
    Column("channel_sku", String(200)),
    CheckConstraint("quantity >= 1", name="quantity_positive"),
    # (sku, order id): the orders of one SKU newest first, by walking the index (0008).
    Index("ix_order_lines_sku_order", "sku", "order_id"),
)

allocations = Table(
    "allocations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", String(32), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("location", String(32), nullable=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity >= 1", name="quantity_positive"),
    Index("ix_allocations_order", "order_id"),
)

order_history = Table(
    "order_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_id", String(32), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(40), nullable=False),
    Column("from_status", String(20), nullable=False),
    Column("to_status", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", String(1000), nullable=False, default=""),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_order_history_order", "order_id", "id"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(100), nullable=False),
    Column("key", String(300), nullable=False),
    Column("payload", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime),
    Column("error", Text),
    UniqueConstraint("source", "key", name="uq_inbox_source_key"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("topic", String(100), nullable=False),
    Column("destination", String(100), nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("payload", Json, nullable=False),
    Column("status", String(12), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
    Index("ix_outbox_due", "status", "available_at"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(200), nullable=False),
    Column("event_types", Json, nullable=False, default=list),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    CheckConstraint("role IN ('admin', 'operator', 'viewer')", name="role"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# -- channel accounts: sync state and sealed credentials; shared rate-limit buckets (0002) --
channel_accounts.append_column(Column("secrets", Text))
"""Credentials sealed with a key derived from ORDERMESH_SECRET_KEY; never stored in clear."""
channel_accounts.append_column(Column("status_reason", Text))
channel_accounts.append_column(Column("cursor", UTCDateTime))
"""High-water mark of the last window imported in full; the next sync starts before it."""
channel_accounts.append_column(Column("last_sync_at", UTCDateTime))
channel_accounts.append_column(Column("last_error", Text))
channel_accounts.append_column(Column("marketplace_cursor", UTCDateTime))
"""For a channel whose marketplace-fulfilled orders are read apart and later (Amazon FBA,
0009): the high-water mark of those; `cursor` is then that of the merchant-fulfilled ones."""

rate_limit_buckets = Table(
    "rate_limit_buckets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("rate", Float, nullable=False),
    Column("burst", Float, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# -- dashboard users: argon2 password hashes, roles shared with API keys (0009) ------------
users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime),
    Column("disabled_at", UTCDateTime),
    CheckConstraint("role IN ('admin', 'operator', 'viewer')", name="role"),
)

# -- stock sync: per-account policies, per-SKU buffers, one push row per listing (0008) ----
stock_sync_policies = Table(
    "stock_sync_policies",
    metadata,
    Column("channel_account", String(64), primary_key=True),
    # Location codes that may serve the account; NULL means every warehouse and 3PL.
    Column("locations", Json),
    Column("buffer_units", Integer, nullable=False, default=0),
    # Buffer percentage in hundredths of a percent (250 = 2.5 %).
    Column("buffer_percent_bp", Integer, nullable=False, default=0),
    Column("max_quantity", Integer),
    Column("last_units_threshold", Integer, nullable=False, default=0),
    Column("rank", Integer, nullable=False, default=100),
    Column("hybrid", String(16), nullable=False, default="withdraw"),
    Column("fba_locations", Json),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("hybrid IN ('withdraw', 'keep')", name="hybrid"),
)

stock_sync_buffers = Table(
    "stock_sync_buffers",
    metadata,
    Column("channel_account", String(64), primary_key=True),
    Column("sku", String(64), ForeignKey("products.sku", ondelete="CASCADE"), primary_key=True),
    Column("buffer_units", Integer, nullable=False, default=0),
    Column("buffer_percent_bp", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
)

stock_pushes = Table(
    "stock_pushes",
    metadata,
    Column("channel_account", String(64), primary_key=True),
    Column("channel_sku", String(200), primary_key=True),
    Column("sku", String(64), nullable=False),
    # The latest figure: what the channel should show.
    Column("quantity", Integer, nullable=False),
    # What the channel last confirmed showing; NULL until the first push succeeds.
    Column("confirmed_quantity", Integer),
    Column("sending_quantity", Integer),
    # The push in flight is a bulk one (a listings feed, which takes minutes): an urgent figure
    # may overtake it, and `overtaken_quantity` is the figure that did (0010).
    Column("sending_bulk", Boolean, nullable=False, default=False, server_default=false()),
    Column("overtaken_quantity", Integer),
    Column("urgent", Boolean, nullable=False, default=False),
    Column("status", String(12), nullable=False),
    # Since when the channel has been behind (kept while newer figures replace older ones).
    Column("enqueued_at", UTCDateTime, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_count", Integer, nullable=False, default=0),
    Column("failed_count", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_sent_at", UTCDateTime),
    CheckConstraint("status IN ('new', 'pending', 'sending', 'sent', 'rejected')", name="status"),
    Index("ix_stock_pushes_due", "channel_account", "status", "urgent", "enqueued_at"),
    Index("ix_stock_pushes_sku", "sku"),
)
# The dashboard's reads (0009): unshipped orders by ship-by; an order found by the channel's id.
Index("ix_orders_status_ship_by", orders.c.status, orders.c.ship_by)
Index("ix_orders_channel_order_id", orders.c.channel_order_id)
HELD_ORDER = "CAST(holds AS VARCHAR) != '[]'"
"""An order with a hold, written as the dashboard's queries write it, so that the partial index
below (holding only held orders, a few among a million) serves them (0008)."""
Index(
    "ix_orders_held",
    orders.c.created_at,
    orders.c.id,
    sqlite_where=text(HELD_ORDER),
    postgresql_where=text(HELD_ORDER),
)

# -- shipments: packages that left with tracking; the channel's answer to each (0005) ------
shipments = Table(
    "shipments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", String(32), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    # Where the package left from; NULL when nothing reserved travelled with it.
    Column("location", String(32)),
    Column("carrier", String(100), nullable=False),
    Column("service", String(100)),
    Column("tracking_number", String(100), nullable=False),
    Column("tracking_url", String(2000)),
    Column("shipped_at", UTCDateTime, nullable=False),
    Column("confirmation", String(16), nullable=False),
    # The channel's own words: its error for a rejection, its answer for a confirmation.
    Column("channel_message", Text),
    Column("channel_reference", String(200)),
    Column("answered_at", UTCDateTime),
    Column("actor", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(
        "confirmation IN ('pending', 'confirmed', 'rejected', 'not_required')",
        name="confirmation",
    ),
    Index("ix_shipments_order", "order_id"),
    Index("ix_shipments_tracking_number", "tracking_number"),
)

shipment_lines = Table(
    "shipment_lines",
    metadata,
    Column(
        "shipment_id", String(32), ForeignKey("shipments.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("line_no", Integer, primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity >= 1", name="quantity_positive"),
)

# -- stock drift: what reconciliation found each channel showing (0007) ---------------------
stock_drift = Table(
    "stock_drift",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_account", String(64), nullable=False),
    Column("channel_sku", String(200), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("found_at", UTCDateTime, nullable=False),
    # The figure the channel should have shown: the last one it confirmed, or the one queued.
    Column("ours", Integer, nullable=False),
    # What it showed; NULL when it had no quantity for the listing at all.
    Column("theirs", Integer),
    Index("ix_stock_drift_account_found", "channel_account", "found_at"),
)

stock_reconciliations = Table(
    "stock_reconciliations",
    metadata,
    Column("channel_account", String(64), primary_key=True),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("checked", Integer, nullable=False),
    Column("drifted", Integer, nullable=False),
    Column("error", Text),
)

# -- marketplace inbound: FBA stock as Amazon reports it, account health (0006) -------------
marketplace_stock = Table(
    "marketplace_stock",
    metadata,
    Column("channel_account", String(64), primary_key=True),
    # The location whose on-hand follows `fulfillable` through the stock ledger.
    Column("location", String(32), primary_key=True),
    Column("channel_sku", String(200), primary_key=True),
    Column("marketplace_id", String(32), nullable=False),
    Column("fulfillable", Integer, nullable=False),
    # Held by Amazon (its customer orders, transshipment, processing) and on the way to it:
    # kept here, never in on-hand.
    Column("reserved", Integer, nullable=False),
    Column("reserved_for_orders", Integer, nullable=False),
    Column("inbound_working", Integer, nullable=False),
    Column("inbound_shipped", Integer, nullable=False),
    Column("inbound_receiving", Integer, nullable=False),
    Column("unfulfillable", Integer, nullable=False),
    Column("researching", Integer, nullable=False),
    Column("asin", String(10)),
    Column("fnsku", String(20)),
    Column("channel_updated_at", UTCDateTime),
    Column("fetched_at", UTCDateTime, nullable=False),
)

channel_account_health = Table(
    "channel_account_health",
    metadata,
    Column("channel_account", String(64), primary_key=True),
    Column("fetched_at", UTCDateTime, nullable=False),
    # The parsed metrics (see ports.marketplace.AccountHealth), the latest report only.
    Column("report", Json, nullable=False),
)

# -- dashboard rollups, kept up to date by the worker's "dashboard figures" job (0008) --------
dashboard_order_days = Table(
    "dashboard_order_days",
    metadata,
    # The UTC purchase day, ISO text: the same on SQLite and PostgreSQL.
    Column("day", String(10), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("orders", Integer, nullable=False),
)

dashboard_sku_days = Table(
    "dashboard_sku_days",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("sku", String(64), primary_key=True),
    # Every order's units, cancelled ones too: cancellations are taken off when read.
    Column("units", Integer, nullable=False),
)

dashboard_unmapped_skus = Table(
    "dashboard_unmapped_skus",
    metadata,
    Column("channel_account", String(64), primary_key=True),
    Column("channel_sku", String(200), primary_key=True),
    # The SKU the lines carry (the channel's own while unmapped): gone from the list once a
    # product has it.
    Column("sku", String(64), nullable=False),
    Column("lines", Integer, nullable=False),
)

dashboard_snapshots = Table(
    "dashboard_snapshots",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("as_of", UTCDateTime, nullable=False),
    Column("payload", Json, nullable=False),
)
