"""The sandbox's world: the seller's listings and stock, Amazon's orders, and what happens to
them over time. Everything here is guarded by one re-entrant lock, because the HTTP server
thread, the background ticker and a test thread may all touch it."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ordermesh.sandbox.amazon.clock import Clock, iso
from ordermesh.sandbox.amazon.config import SandboxConfig
from ordermesh.sandbox.amazon.marketplaces import MARKETPLACES, Marketplace

PENDING = "Pending"
UNSHIPPED = "Unshipped"
PARTIALLY_SHIPPED = "PartiallyShipped"
SHIPPED = "Shipped"
CANCELED = "Canceled"
OPEN_STATUSES = frozenset({PENDING, UNSHIPPED, PARTIALLY_SHIPPED})

_FIRST_NAMES = ("Alex", "Maria", "Jonas", "Priya", "Chen", "Sofia", "Liam", "Emma", "Noah", "Lena")
_LAST_NAMES = ("Smith", "Müller", "Garcia", "Patel", "Wang", "Rossi", "Brown", "Schmidt")
_STREETS = ("Main Street", "Hauptstraße", "High Street", "Rue de la Paix", "Oak Avenue")
_PRODUCTS = (
    ("Stainless Steel Water Bottle 750 ml", "SPORTING_GOODS", "24.99"),
    ("Bamboo Cutting Board Set", "KITCHEN", "32.50"),
    ("USB-C Charging Cable 2 m", "ELECTRONIC_CABLE", "9.99"),
    ("Organic Cotton T-Shirt", "SHIRT", "19.00"),
    ("LED Desk Lamp with Dimmer", "LAMP", "45.00"),
    ("Yoga Mat 6 mm", "SPORTING_GOODS", "29.95"),
    ("Ceramic Coffee Mug 350 ml", "DRINKING_CUP", "12.49"),
    ("Wireless Mouse", "COMPUTER_INPUT_DEVICE", "21.99"),
    ("Scented Soy Candle", "CANDLE", "15.75"),
    ("Hardcover Notebook A5", "NOTEBOOK", "8.90"),
    ("Phone Stand Aluminium", "PORTABLE_ELECTRONIC_DEVICE_STAND", "17.49"),
    ("Kids Puzzle 100 Pieces", "PUZZLES", "13.99"),
)


def _token(rnd: random.Random, length: int) -> str:
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(length))


class SandboxError(Exception):
    """A request Amazon would refuse; carries the HTTP status and SP-API error code."""

    def __init__(self, status: int, code: str, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


@dataclass(slots=True)
class Listing:
    sku: str
    asin: str
    title: str
    product_type: str
    price: Decimal
    mfn_quantity: int
    fba_fulfillable: int
    fnsku: str
    created: datetime
    last_updated: datetime
    quantity_patched_at: datetime | None = None
    """When patchListingsItem last set the quantity (for `feed_order` "as_received")."""
    fba_inbound_working: int = 0
    fba_inbound_shipped: int = 0
    fba_reserved_customer_orders: int = 0
    condition: str = "new_new"


@dataclass(slots=True)
class OrderLine:
    order_item_id: str
    sku: str
    asin: str
    title: str
    quantity: int
    unit_price: Decimal
    quantity_shipped: int = 0
    buyer_requested_cancel: bool = False
    buyer_cancel_reason: str | None = None


@dataclass(slots=True)
class Package:
    package_reference_id: str
    carrier_code: str
    carrier_name: str | None
    shipping_method: str | None
    tracking_number: str
    ship_date: datetime
    items: dict[str, int]
    created: datetime


@dataclass(slots=True)
class Order:
    order_id: str
    marketplace_id: str
    created: datetime
    last_updated: datetime
    visible_after: datetime
    status: str
    fulfillment_channel: str
    is_prime: bool
    is_business: bool
    service_level: str
    lines: list[OrderLine]
    earliest_ship: datetime
    latest_ship: datetime
    earliest_delivery: datetime
    latest_delivery: datetime
    buyer_name: str
    buyer_email: str
    address: dict[str, str]
    pending_until: datetime
    cancel_when_released: bool = False
    buyer_cancel_at: datetime | None = None
    afn_ship_at: datetime | None = None
    packages: dict[str, Package] = field(default_factory=dict)
    shipment_status: str | None = None
    cancel_reason: str | None = None

    @property
    def marketplace(self) -> Marketplace:
        return MARKETPLACES[self.marketplace_id]

    @property
    def currency(self) -> str:
        return self.marketplace.currency

    @property
    def total(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal("0"))

    @property
    def items_shipped(self) -> int:
        return sum(line.quantity_shipped for line in self.lines)

    @property
    def items_unshipped(self) -> int:
        if self.status == CANCELED:
            return 0
        return sum(line.quantity - line.quantity_shipped for line in self.lines)


@dataclass(slots=True)
class OrderRequest:
    """What a test or an admin call wants in a generated order; None means "draw at random"."""

    marketplace_id: str | None = None
    fulfillment_channel: str | None = None
    is_prime: bool | None = None
    is_business: bool | None = None
    buyer_cancel: bool | None = None
    cancel_while_pending: bool | None = None
    items: list[tuple[str, int]] | None = None


@dataclass(slots=True)
class Notification:
    sequence: int
    payload: dict[str, Any]


class SandboxState:
    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.random = random.Random(config.seed)
        self.listings: dict[str, Listing] = {}
        self.orders: dict[str, Order] = {}
        self.notifications: list[Notification] = []
        self._started = clock.now()
        self._generated_by_rate = 0
        self._late_updates: list[float] = []
        for index, (title, product_type, price) in enumerate(_PRODUCTS[: config.listings]):
            self.add_listing(
                sku=f"SKU-{index + 1:04d}",
                title=title,
                product_type=product_type,
                price=Decimal(price),
                mfn_quantity=50,
                fba_fulfillable=30,
            )

    # -- listings -----------------------------------------------------------------------

    def add_listing(
        self,
        *,
        sku: str,
        title: str | None = None,
        product_type: str = "PRODUCT",
        price: Decimal = Decimal("19.99"),
        mfn_quantity: int = 0,
        fba_fulfillable: int = 0,
        asin: str | None = None,
    ) -> Listing:
        with self.lock:
            now = self.clock.now()
            existing = self.listings.get(sku)
            if existing is not None:
                existing.mfn_quantity = mfn_quantity
                existing.fba_fulfillable = fba_fulfillable
                existing.price = price
                if title:
                    existing.title = title
                existing.last_updated = now
                return existing
            listing = Listing(
                sku=sku,
                asin=asin
                or "B0"
                + "".join(
                    self.random.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(8)
                ),
                title=title or f"Sandbox product {sku}",
                product_type=product_type,
                price=price,
                mfn_quantity=mfn_quantity,
                fba_fulfillable=fba_fulfillable,
                fnsku="X00"
                + "".join(
                    self.random.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(7)
                ),
                created=now,
                last_updated=now,
            )
            self.listings[sku] = listing
            return listing

    def set_mfn_quantity(self, sku: str, quantity: int, *, patched: bool = False) -> Listing:
        with self.lock:
            listing = self.listings.get(sku)
            if listing is None:
                listing = self.add_listing(sku=sku, mfn_quantity=quantity)
            listing.mfn_quantity = quantity
            listing.last_updated = self.clock.now()
            if patched:
                listing.quantity_patched_at = listing.last_updated
            return listing

    # -- order generation -----------------------------------------------------------------

    def generate(self, n: int = 1, request: OrderRequest | None = None) -> list[Order]:
        """Place up to n orders now; fewer when the seller runs out of stock."""
        created = []
        with self.lock:
            for _ in range(n):
                order = self._place(request or OrderRequest(), self.clock.now())
                if order is not None:
                    created.append(order)
        return created

    def _chance(self, share: float) -> bool:
        return self.random.random() < share

    def _place(self, request: OrderRequest, now: datetime) -> Order | None:
        cfg = self.config
        rnd = self.random
        marketplace_id = request.marketplace_id or rnd.choice(cfg.marketplaces)
        if marketplace_id not in MARKETPLACES:
            raise SandboxError(400, "InvalidInput", f"Unknown marketplace {marketplace_id}.")
        channel = request.fulfillment_channel or ("AFN" if self._chance(cfg.afn_share) else "MFN")
        is_prime = self._chance(cfg.prime_share) if request.is_prime is None else request.is_prime
        is_business = (
            self._chance(cfg.business_share) if request.is_business is None else request.is_business
        )
        buyer_cancel = (
            self._chance(cfg.buyer_cancellation_share)
            if request.buyer_cancel is None
            else request.buyer_cancel
        )
        cancel_pending = (
            self._chance(cfg.pending_cancellation_share)
            if request.cancel_while_pending is None
            else request.cancel_while_pending
        )

        def available(listing: Listing) -> int:
            return listing.fba_fulfillable if channel == "AFN" else listing.mfn_quantity

        if request.items is not None:
            wanted = []
            for sku, quantity in request.items:
                listing = self.listings.get(sku)
                if listing is None:
                    raise SandboxError(400, "InvalidInput", f"Unknown SKU {sku}.")
                if quantity < 1 or available(listing) < quantity:
                    raise SandboxError(
                        400, "InvalidInput", f"Not enough {channel} stock for SKU {sku}."
                    )
                wanted.append((listing, quantity))
        else:
            candidates = [listing for listing in self.listings.values() if available(listing) > 0]
            if not candidates:
                return None
            count = min(len(candidates), rnd.choice((1, 1, 1, 2, 2, 3)))
            wanted = [
                (listing, min(available(listing), rnd.choice((1, 1, 1, 2, 3))))
                for listing in rnd.sample(candidates, count)
            ]

        order_id = self._new_order_id(MARKETPLACES[marketplace_id])
        lines = []
        for listing, quantity in wanted:
            if channel == "AFN":
                listing.fba_fulfillable -= quantity
                listing.fba_reserved_customer_orders += quantity
            else:
                listing.mfn_quantity -= quantity
            listing.last_updated = now
            lines.append(
                OrderLine(
                    order_item_id="".join(rnd.choice("0123456789") for _ in range(14)),
                    sku=listing.sku,
                    asin=listing.asin,
                    title=listing.title,
                    quantity=quantity,
                    unit_price=listing.price,
                )
            )

        handling_days = 1 if is_prime else 2
        service_level = "Expedited" if is_prime else "Standard"
        first = rnd.choice(_FIRST_NAMES)
        last = rnd.choice(_LAST_NAMES)
        city, state, postal = rnd.choice(MARKETPLACES[marketplace_id].sample_cities)
        day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        order = Order(
            order_id=order_id,
            marketplace_id=marketplace_id,
            created=now,
            last_updated=now,
            visible_after=now,
            status=PENDING,
            fulfillment_channel=channel,
            is_prime=is_prime,
            is_business=is_business,
            service_level=service_level,
            lines=lines,
            earliest_ship=now,
            latest_ship=day_start + timedelta(days=handling_days, hours=23, minutes=59, seconds=59),
            earliest_delivery=day_start + timedelta(days=handling_days + 1, hours=8),
            latest_delivery=day_start + timedelta(days=handling_days + 4, hours=20),
            buyer_name=f"{first} {last}",
            buyer_email=f"{_token(rnd, 16)}@marketplace.amazon.com",
            address={
                "Name": f"{first} {last}",
                "AddressLine1": f"{rnd.randint(1, 250)} {rnd.choice(_STREETS)}",
                "City": city,
                "StateOrRegion": state,
                "PostalCode": postal,
                "CountryCode": MARKETPLACES[marketplace_id].country_code,
                "Phone": f"+1 555 01{rnd.randint(10, 99)}",
                "AddressType": "Commercial" if is_business else "Residential",
            },
            pending_until=now + timedelta(seconds=self.config.pending_seconds),
            cancel_when_released=cancel_pending,
        )
        if buyer_cancel:
            order.buyer_cancel_at = order.pending_until + timedelta(
                seconds=self.config.buyer_cancel_after_seconds
            )
        if channel == "AFN":
            order.afn_ship_at = order.pending_until + timedelta(
                seconds=self.config.afn_ship_after_seconds
            )
        self.orders[order_id] = order
        self._touch(order, now, "OrderStatusChange", "NewOrder")
        return order

    def _new_order_id(self, marketplace: Marketplace) -> str:
        while True:
            digits = "".join(self.random.choice("0123456789") for _ in range(15))
            order_id = f"{marketplace.order_id_prefix}{digits[0]}-{digits[1:8]}-{digits[8:15]}"
            if order_id not in self.orders:
                return order_id

    # -- time ---------------------------------------------------------------------------

    def advance(self) -> None:
        """Catch the world up with the clock: new orders at the configured rate, releases,
        cancellations and Amazon's own shipments of AFN orders."""
        with self.lock:
            now = self.clock.now()
            rate = self.config.orders_per_minute
            if rate > 0:
                interval = 60.0 / rate
                due = int((now - self._started).total_seconds() / interval)
                # A huge clock jump should not stall the server generating a backlog.
                for _ in range(min(due - self._generated_by_rate, 500)):
                    self._generated_by_rate += 1
                    self._place(OrderRequest(), now)
                self._generated_by_rate = max(self._generated_by_rate, due)
            for order in list(self.orders.values()):
                if order.status not in OPEN_STATUSES:
                    continue
                if order.status == PENDING and now >= order.pending_until:
                    if order.cancel_when_released:
                        self._cancel(order, now, "BuyerCanceled")
                        continue
                    order.status = UNSHIPPED
                    self._touch(order, now, "OrderStatusChange", "OrderReleased")
                if order.buyer_cancel_at is not None and now >= order.buyer_cancel_at:
                    order.buyer_cancel_at = None
                    for line in order.lines:
                        if line.quantity_shipped < line.quantity:
                            line.buyer_requested_cancel = True
                            line.buyer_cancel_reason = "No longer needed"
                    self._touch(order, now, "BuyerRequestedChange", "Buyer Requested Cancel")
                if (
                    order.fulfillment_channel == "AFN"
                    and order.status == UNSHIPPED
                    and order.afn_ship_at is not None
                    and now >= order.afn_ship_at
                ):
                    for line in order.lines:
                        line.quantity_shipped = line.quantity
                        listing = self.listings.get(line.sku)
                        if listing is not None:
                            listing.fba_reserved_customer_orders = max(
                                0, listing.fba_reserved_customer_orders - line.quantity
                            )
                    order.status = SHIPPED
                    self._touch(order, now, "OrderStatusChange", "ShippedByAmazon")

    def cancel(self, order_id: str, reason: str = "SellerCanceled") -> Order:
        with self.lock:
            order = self.get_order(order_id)
            if order.status not in OPEN_STATUSES or order.items_shipped:
                raise SandboxError(
                    400,
                    "InvalidInput",
                    f"Order {order_id} in status {order.status} cannot be canceled.",
                )
            self._cancel(order, self.clock.now(), reason)
            return order

    def _cancel(self, order: Order, now: datetime, reason: str) -> None:
        for line in order.lines:
            listing = self.listings.get(line.sku)
            if listing is None:
                continue
            if order.fulfillment_channel == "AFN":
                listing.fba_fulfillable += line.quantity
                listing.fba_reserved_customer_orders = max(
                    0, listing.fba_reserved_customer_orders - line.quantity
                )
            else:
                listing.mfn_quantity += line.quantity
            listing.last_updated = now
        order.status = CANCELED
        order.cancel_reason = reason
        self._touch(order, now, "OrderStatusChange", reason)

    def delay_next_updates(self, count: int, delay_seconds: float) -> None:
        """Make the next `count` order changes reach searches only `delay_seconds` after they
        happened, the way Amazon's replicas sometimes lag."""
        with self.lock:
            self._late_updates.extend([delay_seconds] * count)

    def _touch(self, order: Order, now: datetime, change_type: str, reason: str) -> None:
        order.last_updated = now
        order.visible_after = now
        if self._late_updates:
            order.visible_after = now + timedelta(seconds=self._late_updates.pop(0))
        self._notify(order, now, change_type, reason)

    # -- notifications ----------------------------------------------------------------------

    def _notify(self, order: Order, now: datetime, change_type: str, reason: str) -> None:
        sequence = len(self.notifications) + 1
        notification_id = f"{self.random.getrandbits(128):032x}"
        notification_id = "-".join(
            (
                notification_id[:8],
                notification_id[8:12],
                notification_id[12:16],
                notification_id[16:20],
                notification_id[20:],
            )
        )
        status_items = []
        for line in order.lines:
            item: dict[str, Any] = {
                "OrderItemId": line.order_item_id,
                "SellerSKU": line.sku,
                "SupplySourceId": None,
                "Quantity": line.quantity,
                "QuantityShipped": line.quantity_shipped,
            }
            if order.status not in (PENDING, CANCELED):
                shipped = line.quantity_shipped == line.quantity
                item["OrderItemStatus"] = "Shipped" if shipped else "Unshipped"
            if line.buyer_requested_cancel:
                item["IsBuyerRequestedCancel"] = True
            if order.status not in (PENDING, CANCELED):
                item["ItemEarliestDeliveryDate"] = iso(order.earliest_delivery)
                item["ItemLatestDeliveryDate"] = iso(order.latest_delivery)
            status_items.append(item)
        programs = []
        if order.is_business:
            programs.append("Business")
        if order.is_prime:
            programs.append("Prime")
        summary: dict[str, Any] = {
            "MarketplaceId": order.marketplace_id,
            "OrderStatus": order.status,
            "PurchaseDate": iso(order.created),
            "DestinationPostalCode": order.address["PostalCode"],
            "FulfillmentType": order.fulfillment_channel,
            "OrderType": "StandardOrder",
            "NumberOfItemsShipped": order.items_shipped,
            "NumberOfItemsUnshipped": order.items_unshipped,
            "OrderPrograms": programs,
            "OrderItems": status_items,
        }
        if order.fulfillment_channel == "MFN":
            summary["EarliestShipDate"] = iso(order.earliest_ship)
            summary["LatestShipDate"] = iso(order.latest_ship)
        if order.status not in (PENDING, CANCELED):
            summary["EarliestDeliveryDate"] = iso(order.earliest_delivery)
            summary["LatestDeliveryDate"] = iso(order.latest_delivery)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        payload = {
            "NotificationVersion": "1.0",
            "NotificationType": "ORDER_CHANGE",
            "PayloadVersion": "1.0",
            "EventTime": stamp,
            "Payload": {
                "OrderChangeNotification": {
                    "NotificationLevel": "OrderLevel",
                    "SellerId": self.config.seller_id,
                    "AmazonOrderId": order.order_id,
                    "OrderChangeType": change_type,
                    "OrderChangeTrigger": {"TimeOfOrderChange": stamp, "ChangeReason": reason},
                    "Summary": summary,
                }
            },
            "NotificationMetadata": {
                "ApplicationId": "amzn1.sellerapps.app.sandbox",
                "SubscriptionId": "sandbox-order-change",
                "PublishTime": stamp,
                "NotificationId": notification_id,
            },
        }
        self.notifications.append(Notification(sequence, payload))

    # -- queries ----------------------------------------------------------------------------

    def get_order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise SandboxError(404, "NotFound", f"Order {order_id} was not found.")
        return order

    def visible_orders(self, now: datetime) -> list[Order]:
        return [order for order in self.orders.values() if order.visible_after <= now]

    # -- seller actions ---------------------------------------------------------------------

    def confirm_shipment(self, order_id: str, marketplace_id: str, package: Package) -> None:
        """Record one package; re-sending the same packageReferenceId edits that package
        instead of shipping the items a second time."""
        with self.lock:
            order = self.get_order(order_id)
            if marketplace_id != order.marketplace_id:
                raise SandboxError(
                    400,
                    "InvalidInput",
                    f"Order {order_id} does not belong to marketplace {marketplace_id}.",
                )
            if order.status in (PENDING, CANCELED) or order.fulfillment_channel == "AFN":
                raise SandboxError(
                    400,
                    "InvalidInput",
                    f"Order {order_id} in status {order.status} cannot be confirmed as shipped.",
                )
            lines = {line.order_item_id: line for line in order.lines}
            for item_id in package.items:
                if item_id not in lines:
                    raise SandboxError(
                        400,
                        "InvalidInput",
                        f"Order item {item_id} is not part of order {order_id}.",
                    )
            previous = order.packages.get(package.package_reference_id)
            unchanged = previous is not None and _same_package(previous, package)
            if order.status == SHIPPED and (previous is None or unchanged):
                # Amazon's words (selling-partner-api-models#5037) when a confirmation finds
                # nothing left to ship and no package to edit.
                raise SandboxError(
                    400,
                    "InvalidInput",
                    "Failed to create package due to not finding a matching package or order "
                    "already fulfilled.",
                )
            if unchanged:
                return
            shipped = dict.fromkeys(lines, 0)
            others = [p for ref, p in order.packages.items() if ref != package.package_reference_id]
            for existing in [*others, package]:
                for item_id, quantity in existing.items.items():
                    shipped[item_id] += quantity
            for item_id, quantity in shipped.items():
                if quantity > lines[item_id].quantity:
                    raise SandboxError(
                        400,
                        "InvalidInput",
                        f"Quantity shipped for order item {item_id} exceeds the quantity ordered "
                        f"({quantity} > {lines[item_id].quantity}).",
                    )
            if previous is not None:
                package.created = previous.created
            order.packages[package.package_reference_id] = package
            for item_id, quantity in shipped.items():
                lines[item_id].quantity_shipped = quantity
            everything = all(line.quantity_shipped == line.quantity for line in order.lines)
            order.status = SHIPPED if everything else PARTIALLY_SHIPPED
            self._touch(order, self.clock.now(), "OrderStatusChange", "ShipmentConfirmed")

    def update_shipment_status(self, order_id: str, marketplace_id: str, status: str) -> None:
        with self.lock:
            order = self.get_order(order_id)
            if marketplace_id != order.marketplace_id:
                raise SandboxError(
                    400,
                    "InvalidInput",
                    f"Order {order_id} does not belong to marketplace {marketplace_id}.",
                )
            if order.status == CANCELED:
                raise SandboxError(400, "InvalidInput", f"Order {order_id} is canceled.")
            order.shipment_status = status
            self._touch(order, self.clock.now(), "OrderStatusChange", f"ShipmentStatus{status}")


def _same_package(a: Package, b: Package) -> bool:
    return (
        a.carrier_code == b.carrier_code
        and a.carrier_name == b.carrier_name
        and a.shipping_method == b.shipping_method
        and a.tracking_number == b.tracking_number
        and a.ship_date == b.ship_date
        and a.items == b.items
    )
