"""Stock: locations, levels per (SKU, location), and the ledger of every movement."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import time

from ordermesh.domain.errors import StockInvariantBroken, ValidationFailed


class LocationKind(enum.StrEnum):
    WAREHOUSE = "warehouse"
    """The seller's own warehouse (FBM / Seller Fulfilled Prime)."""
    MARKETPLACE = "marketplace"
    """A marketplace's fulfilment network, such as Amazon FBA."""
    THREE_PL = "3pl"


_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_\-]{0,31}$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(slots=True)
class Location:
    code: str
    name: str
    kind: LocationKind
    address: dict[str, str] = field(default_factory=dict)
    working_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    cutoff: time = time(14, 0)
    timezone: str = "UTC"
    """The local time zone of the cut-off; ship-by is computed in it."""

    def __post_init__(self) -> None:
        if not _CODE.match(self.code):
            raise ValidationFailed(
                f"location code {self.code!r} must be 1–32 capitals, digits, _ or -", field="code"
            )
        if not self.name.strip():
            raise ValidationFailed("a location needs a name", field="name")
        bad = [d for d in self.working_days if d not in WEEKDAYS]
        if bad:
            raise ValidationFailed(
                f"working days {bad} are not among {', '.join(WEEKDAYS)}", field="working_days"
            )


class MovementKind(enum.StrEnum):
    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    COUNT = "count"
    RESERVATION = "reservation"
    RELEASE = "release"
    SHIPMENT = "shipment"
    RETURN = "return"


@dataclass(frozen=True, slots=True)
class Movement:
    """One ledger row. The ledger of a (SKU, location) sums to its level, always."""

    sku: str
    location: str
    kind: MovementKind
    on_hand_delta: int
    reserved_delta: int
    reason: str = ""
    reference: str = ""


@dataclass(slots=True)
class StockLevel:
    """On-hand and reserved units of one SKU at one location.

    Methods check the invariant 0 ≤ reserved ≤ on_hand and return the movement to record."""

    sku: str
    location: str
    on_hand: int = 0
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def _apply(self, movement: Movement) -> Movement:
        on_hand = self.on_hand + movement.on_hand_delta
        reserved = self.reserved + movement.reserved_delta
        if on_hand < 0:
            raise StockInvariantBroken(
                self.sku, self.location, f"on hand would fall to {on_hand} (it is {self.on_hand})"
            )
        if reserved < 0:
            raise StockInvariantBroken(
                self.sku,
                self.location,
                f"reserved would fall to {reserved} (it is {self.reserved})",
            )
        if reserved > on_hand:
            raise StockInvariantBroken(
                self.sku,
                self.location,
                f"{reserved} reserved would exceed {on_hand} on hand",
            )
        self.on_hand, self.reserved = on_hand, reserved
        return movement

    def _movement(
        self, kind: MovementKind, on_hand: int, reserved: int, reason: str, reference: str
    ) -> Movement:
        return Movement(self.sku, self.location, kind, on_hand, reserved, reason, reference)

    def receive(self, quantity: int, *, reference: str = "", reason: str = "") -> Movement:
        _positive(quantity)
        return self._apply(
            self._movement(MovementKind.RECEIPT, quantity, 0, reason or "received", reference)
        )

    def adjust(self, delta: int, *, reason: str, reference: str = "") -> Movement:
        if not reason or not reason.strip():
            raise ValidationFailed("an adjustment needs a reason", field="reason")
        if delta == 0:
            raise ValidationFailed("an adjustment of 0 changes nothing", field="quantity")
        return self._apply(self._movement(MovementKind.ADJUSTMENT, delta, 0, reason, reference))

    def count(self, counted: int, *, reference: str = "", reason: str = "") -> Movement | None:
        """Book a cycle count: the variance between counted and system becomes a movement.

        Returns None when the count agrees with the system (nothing to book)."""
        if counted < 0:
            raise ValidationFailed("a count cannot be negative", field="counted")
        variance = counted - self.on_hand
        if variance == 0:
            return None
        note = reason or f"cycle count: counted {counted}, system {self.on_hand}"
        return self._apply(self._movement(MovementKind.COUNT, variance, 0, note, reference))

    def transfer_out(self, quantity: int, *, to: str, reference: str = "") -> Movement:
        _positive(quantity)
        return self._apply(
            self._movement(MovementKind.TRANSFER_OUT, -quantity, 0, f"transfer to {to}", reference)
        )

    def transfer_in(self, quantity: int, *, source: str, reference: str = "") -> Movement:
        _positive(quantity)
        return self._apply(
            self._movement(
                MovementKind.TRANSFER_IN, quantity, 0, f"transfer from {source}", reference
            )
        )

    def reserve(self, quantity: int, *, reference: str) -> Movement:
        _positive(quantity)
        return self._apply(
            self._movement(MovementKind.RESERVATION, 0, quantity, "reserved for order", reference)
        )

    def release(self, quantity: int, *, reference: str, reason: str = "released") -> Movement:
        _positive(quantity)
        return self._apply(self._movement(MovementKind.RELEASE, 0, -quantity, reason, reference))

    def ship(self, quantity: int, *, reference: str) -> Movement:
        """Shipping reserved units: they leave on-hand and reserved together."""
        _positive(quantity)
        return self._apply(
            self._movement(MovementKind.SHIPMENT, -quantity, -quantity, "shipped", reference)
        )

    def restock(self, quantity: int, *, reference: str, reason: str = "returned") -> Movement:
        _positive(quantity)
        return self._apply(self._movement(MovementKind.RETURN, quantity, 0, reason, reference))


def _positive(quantity: int) -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise ValidationFailed(
            f"quantity must be a whole number ≥ 1, got {quantity!r}", field="quantity"
        )


def ledger_totals(movements: list[Movement]) -> tuple[int, int]:
    """What the ledger says on-hand and reserved are."""
    return (
        sum(m.on_hand_delta for m in movements),
        sum(m.reserved_delta for m in movements),
    )
