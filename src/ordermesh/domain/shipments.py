"""Shipments: packages that left with tracking, and what the channel said when told of them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from ordermesh.domain.errors import ValidationFailed


class Confirmation(enum.StrEnum):
    PENDING = "pending"
    """Waiting to be confirmed to the channel (the message is in the outbox)."""
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    """The channel refused it; its message says why and a person must look."""
    NOT_REQUIRED = "not_required"
    """Nobody to tell: a manual order, or one the marketplace fulfils itself."""


@dataclass(frozen=True, slots=True)
class ShipLine:
    """A line someone asks to ship: named by its number or by its SKU."""

    quantity: int
    line_no: int | None = None
    sku: str | None = None


@dataclass(frozen=True, slots=True)
class ShipmentLine:
    line_no: int
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Shipment:
    """One package of one order. Its id is the idempotency key of the channel confirmation."""

    id: str
    order_id: str
    lines: tuple[ShipmentLine, ...]
    carrier: str
    tracking_number: str
    shipped_at: datetime
    location: str | None
    """Where it left from; None when nothing reserved travelled with it."""
    actor: str
    created_at: datetime
    service: str | None = None
    tracking_url: str | None = None
    confirmation: Confirmation = Confirmation.PENDING
    channel_message: str | None = None
    channel_reference: str | None = None
    answered_at: datetime | None = None

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


def check_tracking(
    carrier: str, tracking_number: str, tracking_url: str | None, service: str | None
) -> tuple[str, str, str | None, str | None]:
    """Trimmed carrier, tracking number, URL and service, or a refusal naming the field."""
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not carrier:
        raise ValidationFailed("a shipment needs its carrier (UPS, DHL, …)", field="carrier")
    if len(carrier) > 100:
        raise ValidationFailed("the carrier is at most 100 characters", field="carrier")
    if not tracking_number:
        raise ValidationFailed("a shipment needs its tracking number", field="tracking_number")
    if len(tracking_number) > 100 or any(ch.isspace() for ch in tracking_number):
        raise ValidationFailed(
            "a tracking number is at most 100 characters, without spaces", field="tracking_number"
        )
    url = (tracking_url or "").strip() or None
    if url is not None and (not url.startswith(("https://", "http://")) or len(url) > 2000):
        raise ValidationFailed(
            "the tracking URL must be an http(s) address of at most 2000 characters",
            field="tracking_url",
        )
    svc = (service or "").strip() or None
    if svc is not None and len(svc) > 100:
        raise ValidationFailed("the service is at most 100 characters", field="service")
    return carrier, tracking_number, url, svc
