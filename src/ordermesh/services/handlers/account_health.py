"""A channel account's standing: the marketplace's account health report (ODR, late
shipment, cancellation, valid tracking, with the marketplace's own targets), and how close
the seller's order volume comes to what the channel's usage plan lets ordermesh read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ordermesh.domain.errors import DomainError
from ordermesh.ports.channels import ChannelAccounts, ChannelError, NeedsReauthorisation
from ordermesh.ports.clock import Clock
from ordermesh.ports.marketplace import (
    AccountHealth,
    AccountHealthReader,
    AccountHealthRecords,
    CapacityReporter,
    OrderCapacity,
    OrderVersions,
)

log = logging.getLogger(__name__)

WARN_AT = 0.8
"""Warn when the observed order volume reaches this share of the sustainable rate."""
LOG_EVERY = timedelta(hours=1)
"""The warning is on every status read; the log repeats it at most this often per account."""


@dataclass(frozen=True, slots=True)
class OrderRateStatus:
    """The account's sustainable order rate under its usage plan, and its recent volume."""

    capacity: OrderCapacity
    last_hour: int
    last_day: int

    @property
    def sustainable_per_hour(self) -> float:
        return self.capacity.orders_per_hour

    @property
    def share(self) -> float:
        """The busier of the last hour and the last day's hourly average, against capacity."""
        busiest = max(self.last_hour, self.last_day / 24)
        return busiest / self.sustainable_per_hour if self.sustainable_per_hour else 0.0

    @property
    def warning(self) -> str | None:
        if self.share < WARN_AT:
            return None
        return (
            f"order volume at {self.share:.0%} of what {self.capacity.operation} can read: "
            f"{self.last_hour} changed orders in the last hour, {self.last_day} in the last day, "
            f"against {self.sustainable_per_hour:,.0f}/hour sustainable "
            f"({self.capacity.requests_per_second:g} requests/s × {self.capacity.page_size} "
            "orders a page); order notifications or a higher usage plan would keep up"
        )

    def as_dict(self) -> dict[str, Any]:
        """For the API and the dashboard."""
        return {
            "operation": self.capacity.operation,
            "requests_per_second": self.capacity.requests_per_second,
            "burst": self.capacity.burst,
            "page_size": self.capacity.page_size,
            "sustainable_orders_per_hour": round(self.sustainable_per_hour),
            "burst_orders": self.capacity.burst_orders,
            "orders_last_hour": self.last_hour,
            "orders_last_day": self.last_day,
            "share": round(self.share, 4),
            "warning": self.warning,
        }


class AccountStanding:
    def __init__(
        self,
        accounts: ChannelAccounts,
        readers: Callable[[Any], object],
        records: AccountHealthRecords,
        versions: OrderVersions,
        clock: Clock,
    ) -> None:
        self.accounts, self.readers, self.records = accounts, readers, records
        self.versions, self.clock = versions, clock
        self._logged: dict[str, datetime] = {}

    def order_rate(self, account_id: str) -> OrderRateStatus | None:
        """None for a channel without a published usage plan (Shopify paces by cost)."""
        account = self.accounts.get(account_id)
        try:
            reader = self.readers(account)
        except ChannelError:
            return None
        if not isinstance(reader, CapacityReporter):
            return None
        now = self.clock.now()
        status = OrderRateStatus(
            reader.order_capacity(),
            self.versions.orders_changed_since(account.id, now - timedelta(hours=1)),
            self.versions.orders_changed_since(account.id, now - timedelta(days=1)),
        )
        last = self._logged.get(account.id)
        if status.warning and (last is None or now - last >= LOG_EVERY):
            self._logged[account.id] = now
            log.warning("channel account %s (%s): %s", account.name, account.id, status.warning)
        return status

    def fetch_health(self, account_id: str) -> AccountHealth:
        """Ask the marketplace for the report now and keep it as the account's latest.
        Raises ChannelError (NeedsReauthorisation marks the account) when it cannot."""
        account = self.accounts.get(account_id)
        reader = self.readers(account)
        if not isinstance(reader, AccountHealthReader):
            raise ChannelError(f"{account.channel} accounts have no account health report")
        try:
            health = reader.account_health()
        except NeedsReauthorisation as lost:
            self.accounts.mark_needs_reauthorisation(
                account.id, reason=str(lost), at=self.clock.now()
            )
            raise
        except (ChannelError, DomainError) as failed:
            log.warning("account health of %s failed: %s", account.id, failed)
            raise
        self.records.record_health(account.id, health)
        return health

    def latest_health(self, account_id: str) -> AccountHealth | None:
        return self.records.latest_health(account_id)
