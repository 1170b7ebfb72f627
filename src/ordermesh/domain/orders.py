"""Orders: their lines, states, holds and the recorded history of every transition."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ordermesh.domain import events
from ordermesh.domain.catalogue import explode
from ordermesh.domain.errors import IllegalTransition, ValidationFailed
from ordermesh.domain.money import Money


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    """The channel has not released it yet (e.g. Amazon Pending: payment not confirmed)."""
    OPEN = "open"
    ALLOCATED = "allocated"
    BACKORDERED = "backordered"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


S = OrderStatus
TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.OPEN, S.CANCELLED}),
    S.OPEN: frozenset({S.ALLOCATED, S.BACKORDERED, S.CANCELLED}),
    S.BACKORDERED: frozenset({S.ALLOCATED, S.OPEN, S.CANCELLED}),
    S.ALLOCATED: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.BACKORDERED, S.OPEN, S.CANCELLED}),
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.COMPLETED}),
    S.DELIVERED: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}
ALLOCATABLE = frozenset({S.OPEN, S.BACKORDERED})
BEFORE_SHIPMENT = frozenset({S.PENDING, S.OPEN, S.ALLOCATED, S.BACKORDERED})


class FulfilledBy(enum.StrEnum):
    MERCHANT = "merchant"
    MARKETPLACE = "marketplace"


def why_not(current: OrderStatus, target: OrderStatus) -> str:
    """A sentence a seller can act on, explaining why a transition is refused."""
    if current == target:
        return f"it is already {current}"
    if current in (S.COMPLETED, S.CANCELLED):
        return f"{current} is final"
    if target is S.CANCELLED:
        return "an order can only be cancelled before it has shipped"
    allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing"
    return f"from {current} it may only go to {allowed}"


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    line3: str | None = None
    state: str | None = None
    phone: str | None = None
    company: str | None = None

    def __post_init__(self) -> None:
        for name in ("name", "line1", "city", "postal_code"):
            if not str(getattr(self, name) or "").strip():
                raise ValidationFailed(
                    f"the shipping address needs {name.replace('_', ' ')}",
                    field=f"shipping_address.{name}",
                )
        if not (len(self.country) == 2 and self.country.isalpha() and self.country.isupper()):
            raise ValidationFailed(
                f"country {self.country!r} must be an ISO 3166 alpha-2 code such as DE or US",
                field="shipping_address.country",
            )


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_no: int
    sku: str
    quantity: int
    unit_price: Money | None = None
    tax: Money | None = None
    discount: Money | None = None
    channel_line_id: str | None = None
    channel_sku: str | None = None

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValidationFailed(
                f"line {self.line_no}: quantity must be at least 1",
                field=f"lines[{self.line_no - 1}].quantity",
            )


@dataclass(frozen=True, slots=True)
class Allocation:
    """Units of one stocked SKU reserved at one location for one order line."""

    line_no: int
    sku: str
    location: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Hold:
    kind: str
    """fraud, address, unknown_sku, manual, …"""
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    action: str
    from_status: OrderStatus
    to_status: OrderStatus
    actor: str
    reason: str
    at: datetime


@dataclass(eq=False, slots=True)
class Order:
    id: str
    channel: str
    channel_account: str
    channel_order_id: str
    status: OrderStatus
    purchase_date: datetime
    lines: list[OrderLine]
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
    total: Money | None = None
    tags: list[str] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)
    buyer_cancel_requested: str | None = None
    """The buyer's reason when they asked the channel to cancel; a human decides."""
    channel_updated_at: datetime | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    new_history: list[HistoryEntry] = field(default_factory=list)
    events: list[events.Event] = field(default_factory=list)
    version: int = 0

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValidationFailed("an order needs at least one line", field="lines")
        numbers = [line.line_no for line in self.lines]
        if len(set(numbers)) != len(numbers):
            raise ValidationFailed("order line numbers must be unique", field="lines")

    # -- reading --------------------------------------------------------------------------
    @property
    def is_held(self) -> bool:
        return bool(self.holds)

    @property
    def can_allocate(self) -> bool:
        return self.status in ALLOCATABLE and not self.holds

    def demand(self, bundles: Mapping[str, Mapping[str, int]]) -> dict[tuple[int, str], int]:
        """Units still to reserve per (line, stocked SKU), bundles exploded to components."""
        wanted: dict[tuple[int, str], int] = {}
        for line in self.lines:
            for sku, quantity in explode(line.sku, line.quantity, bundles).items():
                wanted[(line.line_no, sku)] = wanted.get((line.line_no, sku), 0) + quantity
        for allocation in self.allocations:
            key = (allocation.line_no, allocation.sku)
            wanted[key] = wanted.get(key, 0) - allocation.quantity
        return {key: units for key, units in wanted.items() if units > 0}

    def line(self, line_no: int) -> OrderLine:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise KeyError(line_no)

    # -- changing -------------------------------------------------------------------------
    def _record(self, action: str, to: OrderStatus, actor: str, reason: str, at: datetime) -> None:
        entry = HistoryEntry(action, self.status, to, actor, reason, at)
        self.history.append(entry)
        self.new_history.append(entry)
        if to != self.status:
            self.events.append(events.OrderStatusChanged(self.id, str(self.status), str(to)))
        self.status = to

    def transition(
        self, to: OrderStatus, *, actor: str, reason: str, at: datetime, action: str = ""
    ) -> None:
        """Move to `to` if the lifecycle allows it; record who, when and why."""
        if to not in TRANSITIONS[self.status]:
            raise IllegalTransition(
                self.channel_order_id, self.status, to, why_not(self.status, to)
            )
        self._record(action or str(to), to, actor, reason, at)

    def follow(self, to: OrderStatus, *, actor: str, reason: str, at: datetime) -> None:
        """Follow a channel that reports a later stage we did not drive ourselves (an order
        shipped by hand before ordermesh saw it). Only forward, never out of a final state."""
        order = list(OrderStatus)
        if self.status in (S.COMPLETED, S.CANCELLED) or order.index(to) <= order.index(self.status):
            raise IllegalTransition(
                self.channel_order_id, self.status, to, why_not(self.status, to)
            )
        self._record("channel_update", to, actor, reason, at)

    def record_placed(self, *, actor: str, reason: str, at: datetime) -> None:
        self._record("placed", self.status, actor, reason, at)
        self.events.append(events.OrderPlaced(self.id, self.channel, self.channel_order_id))

    def release(self, *, actor: str, at: datetime) -> None:
        """The channel released a pending order for fulfilment."""
        self.transition(
            S.OPEN, actor=actor, reason="released by the channel", at=at, action="released"
        )

    def add_allocations(
        self,
        reserved: list[Allocation],
        shortfall: Mapping[tuple[int, str], int],
        *,
        actor: str,
        at: datetime,
    ) -> None:
        """Record reservations made for this order; backordered while anything is still short."""
        self.allocations.extend(reserved)
        target = S.BACKORDERED if shortfall else S.ALLOCATED
        if reserved:
            self.events.append(
                events.OrderAllocated(
                    self.id, tuple((a.sku, a.location, a.quantity) for a in reserved)
                )
            )
        if shortfall:
            self.events.append(
                events.OrderBackordered(
                    self.id, tuple((sku, n) for (_, sku), n in sorted(shortfall.items()))
                )
            )
        if target != self.status:
            missing = sum(shortfall.values())
            reason = f"{missing} unit(s) short" if shortfall else "all lines reserved"
            self.transition(target, actor=actor, reason=reason, at=at, action="allocate")

    def cancel(self, *, actor: str, reason: str, at: datetime) -> list[Allocation]:
        """Cancel before shipment; returns the reservations to release."""
        if self.status not in TRANSITIONS or S.CANCELLED not in TRANSITIONS[self.status]:
            raise IllegalTransition(
                self.channel_order_id, self.status, S.CANCELLED, why_not(self.status, S.CANCELLED)
            )
        to_release, self.allocations = self.allocations, []
        self.transition(
            S.CANCELLED, actor=actor, reason=reason or "cancelled", at=at, action="cancel"
        )
        self.events.append(events.OrderCancelled(self.id, reason))
        return to_release

    def deallocate(self, *, actor: str, reason: str, at: datetime) -> list[Allocation]:
        """Give back every reservation (e.g. to re-plan); the order is open again."""
        to_release, self.allocations = self.allocations, []
        if self.status in (S.ALLOCATED, S.BACKORDERED):
            self.transition(S.OPEN, actor=actor, reason=reason, at=at, action="deallocate")
        return to_release

    def ship_all(self, *, actor: str, reason: str, at: datetime) -> list[Allocation]:
        """Everything reserved leaves the building; returns what was shipped."""
        shipped, self.allocations = self.allocations, []
        self.transition(S.SHIPPED, actor=actor, reason=reason, at=at, action="ship")
        self.events.append(events.OrderShipped(self.id))
        return shipped

    def hold(self, kind: str, *, reason: str, actor: str, at: datetime) -> None:
        if self.status not in BEFORE_SHIPMENT:
            raise IllegalTransition(
                self.channel_order_id,
                self.status,
                self.status,
                f"a {self.status} order can no longer be held",
            )
        if any(h.kind == kind for h in self.holds):
            raise ValidationFailed(f"order is already on {kind} hold", field="kind")
        self.holds.append(Hold(kind, reason, actor, at))
        self._record("hold", self.status, actor, f"{kind}: {reason}", at)
        self.events.append(events.OrderHeld(self.id, kind, reason))

    def release_hold(
        self, *, actor: str, at: datetime, kind: str | None = None, reason: str = ""
    ) -> None:
        released = [h for h in self.holds if kind is None or h.kind == kind]
        if not released:
            what = f"a {kind} hold" if kind else "any hold"
            raise ValidationFailed(f"order is not on {what}", field="kind")
        self.holds = [h for h in self.holds if h not in released]
        kinds = ", ".join(h.kind for h in released)
        self._record("release_hold", self.status, actor, reason or f"released {kinds}", at)
        self.events.append(events.HoldReleased(self.id, kinds))

    def note_buyer_cancel_request(self, reason: str, *, at: datetime) -> None:
        if self.buyer_cancel_requested is None:
            self.buyer_cancel_requested = reason or "no reason given"
            self._record(
                "buyer_cancel_request", self.status, "buyer", self.buyer_cancel_requested, at
            )
            self.events.append(events.BuyerCancelRequested(self.id, self.buyer_cancel_requested))
