"""Stock in a marketplace's fulfilment network (Amazon FBA), brought into the ledger.

What Amazon calls fulfillable is what it can ship now, after the units it holds for its
customer orders. ordermesh reserves its own copy of those orders (AFN orders take stock from
the FBA location), so the location's on-hand becomes fulfillable + what ordermesh holds
reserved there: its available-to-sell is then exactly Amazon's fulfillable, and the orders
keep their reservations. The change is a count movement with the figures in its reason —
never an overwrite of the level. Reserved and inbound units are kept apart, in the
marketplace's own figures (`NetworkStockRecords`), never in on-hand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ordermesh.domain import commands as c
from ordermesh.domain import events
from ordermesh.domain.errors import DomainError, NotFound, ValidationFailed
from ordermesh.domain.inventory import LocationKind, Movement
from ordermesh.ports.channels import ChannelAccounts, ChannelError
from ordermesh.ports.clock import Clock
from ordermesh.ports.marketplace import (
    MarketplaceLocations,
    NetworkStock,
    NetworkStockReader,
    NetworkStockRecords,
)
from ordermesh.ports.storage import UnitOfWork
from ordermesh.services.handlers.stock_sync import queue_pushes_for
from ordermesh.services.messagebus import Deps

log = logging.getLogger(__name__)


@dataclass
class NetworkCount:
    counted: int = 0
    """Levels whose on-hand moved."""
    unchanged: int = 0
    unmapped: list[str] = field(default_factory=list)
    """Channel SKUs with no listing (or a bundle's) in ordermesh: not booked."""


def count_network_stock(cmd: c.CountNetworkStock, uow: UnitOfWork, deps: Deps) -> NetworkCount:
    location = uow.locations.get(cmd.location)
    if location is None:
        raise NotFound(f"no location {cmd.location}", field="location")
    if location.kind is not LocationKind.MARKETPLACE:
        raise ValidationFailed(
            f"{cmd.location} is a {location.kind} location; a marketplace's stock goes to a "
            "marketplace location",
            field="location",
        )
    result = NetworkCount()
    listings = uow.catalogue.listings(cmd.channel_account, {sku for sku, _ in cmd.fulfillable})
    known = uow.catalogue.known(set(listings.values()))
    # Two listings of one SKU (say, two conditions) are the same units in our catalogue.
    fulfillable: dict[str, int] = {}
    for channel_sku, units in cmd.fulfillable:
        sku = listings.get(channel_sku)
        if sku is None or sku not in known or known[sku]:
            result.unmapped.append(channel_sku)
            continue
        fulfillable[sku] = fulfillable.get(sku, 0) + max(0, units)
    levels = uow.stock.lock([(sku, cmd.location) for sku in sorted(fulfillable)])
    moves: list[Movement] = []
    for sku, units in sorted(fulfillable.items()):
        level = levels[(sku, cmd.location)]
        target = units + level.reserved
        move = level.count(
            target,
            reference=cmd.reference,
            reason=(
                f"marketplace count: {units} fulfillable + {level.reserved} reserved for orders "
                f"in ordermesh (was {level.on_hand} on hand)"
            ),
        )
        if move is None:
            result.unchanged += 1
        else:
            moves.append(move)
    result.counted = len(moves)
    if moves:
        touched = {m.sku for m in moves}
        uow.stock.save([lv for (sku, _), lv in levels.items() if sku in touched], moves, cmd.actor)
        uow.publish(
            events.StockChanged(tuple(sorted({(m.sku, m.location) for m in moves})), "count")
        )
        queue_pushes_for(uow, [(m.sku, m.location) for m in moves])
    uow.commit()
    return result


@dataclass
class NetworkStockReport:
    account: str
    status: str
    """synced or failed."""
    location: str | None = None
    marketplace: str | None = None
    skus: int = 0
    fulfillable: int = 0
    reserved: int = 0
    inbound: int = 0
    counted: int = 0
    unchanged: int = 0
    unmapped: list[str] = field(default_factory=list)
    error: str | None = None


class NetworkStockSync:
    """Pull an account's stock in the marketplace's network into a marketplace location."""

    def __init__(
        self,
        accounts: ChannelAccounts,
        readers: Callable[[Any], object],
        records: NetworkStockRecords,
        locations: MarketplaceLocations,
        handle: Callable[[c.Command], Any],
        clock: Clock,
    ) -> None:
        self.accounts, self.readers, self.records = accounts, readers, records
        self.locations, self.handle, self.clock = locations, handle, clock

    def figures(self, account_id: str) -> list[dict[str, Any]]:
        """What the marketplace last reported per channel SKU, for screens."""
        return self.records.figures(account_id)

    def location_for(self, account_id: str, chosen: str | None = None) -> str:
        if chosen:
            return chosen
        preferred = self.locations.fba_locations_of(account_id)
        if preferred:
            return preferred[0]
        candidates = self.locations.marketplace_locations()
        if len(candidates) == 1:
            return candidates[0]
        raise ValidationFailed(
            "say which location holds this account's FBA stock: "
            + (
                f"one of {', '.join(candidates)}"
                if candidates
                else "create a location of kind marketplace first"
            ),
            field="location",
        )

    def pull(
        self, account_id: str, *, location: str | None = None, marketplace: str | None = None
    ) -> NetworkStockReport:
        """One marketplace's pool into one location. Accounts selling in several
        marketplaces that share a pool (Amazon's pan-European FBA) read it once, from the
        first marketplace; another pool goes to another location (`marketplace`)."""
        account = self.accounts.get(account_id)
        report = NetworkStockReport(account.id, "failed")
        now = self.clock.now()
        try:
            report.location = self.location_for(account.id, location)
            reader = self.readers(account)
            if not isinstance(reader, NetworkStockReader):
                raise ChannelError(f"{account.channel} accounts report no network stock")
            ids = reader.marketplace_ids
            report.marketplace = marketplace or (ids[0] if ids else None)
            if report.marketplace is None:
                raise ValidationFailed("the account names no marketplace", field="marketplace")
            rows: list[NetworkStock] = []
            for page in reader.network_stock(report.marketplace):
                rows.extend(page)
            result = self.handle(
                c.CountNetworkStock(
                    account.id,
                    report.location,
                    tuple((r.channel_sku, r.fulfillable) for r in rows),
                    reference=f"{account.channel} network stock {now:%Y-%m-%dT%H:%M:%SZ}",
                    actor=account.channel,
                )
            )
            self.records.record(account.id, report.location, rows, now)
        except (ChannelError, DomainError) as failed:
            report.error = f"{type(failed).__name__}: {failed}"
            log.warning("network stock of %s failed: %s", account.id, report.error)
            return report
        report.status = "synced"
        report.skus = len(rows)
        report.fulfillable = sum(r.fulfillable for r in rows)
        report.reserved = sum(r.reserved for r in rows)
        report.inbound = sum(r.inbound for r in rows)
        report.counted, report.unchanged = result.counted, result.unchanged
        report.unmapped = sorted(result.unmapped)
        return report
