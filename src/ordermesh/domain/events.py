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
