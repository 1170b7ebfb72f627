"""Events: facts that happened, named in the past tense. Written to the outbox with the change."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class OrderPlaced(Event):
    order_id: str
    channel: str
    channel_order_id: str


@dataclass(frozen=True, slots=True)
class OrderStatusChanged(Event):
    order_id: str
    from_status: str
    to_status: str


@dataclass(frozen=True, slots=True)
class OrderAllocated(Event):
    order_id: str
    reservations: tuple[tuple[str, str, int], ...]
    """(sku, location, units) reserved by this allocation."""


@dataclass(frozen=True, slots=True)
class OrderBackordered(Event):
    order_id: str
    short: tuple[tuple[str, int], ...]
    """(sku, units still missing)."""


@dataclass(frozen=True, slots=True)
class OrderCancelled(Event):
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class OrderShipped(Event):
    order_id: str


@dataclass(frozen=True, slots=True)
class ShipmentRecorded(Event):
    """A package of an order left with tracking (OrderShipped follows once all of it has)."""

    order_id: str
    shipment_id: str
    channel: str
    channel_account: str
    channel_order_id: str
    carrier: str
    tracking_number: str
    shipped_at: str
    """ISO 8601, UTC."""
    lines: tuple[tuple[int, str, int], ...]
    """(line number, SKU, units) in the package."""
    complete: bool
    """True when this package completes the order."""
    confirmation: str
    """pending (the channel will be told) or not_required."""
    service: str | None = None
    tracking_url: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class ShipmentConfirmed(Event):
    order_id: str
    shipment_id: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class ShipmentRejected(Event):
    """The channel refused a shipment confirmation; its message says why."""

    order_id: str
    shipment_id: str
    message: str


@dataclass(frozen=True, slots=True)
class OrderHeld(Event):
    order_id: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class HoldReleased(Event):
    order_id: str
    kinds: str


@dataclass(frozen=True, slots=True)
class BuyerCancelRequested(Event):
    order_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class StockChanged(Event):
    """Levels moved in one transaction; channels' available-to-sell may follow. Consumers
    re-read the figures (coalescing many changes into one), so the event carries only keys."""

    keys: tuple[tuple[str, str], ...]
    """(sku, location) pairs whose on-hand or reserved changed."""
    kind: str


def name_of(event: Event) -> str:
    return type(event).__name__
