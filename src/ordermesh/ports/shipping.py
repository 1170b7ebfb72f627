"""What the core asks of a channel when an order has shipped: confirm it, with tracking.

A confirmation is an external side effect, so it leaves through the outbox: written in the
transaction that recorded the shipment, delivered after commit, retried until the channel
answers. The shipment's id travels with it, so a retry after a timeout that did reach the
channel is recognised (by the channel where it keeps an idempotency key, by the connector
reading back what the channel already has where it does not)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

CHANNEL_DESTINATION = "channel:"
"""Outbox destination prefix of what a channel account is told: `channel:<account id>`."""
CONFIRM_SHIPMENT = "shipment.confirm"
"""Outbox topic of a shipment confirmation; its idempotency key is the shipment id."""
NOTICE_PAYLOAD_VERSION = 1
"""Version of the JSON a shipment confirmation waits in, in the outbox."""


@dataclass(frozen=True, slots=True)
class ShippedLine:
    sku: str
    quantity: int
    channel_line_id: str | None
    """The channel's id of the order line (Amazon's orderItemId, Shopify's line item id)."""


@dataclass(frozen=True, slots=True)
class ShipmentNotice:
    """One package of one order, as the channel it came from must be told."""

    shipment_id: str
    """ordermesh's id of the shipment: stable across retries (Amazon's packageReferenceId
    is derived from it)."""
    order_id: str
    channel_account: str
    channel_order_id: str
    marketplace: str | None
    carrier: str
    """As the seller wrote it (UPS, DHL, Royal Mail…); the connector maps it to the
    channel's carrier code, or sends it as a free-text carrier name."""
    tracking_number: str
    shipped_at: datetime
    lines: tuple[ShippedLine, ...]
    service: str | None = None
    tracking_url: str | None = None
    notify_customer: bool = True


class ConfirmationOutcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    """The channel accepted the confirmation (or already had this very shipment)."""
    REJECTED = "rejected"
    """The channel refused it for good (Amazon's 400 with its message): a person must look."""


@dataclass(frozen=True, slots=True)
class ConfirmationResult:
    outcome: ConfirmationOutcome
    message: str = ""
    """The channel's own words: its error for a rejection, its answer for a confirmation."""
    reference: str | None = None
    """The channel's id for what it recorded (Shopify's fulfillment id), if it gives one."""


class ShipmentConfirmer(Protocol):
    """Implemented by every channel connector that can be told of a shipment."""

    def confirm_shipment(self, notice: ShipmentNotice) -> ConfirmationResult:
        """Tell the channel. Raises ChannelError for a passing failure (throttled, timeout,
        5xx), which the outbox retries with backoff; returns REJECTED when retrying cannot
        help."""
        ...
