"""The inbound side of marketplace accounts, as one thing for the entrypoints: back-fill,
stock in the marketplace's network (FBA), and the account's standing (health report and
sustainable order rate)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ordermesh.domain.commands import Command
from ordermesh.ports.channels import ChannelAccounts
from ordermesh.ports.clock import Clock
from ordermesh.ports.marketplace import (
    AccountHealthRecords,
    MarketplaceLocations,
    NetworkStockRecords,
    OrderVersions,
)
from ordermesh.services.handlers.account_health import AccountStanding
from ordermesh.services.handlers.backfill import ChannelBackfill
from ordermesh.services.handlers.network_stock import NetworkStockSync


class InboundRecords(
    NetworkStockRecords, AccountHealthRecords, OrderVersions, MarketplaceLocations, Protocol
):
    """Where the inbound figures are kept and read back."""


@dataclass(frozen=True)
class MarketplaceInbound:
    backfill: ChannelBackfill
    """`backfill(account, since, until=None, progress=None)`: older orders via a report."""
    network_stock: NetworkStockSync
    """`pull(account, location=None, marketplace=None)`: FBA stock into the ledger."""
    standing: AccountStanding
    """`order_rate(account)`, `fetch_health(account)`, `latest_health(account)`."""


def marketplace_inbound(
    accounts: ChannelAccounts,
    readers: Callable[[Any], object],
    records: InboundRecords,
    handle: Callable[[Command], Any],
    clock: Clock,
) -> MarketplaceInbound:
    return MarketplaceInbound(
        backfill=ChannelBackfill(accounts, readers, records, handle, clock),
        network_stock=NetworkStockSync(accounts, readers, records, records, handle, clock),
        standing=AccountStanding(accounts, readers, records, records, clock),
    )
