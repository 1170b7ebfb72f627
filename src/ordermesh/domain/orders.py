"""Orders: their lines, states, holds and the recorded history of every transition."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ordermesh.domain import events
from ordermesh.domain.catalogue import explode
from ordermesh.domain.errors import IllegalTransition, ValidationFailed
from ordermesh.domain.money import Money
from ordermesh.domain.shipments import (
    Confirmation,
    ShipLine,
    Shipment,
    ShipmentLine,
    check_tracking,
)


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
SHIPPABLE = frozenset({S.ALLOCATED, S.PARTIALLY_SHIPPED})
MANUAL_CHANNEL = "manual"
"""The channel of orders typed in by hand: there is no channel to confirm shipments to."""


class FulfilledBy(enum.StrEnum):
    MERCHANT = "merchant"
    MARKETPLACE = "marketplace"


_CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of our clock a ship date may be (a scanner's clock runs a little fast)."""


def _by_line(item: tuple[str, int, int]) -> int:
    return item[1]


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
    shipments: list[Shipment] = field(default_factory=list)

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

    # -- shipping -------------------------------------------------------------------------
    @property
    def needs_shipment_confirmation(self) -> bool:
        """Whether the channel must be told of a shipment: not for an order typed in by hand,
        nor for one the marketplace fulfils (it shipped it and knows)."""
        return (
            self.fulfilled_by is FulfilledBy.MERCHANT
            and self.channel != MANUAL_CHANNEL
            and self.channel_account not in ("", MANUAL_CHANNEL)
        )

    def shipped_units(self) -> dict[int, int]:
        """Units shipped so far, per line number."""
        shipped = {line.line_no: 0 for line in self.lines}
        for shipment in self.shipments:
            for sl in shipment.lines:
                shipped[sl.line_no] = shipped.get(sl.line_no, 0) + sl.quantity
        return shipped

    def unshipped_units(self) -> dict[int, int]:
        shipped = self.shipped_units()
        return {line.line_no: line.quantity - shipped[line.line_no] for line in self.lines}

    def shipment(self, shipment_id: str) -> Shipment:
        for shipment in self.shipments:
            if shipment.id == shipment_id:
                return shipment
        raise KeyError(shipment_id)

    def ship(
        self,
        shipment_id: str,
        wanted: Sequence[ShipLine] | None,
        *,
        carrier: str,
        tracking_number: str,
        shipped_at: datetime,
        actor: str,
        at: datetime,
        service: str | None = None,
        tracking_url: str | None = None,
        location: str | None = None,
    ) -> tuple[Shipment, list[Allocation], list[Allocation]]:
        """Record one package leaving with tracking: the lines in `wanted`, or every unit not
        yet shipped (at `location`, if named) when None. A package leaves from one place, so
        its units come from this order's reservations at one location.

        Returns the shipment, the reservations that left with it (stock to book out as
        shipped) and, once the whole order has shipped, any reservation left over (to give
        back)."""
        self._check_shippable()
        carrier, tracking_number, tracking_url, service = check_tracking(
            carrier, tracking_number, tracking_url, service
        )
        if shipped_at.tzinfo is None:
            raise ValidationFailed("the ship date needs a time zone", field="shipped_at")
        if shipped_at > at + _CLOCK_SKEW:
            raise ValidationFailed("a shipment cannot have left in the future", field="shipped_at")
        unshipped = self.unshipped_units()
        if wanted is None:
            to_ship = self._everything_left(unshipped, location)
        else:
            to_ship = self._resolve(wanted, unshipped)
        taken, kept, location = self._take(to_ship, unshipped, location)
        shipment = Shipment(
            id=shipment_id,
            order_id=self.id,
            lines=tuple(
                ShipmentLine(n, self.line(n).sku, q) for _, n, q in sorted(to_ship, key=_by_line)
            ),
            carrier=carrier,
            tracking_number=tracking_number,
            shipped_at=shipped_at,
            location=location,
            actor=actor,
            created_at=at,
            service=service,
            tracking_url=tracking_url,
            confirmation=(
                Confirmation.PENDING
                if self.needs_shipment_confirmation
                else Confirmation.NOT_REQUIRED
            ),
        )
        self.shipments.append(shipment)
        complete = not any(self.unshipped_units().values())
        leftover: list[Allocation] = []
        if complete:
            leftover, kept = kept, []
        self.allocations = kept
        target = S.SHIPPED if complete else S.PARTIALLY_SHIPPED
        reason = f"{shipment.units} unit(s) with {carrier} {tracking_number}"
        if location:
            reason += f" from {location}"
        if target != self.status:
            self.transition(target, actor=actor, reason=reason, at=at, action="ship")
        else:
            self._record("ship", self.status, actor, reason, at)
        self.events.append(
            events.ShipmentRecorded(
                order_id=self.id,
                shipment_id=shipment.id,
                channel=self.channel,
                channel_account=self.channel_account,
                channel_order_id=self.channel_order_id,
                carrier=carrier,
                tracking_number=tracking_number,
                shipped_at=shipped_at.isoformat(),
                lines=tuple((sl.line_no, sl.sku, sl.quantity) for sl in shipment.lines),
                complete=complete,
                confirmation=str(shipment.confirmation),
                service=service,
                tracking_url=tracking_url,
                location=location,
            )
        )
        if complete:
            self.events.append(events.OrderShipped(self.id))
        return shipment, taken, leftover

    def record_confirmation(
        self,
        shipment_id: str,
        *,
        confirmed: bool,
        message: str,
        reference: str | None,
        at: datetime,
    ) -> bool:
        """The channel's answer to a shipment confirmation, kept on the shipment and in the
        history. Returns False when it changes nothing (an answer heard before; a rejection
        arriving after the channel had confirmed, such as a resend it already had)."""
        try:
            shipment = self.shipment(shipment_id)
        except KeyError:
            raise ValidationFailed(
                f"order {self.channel_order_id} has no shipment {shipment_id}", field="shipment_id"
            ) from None
        target = Confirmation.CONFIRMED if confirmed else Confirmation.REJECTED
        if shipment.confirmation is Confirmation.CONFIRMED or (
            shipment.confirmation is target and shipment.channel_message == (message or None)
        ):
            return False
        answered = replace(
            shipment,
            confirmation=target,
            channel_message=message or None,
            channel_reference=reference or shipment.channel_reference,
            answered_at=at,
        )
        self.shipments = [answered if s.id == shipment_id else s for s in self.shipments]
        what = f"{shipment.carrier} {shipment.tracking_number}"
        if confirmed:
            reason = f"{self.channel} confirmed the shipment {what}"
            if reference:
                reason += f" (reference {reference})"
            self._record("shipment_confirmed", self.status, self.channel, reason, at)
            self.events.append(events.ShipmentConfirmed(self.id, shipment_id, reference))
        else:
            reason = f"{self.channel} refused the shipment {what}: {message or 'no reason given'}"
            self._record("shipment_rejected", self.status, self.channel, reason, at)
            self.events.append(events.ShipmentRejected(self.id, shipment_id, message))
        return True

    def _check_shippable(self) -> None:
        if self.holds:
            kinds = ", ".join(h.kind for h in self.holds)
            raise ValidationFailed(
                f"order {self.channel_order_id} is on hold ({kinds}); release it before shipping",
                field="holds",
            )
        if self.status in SHIPPABLE:
            return
        if self.status in (S.SHIPPED, S.DELIVERED, S.COMPLETED):
            why = "everything on it has shipped already"
        elif self.status is S.CANCELLED:
            why = "it was cancelled"
        elif self.status is S.BACKORDERED:
            why = "part of its stock is still missing; it ships once all of it is reserved"
        else:
            why = "only an order whose stock is reserved (allocated) can ship; allocate it first"
        raise IllegalTransition(self.channel_order_id, self.status, S.SHIPPED, why)

    def _resolve(
        self, wanted: Sequence[ShipLine], unshipped: Mapping[int, int]
    ) -> list[tuple[str, int, int]]:
        """(where in the request, line number, units) for each line asked for."""
        if not wanted:
            raise ValidationFailed(
                "say which lines to ship, or leave lines out to ship everything", field="lines"
            )
        named: dict[int, str] = {}
        resolved = []
        for i, w in enumerate(wanted):
            where = f"lines[{i}]"
            if isinstance(w.quantity, bool) or not isinstance(w.quantity, int) or w.quantity < 1:
                raise ValidationFailed(
                    f"{where}: quantity must be a whole number of at least 1",
                    field=f"{where}.quantity",
                )
            n = self._line_asked(w, where, unshipped)
            if n in named:
                raise ValidationFailed(
                    f"line {n} is named twice ({named[n]} and {where})", field=where
                )
            named[n] = where
            if w.quantity > unshipped[n]:
                line = self.line(n)
                raise ValidationFailed(
                    f"line {n} ({line.sku}): {w.quantity} to ship but only {unshipped[n]} "
                    f"left (ordered {line.quantity}, shipped {line.quantity - unshipped[n]})",
                    field=f"{where}.quantity",
                )
            resolved.append((where, n, w.quantity))
        return resolved

    def _line_asked(self, w: ShipLine, where: str, unshipped: Mapping[int, int]) -> int:
        if w.line_no is not None:
            try:
                line = self.line(w.line_no)
            except KeyError:
                raise ValidationFailed(
                    f"order {self.channel_order_id} has no line {w.line_no}",
                    field=f"{where}.line_no",
                ) from None
            if w.sku is not None and w.sku not in (line.sku, line.channel_sku):
                raise ValidationFailed(
                    f"line {line.line_no} is {line.sku}, not {w.sku}", field=f"{where}.sku"
                )
            return line.line_no
        if w.sku:
            matches = [ln for ln in self.lines if w.sku in (ln.sku, ln.channel_sku)]
            if not matches:
                raise ValidationFailed(
                    f"order {self.channel_order_id} has no line with SKU {w.sku}",
                    field=f"{where}.sku",
                )
            open_lines = [ln for ln in matches if unshipped[ln.line_no] > 0] or matches
            if len(open_lines) > 1:
                numbers = ", ".join(str(ln.line_no) for ln in open_lines)
                raise ValidationFailed(
                    f"SKU {w.sku} is on lines {numbers}; name the line by its number",
                    field=f"{where}.sku",
                )
            return open_lines[0].line_no
        raise ValidationFailed(f"{where}: name the line by its number or its SKU", field=where)

    def _per_unit(self, line_no: int, unshipped: int, where: str) -> dict[str, int]:
        """Reserved units of each stocked SKU per unit of the line (a bundle reserves its
        components), from what is still reserved for the units not yet shipped."""
        totals: dict[str, int] = {}
        for a in self.allocations:
            if a.line_no == line_no:
                totals[a.sku] = totals.get(a.sku, 0) + a.quantity
        for sku, total in totals.items():
            if unshipped <= 0 or total % unshipped:
                raise ValidationFailed(
                    f"line {line_no}: {total} of {sku} reserved do not match the {unshipped} "
                    "unit(s) left to ship; allocate the order again",
                    field=f"{where}.quantity",
                )
        return {sku: total // unshipped for sku, total in totals.items()}

    def _everything_left(
        self, unshipped: Mapping[int, int], location: str | None
    ) -> list[tuple[str, int, int]]:
        left = [(f"lines[{i}]", n, q) for i, (n, q) in enumerate(unshipped.items()) if q > 0]
        if location is None:
            return left
        at_location = []
        for where, n, q in left:
            per_unit = self._per_unit(n, q, where)
            if not per_unit:
                at_location.append((where, n, q))
                continue
            here = dict.fromkeys(per_unit, 0)
            for a in self.allocations:
                if a.line_no == n and a.location == location:
                    here[a.sku] += a.quantity
            units = min(here[sku] // per for sku, per in per_unit.items())
            if units:
                at_location.append((where, n, units))
        if not at_location:
            raise ValidationFailed(
                f"nothing of order {self.channel_order_id} waits to ship from {location}",
                field="location",
            )
        return at_location

    def _take(
        self,
        to_ship: Sequence[tuple[str, int, int]],
        unshipped: Mapping[int, int],
        location: str | None,
    ) -> tuple[list[Allocation], list[Allocation], str | None]:
        """Split the reservations into those leaving with the package and those staying."""
        need: dict[tuple[int, str], int] = {}
        where_of: dict[int, str] = {}
        for where, n, q in to_ship:
            where_of[n] = where
            for sku, per in self._per_unit(n, unshipped[n], where).items():
                need[(n, sku)] = per * q
        places = sorted({a.location for a in self.allocations if (a.line_no, a.sku) in need})
        if location is None:
            if len(places) > 1:
                raise ValidationFailed(
                    f"what you ship is reserved at {', '.join(places)}; a package leaves from "
                    "one place, so ship from each location on its own, naming it",
                    field="location",
                )
            location = places[0] if places else None
        elif need and location not in places:
            raise ValidationFailed(
                f"nothing you ship is reserved at {location} (it is at {', '.join(places)})",
                field="location",
            )
        still = dict(need)
        taken: list[Allocation] = []
        kept: list[Allocation] = []
        for a in self.allocations:
            want = still.get((a.line_no, a.sku), 0)
            if want and a.location == location:
                units = min(want, a.quantity)
                taken.append(replace(a, quantity=units))
                still[(a.line_no, a.sku)] = want - units
                if a.quantity > units:
                    kept.append(replace(a, quantity=a.quantity - units))
            else:
                kept.append(a)
        for (n, sku), missing in sorted(still.items()):
            if missing:
                raise ValidationFailed(
                    f"line {n}: {need[(n, sku)]} of {sku} must leave but only "
                    f"{need[(n, sku)] - missing} are reserved at {location}; ship the rest "
                    "from where it is reserved",
                    field=f"{where_of[n]}.quantity",
                )
        return taken, kept, location

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

    def complete_lines(self, given: Sequence[OrderLine]) -> list[int]:
        """Fill in what the channel told us only later about lines we already hold: the price,
        tax, discount and the channel's line id of an order first known from a summary (an
        Amazon notification carries SKUs and quantities, no money). What is known stays as it
        is, and quantities and SKUs are never changed here. A given line matches ours by the
        channel's line id, else by the channel SKU and quantity of a line that has no id yet.
        Returns the numbers of the lines that gained something."""
        completed: list[int] = []
        taken: set[int] = set()
        for new in given:
            at = _matching_line(self.lines, new, taken)
            if at is None:
                continue
            taken.add(at)
            old = self.lines[at]
            filled = replace(
                old,
                unit_price=old.unit_price if old.unit_price is not None else new.unit_price,
                tax=old.tax if old.tax is not None else new.tax,
                discount=old.discount if old.discount is not None else new.discount,
                channel_line_id=old.channel_line_id or new.channel_line_id,
            )
            if filled != old:
                self.lines[at] = filled
                completed.append(filled.line_no)
        return completed


def _matching_line(lines: Sequence[OrderLine], new: OrderLine, taken: set[int]) -> int | None:
    if new.channel_line_id is not None:
        for i, line in enumerate(lines):
            if i not in taken and line.channel_line_id == new.channel_line_id:
                return i
    for i, line in enumerate(lines):
        if (
            i not in taken
            and line.channel_line_id is None
            and line.channel_sku == new.channel_sku
            and line.quantity == new.quantity
        ):
            return i
    return None
