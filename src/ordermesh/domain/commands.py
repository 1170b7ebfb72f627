"""Commands: what someone asks ordermesh to do. One handler each; a refusal raises."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from ordermesh.domain.catalogue import Product
from ordermesh.domain.inventory import Location
from ordermesh.domain.orders import Address, FulfilledBy
from ordermesh.domain.shipments import ShipLine


@dataclass(frozen=True, slots=True)
class Command:
    pass


@dataclass(frozen=True, slots=True)
class NewLine:
    sku: str
    quantity: int
    unit_price: str | None = None
    """Decimal amount as text, in the order's currency."""
    tax: str | None = None
    discount: str | None = None
    channel_line_id: str | None = None


@dataclass(frozen=True, slots=True)
class CreateOrder(Command):
    """A manual order typed in by the seller's staff (phone order, replacement, B2B)."""

    lines: tuple[NewLine, ...]
    shipping_address: Address | None
    currency: str = "EUR"
    buyer_name: str | None = None
    buyer_email: str | None = None
    channel_order_id: str | None = None
    marketplace: str | None = None
    ship_by: datetime | None = None
    is_prime: bool = False
    is_business: bool = False
    tags: tuple[str, ...] = ()
    allow_backorder: bool = True
    actor: str = "system"


class ChannelState:
    """Where the channel says an order is, already translated by the channel's adapter."""

    PENDING = "pending"
    RELEASED = "released"
    SHIPPED = "shipped"
    PARTIALLY_SHIPPED = "partially_shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    ALL = frozenset({PENDING, RELEASED, SHIPPED, PARTIALLY_SHIPPED, DELIVERED, CANCELLED})


@dataclass(frozen=True, slots=True)
class ChannelLine:
    channel_line_id: str
    channel_sku: str
    quantity: int
    unit_price: str | None = None
    tax: str | None = None
    discount: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelOrder:
    """A channel's snapshot of one order at `updated_at`, translated to our vocabulary."""

    channel: str
    channel_account: str
    channel_order_id: str
    state: str
    updated_at: datetime
    purchase_date: datetime
    lines: tuple[ChannelLine, ...]
    currency: str
    marketplace: str | None = None
    ship_by: datetime | None = None
    deliver_by: datetime | None = None
    is_prime: bool = False
    is_business: bool = False
    fulfilled_by: FulfilledBy = FulfilledBy.MERCHANT
    service_level: str | None = None
    buyer_name: str | None = None
    buyer_email: str | None = None
    shipping_address: Address | None = None
    total: str | None = None
    buyer_cancel_reason: str | None = None
    """Set when the buyer asked the channel to cancel."""

    def fingerprint(self) -> str:
        """A short digest of everything the snapshot says. Channels stamp updates to the
        second, so two changes in one second share a timestamp: the fingerprint tells them
        apart, while the same version seen twice (webhook and poll) keeps one key."""
        return hashlib.sha256(repr(self).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ImportOrder(Command):
    """Idempotent upsert of a channel's snapshot; `key` makes a resent payload a no-op."""

    order: ChannelOrder
    source: str
    key: str
    payload: str = ""


@dataclass(frozen=True, slots=True)
class ImportOrders(Command):
    """Many ImportOrder in one transaction: the way syncs and back-fills bring orders in."""

    orders: tuple[ImportOrder, ...]


@dataclass(frozen=True, slots=True)
class AllocateOrder(Command):
    order_id: str
    allow_backorder: bool = True
    actor: str = "system"
    only_if_ready: bool = False
    """Quietly do nothing if the order is not open or backordered, or is held."""


@dataclass(frozen=True, slots=True)
class AllocateBackorders(Command):
    """Try again, oldest first, the orders waiting for stock of these SKUs (all if empty)."""

    skus: tuple[str, ...] = ()
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class CancelOrder(Command):
    order_id: str
    reason: str = ""
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class HoldOrder(Command):
    order_id: str
    reason: str
    kind: str = "manual"
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class ReleaseHold(Command):
    order_id: str
    kind: str | None = None
    reason: str = ""
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class ShipOrder(Command):
    """Record a package of an order leaving with tracking; the channel is told of it through
    the outbox, in the same transaction."""

    order_id: str
    carrier: str
    tracking_number: str
    lines: tuple[ShipLine, ...] | None = None
    """None: every unit not shipped yet (at `location`, if named)."""
    service: str | None = None
    tracking_url: str | None = None
    shipped_at: datetime | None = None
    """When it left; now if not given."""
    location: str | None = None
    notify_customer: bool = True
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class RecordShipmentConfirmation(Command):
    """The channel's answer to a shipment confirmation."""

    order_id: str
    shipment_id: str
    confirmed: bool
    message: str = ""
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class ReceiveStock(Command):
    sku: str
    location: str
    quantity: int
    reference: str = ""
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class AdjustStock(Command):
    sku: str
    location: str
    delta: int
    reason: str
    reference: str = ""
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class TransferStock(Command):
    sku: str
    source: str
    destination: str
    quantity: int
    reference: str = ""
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class RecordCount(Command):
    sku: str
    location: str
    counted: int
    reference: str = ""
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class CountNetworkStock(Command):
    """A marketplace's own count of what it can ship from its network (Amazon FBA
    `fulfillableQuantity`), booked as count movements at the location that stands for it."""

    channel_account: str
    location: str
    fulfillable: tuple[tuple[str, int], ...]
    """(channel SKU, units the marketplace can ship now)."""
    reference: str = ""
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class UpsertProducts(Command):
    products: tuple[Product, ...]
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class CreateLocation(Command):
    location: Location
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class UpsertListing(Command):
    channel_account: str
    channel_sku: str
    sku: str
    asin: str | None = None
    variant_id: str | None = None
    fulfilled_by: str = "merchant"


@dataclass(frozen=True, slots=True)
class StockRow:
    """One row of a stock import: set the counted level of a SKU at a location."""

    line: int
    sku: str
    location: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ImportStockCounts(Command):
    rows: tuple[StockRow, ...] = field(default_factory=tuple)
    reference: str = ""
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class SyncChannel(Command):
    """Bring in what changed on a channel account since its cursor."""

    account: str
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class RecomputeListings(Command):
    """Recompute available-to-sell for the listings these SKUs feed (bundles included; every
    listing if empty) and queue a push for each figure a channel does not show yet."""

    skus: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConfigureStockSync(Command):
    """How a channel account's listed quantities follow stock."""

    channel_account: str
    locations: tuple[str, ...] | None = None
    """Locations that may serve the account; None: every warehouse and 3PL."""
    buffer_units: int = 0
    buffer_percent: str = "0"
    """Decimal percentage as text, e.g. "2.5"."""
    max_quantity: int | None = None
    last_units_threshold: int = 0
    rank: int = 100
    hybrid: str = "withdraw"
    """"withdraw" or "keep" the merchant offer while FBA holds stock."""
    fba_locations: tuple[str, ...] | None = None
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class SetSkuBuffer(Command):
    """A SKU's own buffer on one channel account; both None go back to the account's."""

    channel_account: str
    sku: str
    buffer_units: int | None = None
    buffer_percent: str | None = None
    actor: str = "system"
