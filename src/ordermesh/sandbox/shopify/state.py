"""The shop's state: catalogue, stock, orders, fulfilments and refunds.

Every change that Shopify would announce by webhook is reported through ``on_event`` as a
``(topic, payload)`` pair, the payload in Shopify's REST webhook shape.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ordermesh.sandbox.shopify.config import Clock

# Numeric ids of each resource start in their own range so a stray id never names two things.
_ID_BASES = {
    "Location": 70_000_000_000,
    "Product": 80_000_000_000,
    "ProductVariant": 40_000_000_000,
    "InventoryItem": 45_000_000_000,
    "InventoryLevel": 46_000_000_000,
    "Order": 5_000_000_000_000,
    "LineItem": 13_000_000_000_000,
    "FulfillmentOrder": 6_000_000_000_000,
    "FulfillmentOrderLineItem": 14_000_000_000_000,
    "Fulfillment": 4_000_000_000_000,
    "Refund": 900_000_000_000,
    "RefundLineItem": 500_000_000_000,
    "InventoryAdjustmentGroup": 30_000_000_000,
}

QUANTITY_NAMES = ("available", "committed", "on_hand")
SETTABLE_QUANTITY_NAMES = ("available", "on_hand")

# Reasons Shopify accepts for inventory changes.
INVENTORY_REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "movement_created",
        "movement_updated",
        "movement_received",
        "movement_canceled",
        "other",
        "promotion",
        "quality_control",
        "received",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "restock",
        "safety_stock",
        "shrinkage",
    }
)

CANCEL_REASONS = ("CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF")


def gid(kind: str, numeric_id: int) -> str:
    return f"gid://shopify/{kind}/{numeric_id}"


def parse_gid(value: str, kind: str) -> int | None:
    prefix = f"gid://shopify/{kind}/"
    if not value.startswith(prefix):
        return None
    tail = value[len(prefix) :].split("?", 1)[0]
    return int(tail) if tail.isdigit() else None


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class SandboxError(Exception):
    """A request to the sandbox's admin side that cannot be carried out."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(slots=True)
class Location:
    id: int
    name: str
    country_code: str = "US"
    is_active: bool = True


@dataclass(slots=True)
class Variant:
    id: int
    product_id: int
    sku: str
    title: str
    price: Decimal
    inventory_item_id: int


@dataclass(slots=True)
class Product:
    id: int
    title: str
    handle: str
    variant_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class InventoryLevel:
    id: int
    inventory_item_id: int
    location_id: int
    quantities: dict[str, int]
    updated_at: datetime


@dataclass(slots=True)
class LineItem:
    id: int
    variant_id: int
    product_id: int
    sku: str
    title: str
    quantity: int
    price: Decimal
    refunded_quantity: int = 0


@dataclass(slots=True)
class FulfillmentOrderLine:
    id: int
    line_item_id: int
    total_quantity: int
    remaining_quantity: int


@dataclass(slots=True)
class FulfillmentOrder:
    id: int
    order_id: int
    location_id: int
    status: str
    created_at: datetime
    updated_at: datetime
    lines: list[FulfillmentOrderLine]


@dataclass(frozen=True, slots=True)
class TrackingInfo:
    company: str | None
    number: str | None
    url: str | None


@dataclass(slots=True)
class Fulfillment:
    id: int
    order_id: int
    location_id: int
    status: str
    created_at: datetime
    tracking: list[TrackingInfo]
    # (line item id, quantity)
    lines: list[tuple[int, int]]
    notify_customer: bool


@dataclass(slots=True)
class RefundLine:
    id: int
    line_item_id: int
    quantity: int
    restock_type: str
    subtotal: Decimal
    location_id: int | None


@dataclass(slots=True)
class Refund:
    id: int
    order_id: int
    created_at: datetime
    note: str | None
    lines: list[RefundLine]

    @property
    def total(self) -> Decimal:
        return sum((line.subtotal for line in self.lines), Decimal("0"))


