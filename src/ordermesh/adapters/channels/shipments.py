"""Delivering shipment confirmations from the outbox to the channel each order came from.

This is the one place where an outbox payload becomes a ShipmentNotice. A channel that fails
for now (throttled, timeout, 5xx) raises ChannelError and the dispatcher retries with backoff;
a channel that refuses gets its message kept on the shipment and the order's history, and the
outbox message fails for good; an account waiting to be authorised again is retried later
without using up the message's attempts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from ordermesh.adapters.db.outbox import Message, NotYet, PermanentFailure
from ordermesh.domain.commands import Command, RecordShipmentConfirmation
from ordermesh.domain.errors import NotFound
from ordermesh.ports.channels import (
    AccountStatus,
    ChannelAccount,
    NeedsReauthorisation,
)
from ordermesh.ports.clock import Clock
from ordermesh.ports.shipping import (
    CHANNEL_DESTINATION,
    CONFIRM_SHIPMENT,
    NOTICE_PAYLOAD_VERSION,
    ConfirmationOutcome,
    ConfirmationResult,
    ShipmentNotice,
    ShippedLine,
)

log = logging.getLogger(__name__)


class _Accounts(Protocol):
    def get(self, account_id: str) -> ChannelAccount: ...
    def mark_needs_reauthorisation(self, account_id: str, *, reason: str, at: datetime) -> None: ...


def notice_from_payload(payload: Mapping[str, Any]) -> ShipmentNotice:
    """The ShipmentNotice an outbox payload describes (written by the ShipOrder handler)."""
    if payload.get("version") != NOTICE_PAYLOAD_VERSION:
        raise ValueError(
            f"payload version {payload.get('version')!r} is not {NOTICE_PAYLOAD_VERSION}"
        )
    return ShipmentNotice(
        shipment_id=str(payload["shipment_id"]),
        order_id=str(payload["order_id"]),
        channel_account=str(payload["channel_account"]),
        channel_order_id=str(payload["channel_order_id"]),
        marketplace=payload.get("marketplace"),
        carrier=str(payload["carrier"]),
        tracking_number=str(payload["tracking_number"]),
        shipped_at=datetime.fromisoformat(payload["shipped_at"]),
        lines=tuple(
            ShippedLine(
                sku=str(line["sku"]),
                quantity=int(line["quantity"]),
                channel_line_id=line.get("channel_line_id"),
            )
            for line in payload["lines"]
        ),
        service=payload.get("service"),
        tracking_url=payload.get("tracking_url"),
        notify_customer=bool(payload.get("notify_customer", True)),
    )


class ShipmentConfirmationDeliverer:
    """The outbox's deliverer for `channel:<account id>` destinations."""

    prefix = CHANNEL_DESTINATION

    def __init__(
        self,
        accounts: _Accounts,
        connectors: Callable[[ChannelAccount], Any],
        handle: Callable[[Command], Any],
        clock: Clock,
    ) -> None:
        self.accounts, self.connectors, self.handle, self.clock = (
            accounts,
            connectors,
            handle,
            clock,
        )

    def deliver(self, message: Message) -> None:
        if message.topic != CONFIRM_SHIPMENT:
            raise PermanentFailure(f"ordermesh sends no {message.topic!r} to a channel")
        try:
            notice = notice_from_payload(message.payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentFailure(f"the shipment confirmation is unreadable: {exc}") from exc
        account_id = message.destination.removeprefix(CHANNEL_DESTINATION)
        try:
            account = self.accounts.get(account_id)
        except NotFound as exc:
            raise PermanentFailure(f"channel account {account_id} no longer exists") from exc
        if account.status != AccountStatus.ACTIVE:
            raise NotYet(
                f"channel account {account.name} is {account.status}: the confirmation waits "
                "until it is authorised (or resumed) again"
            )
        try:
            connector = self.connectors(account)
            confirm = getattr(connector, "confirm_shipment", None)
            if confirm is None:
                raise PermanentFailure(f"the {account.channel} connector cannot confirm shipments")
            result: ConfirmationResult = confirm(notice)
        except NeedsReauthorisation as lost:
            self.accounts.mark_needs_reauthorisation(
                account.id, reason=str(lost), at=self.clock.now()
            )
            raise NotYet(
                f"channel account {account.name} needs authorising again: {lost}"
            ) from lost
        confirmed = result.outcome is ConfirmationOutcome.CONFIRMED
        self.handle(
            RecordShipmentConfirmation(
                notice.order_id,
                notice.shipment_id,
                confirmed=confirmed,
                message=result.message,
                reference=result.reference,
            )
        )
        if not confirmed:
            log.warning(
                "%s refused shipment %s of order %s: %s",
                account.channel,
                notice.shipment_id,
                notice.channel_order_id,
                result.message,
            )
            raise PermanentFailure(f"{account.channel} refused: {result.message}")
