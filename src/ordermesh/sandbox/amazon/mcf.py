"""Multi-Channel Fulfillment (Fulfillment Outbound 2020-07-01): fulfillment orders that Amazon
picks from the seller's FBA stock and ships, moving Received → Planning → Processing →
Complete on the sandbox clock."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from ordermesh.sandbox.amazon.clock import iso
from ordermesh.sandbox.amazon.marketplaces import MARKETPLACES
from ordermesh.sandbox.amazon.state import SandboxError

if TYPE_CHECKING:
    from ordermesh.sandbox.amazon.sandbox import Sandbox

SPEEDS = ("Standard", "Expedited", "Priority")
ALL_SPEEDS = frozenset({*SPEEDS, "ScheduledDelivery"})
STATUSES = frozenset(
    {
        "New",
        "Received",
        "Planning",
        "Processing",
        "Cancelled",
        "Complete",
        "CompletePartialled",
        "Unfulfillable",
        "Invalid",
    }
)
_CANCELLABLE = frozenset({"New", "Received", "Planning"})
_TRANSIT_DAYS = {"Standard": 5, "Expedited": 2, "Priority": 1, "ScheduledDelivery": 3}
_PROGRESSION = ("Received", "Planning", "Processing", "Complete")


@dataclass(slots=True)
class FulfillmentItem:
    sku: str
    item_id: str
    quantity: int
    unfulfillable: int = 0
    cancelled: int = 0


@dataclass(slots=True)
class FulfillmentOrder:
    seller_fulfillment_order_id: str
    marketplace_id: str
    request: dict[str, Any]
    fingerprint: str
    speed: str
    action: str
    policy: str
    received: datetime
    status: str
    status_updated: datetime
    items: list[FulfillmentItem]
    package_number: int | None = None
    shipped: datetime | None = None
    notes: list[str] = field(default_factory=list)


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class FulfillmentCenter:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._lock = threading.RLock()
        self.orders: dict[str, FulfillmentOrder] = {}
        self._packages: dict[int, str] = {}
        self._next_package = 1000

    # -- reads -------------------------------------------------------------------------------

    def get(self, order_id: str) -> FulfillmentOrder:
        order = self.orders.get(order_id)
        if order is None:
            raise SandboxError(404, "NotFound", f"Fulfillment order {order_id} was not found.")
        return order

    def order_for_package(self, package_number: int) -> FulfillmentOrder:
        order_id = self._packages.get(package_number)
        if order_id is None:
            raise SandboxError(404, "NotFound", f"Package {package_number} was not found.")
        return self.orders[order_id]

    def preview(
        self, marketplace_id: str, items: list[FulfillmentItem], speeds: list[str]
    ) -> list[dict[str, Any]]:
        state = self._sandbox.state
        now = self._sandbox.clock.now()
        marketplace = MARKETPLACES.get(marketplace_id)
        currency = marketplace.currency if marketplace else "USD"
        previews = []
        with state.lock:
            short = [
                item
                for item in items
                if item.sku not in state.listings
                or state.listings[item.sku].fba_fulfillable < item.quantity
            ]
        for speed in speeds:
            fulfillable = not short
            preview: dict[str, Any] = {
                "shippingSpeedCategory": speed,
                "isFulfillable": fulfillable,
                "isCODCapable": False,
                "marketplaceId": marketplace_id,
            }
            if fulfillable:
                units = sum(item.quantity for item in items)
                preview["estimatedShippingWeight"] = {"unit": "KG", "value": f"{0.5 * units:.2f}"}
                preview["estimatedFees"] = [
                    {
                        "name": "FBAPerUnitFulfillmentFee",
                        "amount": {"currencyCode": currency, "value": f"{3.5 * units:.2f}"},
                    }
                ]
                preview["fulfillmentPreviewShipments"] = [
                    {
                        "earliestShipDate": iso(now + timedelta(hours=4)),
                        "latestShipDate": iso(now + timedelta(days=1)),
                        "earliestArrivalDate": iso(now + timedelta(days=_TRANSIT_DAYS[speed])),
                        "latestArrivalDate": iso(now + timedelta(days=_TRANSIT_DAYS[speed] + 2)),
                        "fulfillmentPreviewItems": [
                            {
                                "sellerSku": item.sku,
                                "quantity": item.quantity,
                                "sellerFulfillmentOrderItemId": item.item_id,
                            }
                            for item in items
                        ],
                    }
                ]
            else:
                preview["unfulfillablePreviewItems"] = [
                    {
                        "sellerSku": item.sku,
                        "quantity": item.quantity,
                        "sellerFulfillmentOrderItemId": item.item_id,
                        "itemUnfulfillableReasons": ["InventoryUnavailable"],
                    }
                    for item in short
                ]
                preview["orderUnfulfillableReasons"] = ["InventoryUnavailable"]
            previews.append(preview)
        return previews

    # -- writes ------------------------------------------------------------------------------

    def create(self, body: dict[str, Any], items: list[FulfillmentItem]) -> FulfillmentOrder:
        order_id = str(body["sellerFulfillmentOrderId"])
        fingerprint = _fingerprint(body)
        state = self._sandbox.state
        now = self._sandbox.clock.now()
        with self._lock, state.lock:
            existing = self.orders.get(order_id)
            if existing is not None:
                # A retried create with the same body is the same order; a different body under
                # the same id is a client bug and is refused.
                if self._sandbox.config.mcf_duplicate_create == "already_exists":
                    raise SandboxError(
                        400,
                        "InvalidInput",
                        f"A fulfillment order with sellerFulfillmentOrderId {order_id} "
                        "already exists.",
                    )
                if existing.fingerprint == fingerprint:
                    return existing
                raise SandboxError(
                    400,
                    "InvalidInput",
                    f"A fulfillment order with sellerFulfillmentOrderId {order_id} already "
                    "exists with different content.",
                )
            policy = str(body.get("fulfillmentPolicy", "FillOrKill"))
            for item in items:
                listing = state.listings.get(item.sku)
                available = listing.fba_fulfillable if listing else 0
                if available < item.quantity:
                    if policy != "FillAllAvailable":
                        raise SandboxError(
                            400,
                            "InvalidInput",
                            f"Not enough fulfillable FBA inventory for SKU {item.sku} "
                            f"({available} < {item.quantity}).",
                        )
                    item.unfulfillable = item.quantity - available
            for item in items:
                listing = state.listings.get(item.sku)
                taken = item.quantity - item.unfulfillable
                if listing is not None and taken:
                    listing.fba_fulfillable -= taken
                    listing.fba_reserved_customer_orders += taken
                    listing.last_updated = now
            order = FulfillmentOrder(
                seller_fulfillment_order_id=order_id,
                marketplace_id=str(
                    body.get("marketplaceId") or self._sandbox.config.marketplaces[0]
                ),
                request=body,
                fingerprint=fingerprint,
                speed=str(body["shippingSpeedCategory"]),
                action=str(body.get("fulfillmentAction", "Ship")),
                policy=policy,
                received=now,
                status="Received",
                status_updated=now,
                items=items,
            )
            if all(item.unfulfillable == item.quantity for item in items):
                order.status = "Unfulfillable"
            self.orders[order_id] = order
            return order

    def cancel(self, order_id: str) -> None:
        with self._lock:
            order = self.get(order_id)
            if order.status == "Cancelled":
                return
            if order.status not in _CANCELLABLE:
                raise SandboxError(
                    400,
                    "InvalidInput",
                    f"Fulfillment order {order_id} in status {order.status} can no longer be "
                    "cancelled.",
                )
            self._cancel(order, self._sandbox.clock.now())

    def _cancel(self, order: FulfillmentOrder, now: datetime) -> None:
        state = self._sandbox.state
        with state.lock:
            for item in order.items:
                taken = item.quantity - item.unfulfillable - item.cancelled
                listing = state.listings.get(item.sku)
                if listing is not None and taken > 0:
                    listing.fba_fulfillable += taken
                    listing.fba_reserved_customer_orders = max(
                        0, listing.fba_reserved_customer_orders - taken
                    )
                    listing.last_updated = now
                item.cancelled = item.quantity - item.unfulfillable
        order.status = "Cancelled"
        order.status_updated = now

    def release(self, order_id: str) -> None:
        with self._lock:
            order = self.get(order_id)
            order.action = "Ship"
            order.status_updated = self._sandbox.clock.now()

    def set_status(self, order_id: str, status: str) -> None:
        """The sandbox-only submitFulfillmentOrderStatusUpdate."""
        now = self._sandbox.clock.now()
        with self._lock:
            order = self.get(order_id)
            if status == "Cancelled":
                self._cancel(order, now)
                return
            if status in ("Complete", "CompletePartialled") and order.package_number is None:
                self._ship(order, now)
            order.status = status
            order.status_updated = now

    def advance(self) -> None:
        now = self._sandbox.clock.now()
        step = timedelta(seconds=self._sandbox.config.fulfillment_step_seconds)
        with self._lock:
            for order in self.orders.values():
                if order.action != "Ship" or order.status not in _PROGRESSION[:-1]:
                    continue
                while order.status in _PROGRESSION[:-1] and now >= order.status_updated + step:
                    moment = order.status_updated + step
                    order.status = _PROGRESSION[_PROGRESSION.index(order.status) + 1]
                    order.status_updated = moment
                    if order.status == "Complete":
                        self._ship(order, moment)
                        if any(item.unfulfillable for item in order.items):
                            order.status = "CompletePartialled"

    def _ship(self, order: FulfillmentOrder, now: datetime) -> None:
        state = self._sandbox.state
        with state.lock:
            for item in order.items:
                taken = item.quantity - item.unfulfillable - item.cancelled
                listing = state.listings.get(item.sku)
                if listing is not None and taken > 0:
                    listing.fba_reserved_customer_orders = max(
                        0, listing.fba_reserved_customer_orders - taken
                    )
        self._next_package += 1
        order.package_number = self._next_package
        order.shipped = now
        self._packages[order.package_number] = order.seller_fulfillment_order_id

    # -- wire --------------------------------------------------------------------------------

    def tracking_number(self, order: FulfillmentOrder) -> str:
        return f"TBA{order.package_number:012d}"

    def estimated_arrival(self, order: FulfillmentOrder) -> datetime:
        start = order.shipped or order.received
        return start + timedelta(days=_TRANSIT_DAYS.get(order.speed, 5))

    def as_json(self, order: FulfillmentOrder) -> dict[str, Any]:
        request = order.request
        fulfillment_order: dict[str, Any] = {
            "sellerFulfillmentOrderId": order.seller_fulfillment_order_id,
            "marketplaceId": order.marketplace_id,
            "displayableOrderId": request["displayableOrderId"],
            "displayableOrderDate": request["displayableOrderDate"],
            "displayableOrderComment": request["displayableOrderComment"],
            "shippingSpeedCategory": order.speed,
            "destinationAddress": request["destinationAddress"],
            "fulfillmentAction": order.action,
            "fulfillmentPolicy": order.policy,
            "receivedDate": iso(order.received),
            "fulfillmentOrderStatus": order.status,
            "statusUpdatedDate": iso(order.status_updated),
        }
        if request.get("notificationEmails"):
            fulfillment_order["notificationEmails"] = request["notificationEmails"]
        items = [
            {
                "sellerSku": item.sku,
                "sellerFulfillmentOrderItemId": item.item_id,
                "quantity": item.quantity,
                "cancelledQuantity": item.cancelled,
                "unfulfillableQuantity": item.unfulfillable,
                "estimatedShipDate": iso(order.received + timedelta(days=1)),
                "estimatedArrivalDate": iso(self.estimated_arrival(order)),
            }
            for item in order.items
        ]
        result: dict[str, Any] = {
            "fulfillmentOrder": fulfillment_order,
            "fulfillmentOrderItems": items,
            "returnItems": [],
            "returnAuthorizations": [],
        }
        if order.package_number is not None and order.shipped is not None:
            result["fulfillmentShipments"] = [
                {
                    "amazonShipmentId": f"D{order.package_number:08d}",
                    "fulfillmentCenterId": "PHX7",
                    "fulfillmentShipmentStatus": "SHIPPED",
                    "shippingDate": iso(order.shipped),
                    "estimatedArrivalDate": iso(self.estimated_arrival(order)),
                    "fulfillmentShipmentItem": [
                        {
                            "sellerSku": item.sku,
                            "sellerFulfillmentOrderItemId": item.item_id,
                            "quantity": item.quantity - item.unfulfillable - item.cancelled,
                            "packageNumber": order.package_number,
                        }
                        for item in order.items
                        if item.quantity - item.unfulfillable - item.cancelled > 0
                    ],
                    "fulfillmentShipmentPackage": [
                        {
                            "packageNumber": order.package_number,
                            "carrierCode": "AMZN_US",
                            "trackingNumber": self.tracking_number(order),
                            "amazonFulfillmentTrackingNumber": self.tracking_number(order),
                            "estimatedArrivalDate": iso(self.estimated_arrival(order)),
                        }
                    ],
                }
            ]
        return result

    def tracking(self, order: FulfillmentOrder) -> dict[str, Any]:
        assert order.package_number is not None
        assert order.shipped is not None
        now = self._sandbox.clock.now()
        arrival = self.estimated_arrival(order)
        address = order.request["destinationAddress"]
        destination = {
            "city": address.get("city", ""),
            "state": address.get("stateOrRegion", ""),
            "country": address["countryCode"],
        }
        events = [
            {
                "eventDate": iso(order.shipped),
                "eventAddress": {"city": "Phoenix", "state": "AZ", "country": "US"},
                "eventCode": "EVENT_101",
                "eventDescription": "Carrier picked up the package.",
            }
        ]
        status = "IN_TRANSIT"
        if now >= arrival:
            status = "DELIVERED"
            events.append(
                {
                    "eventDate": iso(arrival),
                    "eventAddress": destination,
                    "eventCode": "EVENT_301",
                    "eventDescription": "Package delivered near the front door.",
                }
            )
        body: dict[str, Any] = {
            "packageNumber": order.package_number,
            "trackingNumber": self.tracking_number(order),
            "customerTrackingLink": f"https://www.swiship.com/track?id={self.tracking_number(order)}",
            "carrierCode": "AMZN_US",
            "shipDate": iso(order.shipped),
            "estimatedArrivalDate": iso(arrival),
            "shipToAddress": destination,
            "currentStatus": status,
            "trackingEvents": list(reversed(events)),
        }
        if status == "DELIVERED":
            body["signedForBy"] = address.get("name", "")
        return body