@dataclass(slots=True)
class Order:
    id: int
    number: int
    email: str
    created_at: datetime
    updated_at: datetime
    currency: str
    financial_status: str
    shipping_address: dict[str, str | None]
    line_items: list[LineItem]
    fulfillment_orders: list[FulfillmentOrder] = field(default_factory=list)
    fulfillments: list[Fulfillment] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    closed_at: datetime | None = None
    note: str | None = None

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def subtotal(self) -> Decimal:
        return sum((li.price * li.quantity for li in self.line_items), Decimal("0"))

    @property
    def total_refunded(self) -> Decimal:
        return sum((r.total for r in self.refunds), Decimal("0"))

    def fulfilled_quantity(self, line_item_id: int) -> int:
        return sum(q for f in self.fulfillments for li, q in f.lines if li == line_item_id)

    @property
    def display_fulfillment_status(self) -> str:
        ordered = sum(li.quantity for li in self.line_items)
        fulfilled = sum(q for f in self.fulfillments for _, q in f.lines)
        if fulfilled == 0:
            return "UNFULFILLED"
        if fulfilled >= ordered:
            return "FULFILLED"
        return "PARTIALLY_FULFILLED"


@dataclass(frozen=True, slots=True)
class InventoryChange:
    name: str
    delta: int
    quantity_after_change: int
    inventory_item_id: int
    location_id: int


@dataclass(slots=True)
class InventoryAdjustmentGroup:
    id: int
    created_at: datetime
    reason: str
    reference_document_uri: str | None
    changes: list[InventoryChange]


@dataclass(frozen=True, slots=True)
class QuantityToSet:
    inventory_item_id: int | None
    location_id: int | None
    quantity: int
    # ``missing`` when the caller left changeFromQuantity out altogether.
    change_from: int | str | None


@dataclass(frozen=True, slots=True)
class SetQuantitiesError:
    code: str | None
    field: list[str]
    message: str


@dataclass(frozen=True, slots=True)
class OrderLineRequest:
    sku: str
    quantity: int


class Shop:
    """All state of one simulated shop. Thread-safe: every public method takes the lock."""

    def __init__(
        self,
        *,
        domain: str,
        currency: str,
        clock: Clock,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.domain = domain
        self.currency = currency
        self.clock = clock
        self.on_event = on_event or (lambda _topic, _payload: None)
        self.lock = threading.RLock()
        self._counters = {kind: itertools.count(base + 1) for kind, base in _ID_BASES.items()}
        self._next_order_number = itertools.count(1001)
        self.locations: dict[int, Location] = {}
        self.products: dict[int, Product] = {}
        self.variants: dict[int, Variant] = {}
        # Looked up per quantity a mutation sets: a scan of 5,000 variants each time cost the
        # in-process latency benchmark more CPU than the stock sync it measures.
        self._variant_of_sku: dict[str, Variant] = {}
        self._variant_of_item: dict[int, Variant] = {}
        self.levels: dict[tuple[int, int], InventoryLevel] = {}
        self.orders: dict[int, Order] = {}
        self.adjustment_groups: dict[int, InventoryAdjustmentGroup] = {}
        # idempotency key -> (fingerprint of the request, adjustment group id or None if refused)
        self.idempotency: dict[str, tuple[str, int | None]] = {}
        self.installed = True

    def next_id(self, kind: str) -> int:
        return next(self._counters[kind])

    def number_ids_from(self, offset: int) -> None:
        """New ids of every kind start `offset` above their base: a shop restarted for an
        ordermesh that imported an earlier run's orders must not hand out their ids again."""
        with self.lock:
            self._counters = {
                kind: itertools.count(base + offset + 1) for kind, base in _ID_BASES.items()
            }

    # --- catalogue -------------------------------------------------------------------------

    def add_location(self, name: str, country_code: str = "US") -> Location:
        with self.lock:
            location = Location(self.next_id("Location"), name, country_code)
            self.locations[location.id] = location
            return location

    def add_product(self, title: str, variants: Iterable[tuple[str, str, Decimal]]) -> Product:
        """Adds a product whose variants are given as (sku, title, price)."""
        with self.lock:
            handle = "-".join(title.lower().split())
            product = Product(self.next_id("Product"), title, handle)
            for sku, variant_title, price in variants:
                if self.variant_by_sku(sku) is not None:
                    raise SandboxError(f"SKU {sku!r} already exists")
                variant = Variant(
                    self.next_id("ProductVariant"),
                    product.id,
                    sku,
                    variant_title,
                    Decimal(price),
                    self.next_id("InventoryItem"),
                )
                self.variants[variant.id] = variant
                self._variant_of_sku[sku] = variant
                self._variant_of_item[variant.inventory_item_id] = variant
                product.variant_ids.append(variant.id)
            self.products[product.id] = product
            return product

    def variant_by_sku(self, sku: str) -> Variant | None:
        return self._variant_of_sku.get(sku)

    def variant_by_inventory_item(self, inventory_item_id: int) -> Variant | None:
        return self._variant_of_item.get(inventory_item_id)

    def level(self, inventory_item_id: int, location_id: int) -> InventoryLevel | None:
        return self.levels.get((inventory_item_id, location_id))

    def stock(self, sku: str, location_id: int, available: int) -> InventoryLevel:
        """Sets what is available of a SKU at a location, stocking it there if needed."""
        with self.lock:
            variant = self.variant_by_sku(sku)
            if variant is None:
                raise SandboxError(f"unknown SKU {sku!r}", 404)
            if location_id not in self.locations:
                raise SandboxError(f"unknown location {location_id}", 404)
            level = self._ensure_level(variant.inventory_item_id, location_id)
            self._set_quantity(level, "available", available)
            return level

    def _ensure_level(self, inventory_item_id: int, location_id: int) -> InventoryLevel:
        key = (inventory_item_id, location_id)
        if key not in self.levels:
            self.levels[key] = InventoryLevel(
                self.next_id("InventoryLevel"),
                inventory_item_id,
                location_id,
                dict.fromkeys(QUANTITY_NAMES, 0),
                self.clock.now(),
            )
        return self.levels[key]

    def _set_quantity(self, level: InventoryLevel, name: str, quantity: int) -> int:
        """Sets one named quantity, keeping on_hand = available + committed; returns the delta."""
        delta = quantity - level.quantities[name]
        level.quantities[name] = quantity
        if name == "available":
            level.quantities["on_hand"] += delta
        elif name == "on_hand":
            level.quantities["available"] += delta
        level.updated_at = self.clock.now()
        return delta

    def _move(self, level: InventoryLevel, **deltas: int) -> None:
        for name, delta in deltas.items():
            level.quantities[name] += delta
        level.updated_at = self.clock.now()

    def available_anywhere(self, variant: Variant) -> int:
        return sum(
            level.quantities["available"]
            for (item_id, _), level in self.levels.items()
            if item_id == variant.inventory_item_id
        )

    # --- inventorySetQuantities --------------------------------------------------------------

    def set_quantities(
        self,
        *,
        name: str,
        reason: str,
        reference_document_uri: str | None,
        quantities: list[QuantityToSet],
        idempotency_key: str,
        fingerprint: str,
    ) -> tuple[InventoryAdjustmentGroup | None, list[SetQuantitiesError]]:
        """Applies every quantity or none: one failed check leaves the whole request unapplied.

        A retry under the same idempotency key answers with the first outcome and changes
        nothing again.
        """
        with self.lock:
            seen_before = self.idempotency.get(idempotency_key)
            if seen_before is not None:
                return self._replay(seen_before, fingerprint)
            group, errors = self._set_quantities(name, reason, reference_document_uri, quantities)
            self.idempotency[idempotency_key] = (fingerprint, group.id if group else None)
            return group, errors

    def _replay(
        self, seen_before: tuple[str, int | None], fingerprint: str
    ) -> tuple[InventoryAdjustmentGroup | None, list[SetQuantitiesError]]:
        first_fingerprint, group_id = seen_before
        if first_fingerprint != fingerprint:
            return None, [
                SetQuantitiesError(
                    "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                    [],
                    "The same idempotency key cannot be used with different operation parameters.",
                )
            ]
        if group_id is None:
            return None, [
                SetQuantitiesError(
                    "IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED",
                    [],
                    "A previous request with this idempotency key failed. "
                    "Retry with a new idempotency key.",
                )
            ]
        return self.adjustment_groups[group_id], []

    def _set_quantities(
        self,
        name: str,
        reason: str,
        reference_document_uri: str | None,
        quantities: list[QuantityToSet],
    ) -> tuple[InventoryAdjustmentGroup | None, list[SetQuantitiesError]]:
        errors: list[SetQuantitiesError] = []
        if name not in SETTABLE_QUANTITY_NAMES:
            errors.append(
                SetQuantitiesError(
                    "INVALID_NAME",
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                )
            )
        if reason not in INVENTORY_REASONS:
            errors.append(
                SetQuantitiesError(
                    "INVALID_REASON", ["input", "reason"], "The specified reason is invalid."
                )
            )
        seen: set[tuple[int | None, int | None]] = set()
        for index, wanted in enumerate(quantities):
            path = ["input", "quantities", str(index)]
            errors.extend(self._check_quantity(name, wanted, path, seen))
        if errors:
            return None, errors
        group = InventoryAdjustmentGroup(
            self.next_id("InventoryAdjustmentGroup"),
            self.clock.now(),
            reason,
            reference_document_uri,
            [],
        )
        for wanted in quantities:
            assert wanted.inventory_item_id is not None
            assert wanted.location_id is not None
            level = self.levels[(wanted.inventory_item_id, wanted.location_id)]
            delta = self._set_quantity(level, name, wanted.quantity)
            group.changes.append(
                InventoryChange(
                    name, delta, wanted.quantity, wanted.inventory_item_id, wanted.location_id
                )
            )
            other = "on_hand" if name == "available" else "available"
            group.changes.append(
                InventoryChange(
                    other,
                    delta,
                    level.quantities[other],
                    wanted.inventory_item_id,
                    wanted.location_id,
                )
            )
        self.adjustment_groups[group.id] = group
        return group, []

    def _check_quantity(
        self,
        name: str,
        wanted: QuantityToSet,
        path: list[str],
        seen: set[tuple[int | None, int | None]],
    ) -> list[SetQuantitiesError]:
        item_id, location_id = wanted.inventory_item_id, wanted.location_id
        if item_id is None or self.variant_by_inventory_item(item_id) is None:
            return [
                SetQuantitiesError(
                    "INVALID_INVENTORY_ITEM",
                    [*path, "inventoryItemId"],
                    "The specified inventory item could not be found.",
                )
            ]
        if location_id is None or location_id not in self.locations:
            return [
                SetQuantitiesError(
                    "INVALID_LOCATION",
                    [*path, "locationId"],
                    "The specified location could not be found.",
                )
            ]
        if (item_id, location_id) in seen:
            return [
                SetQuantitiesError(
                    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    [*path],
                    "The combination of inventoryItemId and locationId must be unique.",
                )
            ]
        seen.add((item_id, location_id))
        level = self.level(item_id, location_id)
        if level is None:
            return [
                SetQuantitiesError(
                    "ITEM_NOT_STOCKED_AT_LOCATION",
                    [*path, "locationId"],
                    "The specified inventory item is not stocked at the location.",
                )
            ]
        if wanted.quantity < 0 and name == "on_hand":
            return [
                SetQuantitiesError(
                    "INVALID_QUANTITY_NEGATIVE",
                    [*path, "quantity"],
                    "The quantity can't be negative.",
                )
            ]
        if wanted.quantity > 1_000_000_000:
            return [
                SetQuantitiesError(
                    "INVALID_QUANTITY_TOO_HIGH",
                    [*path, "quantity"],
                    "The total quantity can't be higher than 1,000,000,000.",
                )
            ]
        if wanted.change_from == "missing":
            # From 2026-04 on, leaving changeFromQuantity out is refused at run time even though
            # the schema marks it optional; null is the explicit opt-out.
            return [
                SetQuantitiesError(
                    None,
                    [*path, "changeFromQuantity"],
                    "changeFromQuantity is required. Pass the quantity you expect to change "
                    "from, or null to skip the check.",
                )
            ]
        if wanted.change_from is not None and wanted.change_from != level.quantities.get(name):
            return [
                SetQuantitiesError(
                    "CHANGE_FROM_QUANTITY_STALE",
                    [*path, "changeFromQuantity"],
                    "The changeFromQuantity value does not match persisted value.",
                )
            ]
        return []

    # --- orders ------------------------------------------------------------------------------

    def place_order(
        self,
        lines: list[OrderLineRequest],
        *,
        email: str,
        shipping_address: dict[str, str | None],
        financial_status: str = "PAID",
    ) -> Order:
        """Places an order, committing stock at the first location that has enough of each line."""
        with self.lock:
            if not lines:
                raise SandboxError("an order needs at least one line")
            if financial_status not in ("PAID", "PENDING", "AUTHORIZED"):
                raise SandboxError(f"unsupported financial status {financial_status!r}")
            picks: list[tuple[Variant, int, InventoryLevel]] = []
            shortfalls: list[str] = []
            for line in lines:
                variant = self.variant_by_sku(line.sku)
                if variant is None:
                    raise SandboxError(f"unknown SKU {line.sku!r}", 404)
                if line.quantity <= 0:
                    raise SandboxError(f"quantity of {line.sku!r} must be positive")
                level = self._location_with(variant, line.quantity)
                if level is None:
                    shortfalls.append(line.sku)
                else:
                    picks.append((variant, line.quantity, level))
            if shortfalls:
                raise SandboxError(f"not enough stock for {', '.join(shortfalls)}", 409)
            now = self.clock.now()
            order = Order(
                id=self.next_id("Order"),
                number=next(self._next_order_number),
                email=email,
                created_at=now,
                updated_at=now,
                currency=self.currency,
                financial_status=financial_status,
                shipping_address=shipping_address,
                line_items=[],
            )
            by_location: dict[int, list[FulfillmentOrderLine]] = {}
            for variant, quantity, level in picks:
                product = self.products[variant.product_id]
                item = LineItem(
                    self.next_id("LineItem"),
                    variant.id,
                    product.id,
                    variant.sku,
                    product.title
                    if variant.title == "Default Title"
                    else f"{product.title} - {variant.title}",
                    quantity,
                    variant.price,
                )
                order.line_items.append(item)
                self._move(level, available=-quantity, committed=quantity)
                by_location.setdefault(level.location_id, []).append(
                    FulfillmentOrderLine(
                        self.next_id("FulfillmentOrderLineItem"), item.id, quantity, quantity
                    )
                )
            for location_id, fo_lines in by_location.items():
                order.fulfillment_orders.append(
                    FulfillmentOrder(
                        self.next_id("FulfillmentOrder"),
                        order.id,
                        location_id,
                        "OPEN",
                        now,
                        now,
                        fo_lines,
                    )
                )
            self.orders[order.id] = order
            self._announce("orders/create", order_payload(self, order))
            if financial_status == "PAID":
                self._announce("orders/paid", order_payload(self, order))
            return order

    def _location_with(self, variant: Variant, quantity: int) -> InventoryLevel | None:
        for location_id in sorted(self.locations):
            level = self.level(variant.inventory_item_id, location_id)
            if level is not None and level.quantities["available"] >= quantity:
                return level
        return None

    def order(self, order_id: int) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise SandboxError(f"unknown order {order_id}", 404)
        return order

    def touch(self, order_id: int, note: str | None = None) -> Order:
        """An edit that changes nothing ordermesh cares about, but still bumps updated_at."""
        with self.lock:
            order = self.order(order_id)
            order.note = note
            order.updated_at = self.clock.now()
            self._announce("orders/updated", order_payload(self, order))
            return order

    def mark_paid(self, order_id: int) -> Order:
        with self.lock:
            order = self.order(order_id)
            if order.financial_status not in ("PENDING", "AUTHORIZED"):
                raise SandboxError(f"order {order.name} is {order.financial_status}, not unpaid")
            order.financial_status = "PAID"
            order.updated_at = self.clock.now()
            self._announce("orders/paid", order_payload(self, order))
            self._announce("orders/updated", order_payload(self, order))
            return order

    def cancel(self, order_id: int, reason: str = "CUSTOMER", restock: bool = True) -> Order:
        with self.lock:
            order = self.order(order_id)
            if order.cancelled_at is not None:
                raise SandboxError(f"order {order.name} is already cancelled")
            if order.fulfillments:
                raise SandboxError(f"order {order.name} has fulfilments and cannot be cancelled")
            if reason not in CANCEL_REASONS:
                raise SandboxError(f"unknown cancel reason {reason!r}")
            now = self.clock.now()
            for fo in order.fulfillment_orders:
                for line in fo.lines:
                    level = self._ensure_level(
                        self._item_of_line(order, line.line_item_id), fo.location_id
                    )
                    if restock:
                        self._move(
                            level,
                            available=line.remaining_quantity,
                            committed=-line.remaining_quantity,
                        )
                    else:
                        self._move(
                            level,
                            committed=-line.remaining_quantity,
                            on_hand=-line.remaining_quantity,
                        )
                    line.remaining_quantity = 0
                fo.status = "CLOSED"
                fo.updated_at = now
            order.cancelled_at = now
            order.cancel_reason = reason
            order.closed_at = now
            if order.financial_status == "PAID":
                self._refund_lines(
                    order,
                    [(li.id, li.quantity) for li in order.line_items],
                    restock_type="CANCEL",
                    note="Order cancelled",
                    restock=False,
                )
            elif order.financial_status in ("PENDING", "AUTHORIZED"):
                order.financial_status = "VOIDED"
            order.updated_at = now
            self._announce("orders/cancelled", order_payload(self, order))
            self._announce("orders/updated", order_payload(self, order))
            return order

    def _item_of_line(self, order: Order, line_item_id: int) -> int:
        item = next(li for li in order.line_items if li.id == line_item_id)
        return self.variants[item.variant_id].inventory_item_id

    def refund(
        self,
        order_id: int,
        lines: list[tuple[int, int]] | None = None,
        *,
        restock: bool = True,
        note: str | None = None,
    ) -> Refund:
        """Refunds (line item id, quantity) pairs, by default everything not yet refunded."""
        with self.lock:
            order = self.order(order_id)
            if order.financial_status not in ("PAID", "PARTIALLY_REFUNDED"):
                raise SandboxError(f"order {order.name} is {order.financial_status}; nothing paid")
            if lines is None:
                lines = [
                    (li.id, li.quantity - li.refunded_quantity)
                    for li in order.line_items
                    if li.quantity > li.refunded_quantity
                ]
            refund = self._refund_lines(
                order,
                lines,
                restock_type="RETURN" if restock else "NO_RESTOCK",
                note=note,
                restock=restock,
            )
            order.updated_at = self.clock.now()
            self._announce("refunds/create", refund_payload(order, refund))
            self._announce("orders/updated", order_payload(self, order))
            return refund

    def _refund_lines(
        self,
        order: Order,
        lines: list[tuple[int, int]],
        *,
        restock_type: str,
        note: str | None,
        restock: bool,
    ) -> Refund:
        items = {li.id: li for li in order.line_items}
        for line_item_id, quantity in lines:
            item = items.get(line_item_id)
            if item is None:
                raise SandboxError(f"line item {line_item_id} is not on order {order.name}")
            if quantity <= 0 or quantity > item.quantity - item.refunded_quantity:
                raise SandboxError(f"cannot refund {quantity} of line item {line_item_id}")
        refund = Refund(self.next_id("Refund"), order.id, self.clock.now(), note, [])
        for line_item_id, quantity in lines:
            item = items[line_item_id]
            item.refunded_quantity += quantity
            location_id = self._restock(order, item, quantity) if restock else None
            refund.lines.append(
                RefundLine(
                    self.next_id("RefundLineItem"),
                    line_item_id,
                    quantity,
                    restock_type,
                    item.price * quantity,
                    location_id,
                )
            )
        order.refunds.append(refund)
        refunded_all = all(li.refunded_quantity >= li.quantity for li in order.line_items)
        order.financial_status = "REFUNDED" if refunded_all else "PARTIALLY_REFUNDED"
        return refund

    def _restock(self, order: Order, item: LineItem, quantity: int) -> int:
        """Puts refunded units back: unshipped ones leave the fulfilment order first."""
        inventory_item_id = self.variants[item.variant_id].inventory_item_id
        left = quantity
        location_id = order.fulfillment_orders[0].location_id
        for fo in order.fulfillment_orders:
            for line in fo.lines:
                if line.line_item_id != item.id or left == 0 or line.remaining_quantity == 0:
                    continue
                take = min(left, line.remaining_quantity)
                line.remaining_quantity -= take
                line.total_quantity -= take
                left -= take
                location_id = fo.location_id
                level = self._ensure_level(inventory_item_id, fo.location_id)
                self._move(level, available=take, committed=-take)
            if fo.status in ("OPEN", "IN_PROGRESS") and all(
                line.remaining_quantity == 0 for line in fo.lines
            ):
                fo.status = "CLOSED"
                fo.updated_at = self.clock.now()
        if left:
            level = self._ensure_level(inventory_item_id, location_id)
            self._move(level, available=left, on_hand=left)
        return location_id

    # --- fulfilments -------------------------------------------------------------------------

    def fulfil(
        self,
        requests: list[tuple[int, list[tuple[int, int]] | None]],
        *,
        tracking: TrackingInfo | None,
        notify_customer: bool,
    ) -> tuple[Fulfillment | None, list[tuple[list[str], str]]]:
        """Fulfils (fulfillment order id, [(fulfillment order line id, quantity)] or None=all)."""
        with self.lock:
            errors: list[tuple[list[str], str]] = []
            plan: list[tuple[FulfillmentOrder, FulfillmentOrderLine, int]] = []
            orders: set[int] = set()
            locations: set[int] = set()
            for index, (fo_id, wanted) in enumerate(requests):
                path = ["fulfillment", "lineItemsByFulfillmentOrder", str(index)]
                fo = self._fulfillment_order(fo_id)
                if fo is None:
                    errors.append(
                        ([*path, "fulfillmentOrderId"], "Fulfillment order does not exist.")
                    )
                    continue
                if fo.status not in ("OPEN", "IN_PROGRESS"):
                    errors.append(
                        (
                            [*path, "fulfillmentOrderId"],
                            f"Fulfillment order {fo.id} has an unfulfillable status= "
                            f"{fo.status.lower()}.",
                        )
                    )
                    continue
                orders.add(fo.order_id)
                locations.add(fo.location_id)
                by_id = {line.id: line for line in fo.lines}
                if wanted is None:
                    plan.extend(
                        (fo, line, line.remaining_quantity)
                        for line in fo.lines
                        if line.remaining_quantity
                    )
                    continue
                for line_index, (line_id, quantity) in enumerate(wanted):
                    line = by_id.get(line_id)
                    line_path = [*path, "fulfillmentOrderLineItems", str(line_index)]
                    if line is None:
                        errors.append(
                            ([*line_path, "id"], "Fulfillment order line item does not exist.")
                        )
                    elif quantity <= 0 or quantity > line.remaining_quantity:
                        errors.append(
                            (
                                [*line_path, "quantity"],
                                "Invalid fulfillment order line item quantity requested.",
                            )
                        )
                    else:
                        plan.append((fo, line, quantity))
            if not errors and len(orders) > 1:
                errors.append(
                    (["fulfillment"], "All fulfillment orders must belong to the same order.")
                )
            if not errors and len(locations) > 1:
                errors.append(
                    (
                        ["fulfillment"],
                        "All fulfillment orders must be assigned to the same location.",
                    )
                )
            if not errors and not plan:
                errors.append((["fulfillment"], "There is nothing left to fulfil."))
            if errors:
                return None, errors
            order = self.orders[orders.pop()]
            now = self.clock.now()
            fulfillment = Fulfillment(
                self.next_id("Fulfillment"),
                order.id,
                locations.pop(),
                "SUCCESS",
                now,
                [tracking] if tracking is not None else [],
                [],
                notify_customer,
            )
            for fo, line, quantity in plan:
                line.remaining_quantity -= quantity
                level = self._ensure_level(
                    self._item_of_line(order, line.line_item_id), fo.location_id
                )
                self._move(level, committed=-quantity, on_hand=-quantity)
                fulfillment.lines.append((line.line_item_id, quantity))
                fo.status = (
                    "CLOSED" if all(x.remaining_quantity == 0 for x in fo.lines) else "IN_PROGRESS"
                )
                fo.updated_at = now
            order.fulfillments.append(fulfillment)
            order.updated_at = now
            status = order.display_fulfillment_status
            topic = "orders/fulfilled" if status == "FULFILLED" else "orders/partially_fulfilled"
            self._announce("fulfillments/create", fulfillment_payload(self, order, fulfillment))
            self._announce(topic, order_payload(self, order))
            self._announce("orders/updated", order_payload(self, order))
            return fulfillment, []

    def _fulfillment_order(self, fo_id: int) -> FulfillmentOrder | None:
        for order in self.orders.values():
            for fo in order.fulfillment_orders:
                if fo.id == fo_id:
                    return fo
        return None

    def _announce(self, topic: str, payload: dict[str, Any]) -> None:
        # An uninstalled app hears nothing more from the shop.
        if self.installed:
            self.on_event(topic, payload)

    def uninstall(self) -> None:
        with self.lock:
            self._announce("app/uninstalled", shop_payload(self))
            self.installed = False


# --- REST webhook payloads ------------------------------------------------------------------

_REST_FULFILLMENT_STATUS = {
    "UNFULFILLED": None,
    "PARTIALLY_FULFILLED": "partial",
    "FULFILLED": "fulfilled",
}


def _money(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


def order_payload(shop: Shop, order: Order) -> dict[str, Any]:
    """The order as Shopify's REST-shaped ``orders/*`` webhooks carry it."""
    subtotal = _money(order.subtotal)
    return {
        "id": order.id,
        "admin_graphql_api_id": gid("Order", order.id),
        "name": order.name,
        "order_number": order.number,
        "number": order.number - 1000,
        "email": order.email,
        "contact_email": order.email,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
        "processed_at": iso(order.created_at),
        "cancelled_at": iso(order.cancelled_at),
        "cancel_reason": order.cancel_reason.lower() if order.cancel_reason else None,
        "closed_at": iso(order.closed_at),
        "currency": order.currency,
        "presentment_currency": order.currency,
        "financial_status": order.financial_status.lower(),
        "fulfillment_status": _REST_FULFILLMENT_STATUS[order.display_fulfillment_status],
        "subtotal_price": subtotal,
        "total_price": subtotal,
        "total_tax": "0.00",
        "total_discounts": "0.00",
        "current_total_price": _money(order.subtotal - order.total_refunded),
        "note": order.note,
        "test": False,
        "shipping_address": dict(order.shipping_address),
        "line_items": [
            {
                "id": li.id,
                "admin_graphql_api_id": gid("LineItem", li.id),
                "variant_id": li.variant_id,
                "product_id": li.product_id,
                "sku": li.sku,
                "title": li.title,
                "name": li.title,
                "quantity": li.quantity,
                "current_quantity": li.quantity - li.refunded_quantity,
                "fulfillable_quantity": max(
                    0, li.quantity - li.refunded_quantity - order.fulfilled_quantity(li.id)
                )
                if order.cancelled_at is None
                else 0,
                "fulfillment_status": _line_fulfillment_status(order, li),
                "price": _money(li.price),
                "requires_shipping": True,
                "taxable": True,
            }
            for li in order.line_items
        ],
        "fulfillments": [fulfillment_payload(shop, order, f) for f in order.fulfillments],
        "refunds": [refund_payload(order, r) for r in order.refunds],
    }


def _line_fulfillment_status(order: Order, item: LineItem) -> str | None:
    fulfilled = order.fulfilled_quantity(item.id)
    if fulfilled == 0:
        return None
    return "fulfilled" if fulfilled >= item.quantity else "partial"


def fulfillment_payload(shop: Shop, order: Order, fulfillment: Fulfillment) -> dict[str, Any]:
    tracking = fulfillment.tracking[0] if fulfillment.tracking else TrackingInfo(None, None, None)
    items = {li.id: li for li in order.line_items}
    return {
        "id": fulfillment.id,
        "admin_graphql_api_id": gid("Fulfillment", fulfillment.id),
        "order_id": order.id,
        "location_id": fulfillment.location_id,
        "name": f"{order.name}.{order.fulfillments.index(fulfillment) + 1}"
        if fulfillment in order.fulfillments
        else f"{order.name}.{len(order.fulfillments) + 1}",
        "status": fulfillment.status.lower(),
        "created_at": iso(fulfillment.created_at),
        "updated_at": iso(fulfillment.created_at),
        "tracking_company": tracking.company,
        "tracking_number": tracking.number,
        "tracking_numbers": [t.number for t in fulfillment.tracking if t.number],
        "tracking_url": tracking.url,
        "tracking_urls": [t.url for t in fulfillment.tracking if t.url],
        "notify_customer": fulfillment.notify_customer,
        "line_items": [
            {
                "id": line_item_id,
                "admin_graphql_api_id": gid("LineItem", line_item_id),
                "sku": items[line_item_id].sku,
                "variant_id": items[line_item_id].variant_id,
                "quantity": quantity,
            }
            for line_item_id, quantity in fulfillment.lines
        ],
    }


def refund_payload(order: Order, refund: Refund) -> dict[str, Any]:
    items = {li.id: li for li in order.line_items}
    return {
        "id": refund.id,
        "admin_graphql_api_id": gid("Refund", refund.id),
        "order_id": order.id,
        "created_at": iso(refund.created_at),
        "processed_at": iso(refund.created_at),
        "note": refund.note,
        "restock": any(line.restock_type in ("RETURN", "CANCEL") for line in refund.lines),
        "refund_line_items": [
            {
                "id": line.id,
                "line_item_id": line.line_item_id,
                "quantity": line.quantity,
                "restock_type": line.restock_type.lower(),
                "location_id": line.location_id,
                "subtotal": _money(line.subtotal),
                "line_item": {
                    "id": line.line_item_id,
                    "sku": items[line.line_item_id].sku,
                    "variant_id": items[line.line_item_id].variant_id,
                },
            }
            for line in refund.lines
        ],
        "transactions": [
            {
                "kind": "refund",
                "status": "success",
                "amount": _money(refund.total),
                "currency": order.currency,
            }
        ],
    }


def shop_payload(shop: Shop) -> dict[str, Any]:
    return {
        "id": 1,
        "name": shop.domain.split(".", 1)[0],
        "domain": shop.domain,
        "myshopify_domain": shop.domain,
        "currency": shop.currency,
    }
