"""The inbound side of marketplace accounts (back-fill, FBA stock, account health, MCF,
usage-plan capacity) and where its figures are kept: `marketplace_stock` and
`channel_account_health`, read by the API, the dashboard and the CLI."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from ordermesh.adapters.channels.amazon import AmazonConnectors
from ordermesh.adapters.channels.amazon.inbound import AmazonInbound, inbound_for
from ordermesh.adapters.channels.amazon.reports import ReportPolling
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.ports.channels import ChannelAccount, ChannelError
from ordermesh.ports.marketplace import (
    AccountHealth,
    HealthMetric,
    MetricStatus,
    NetworkStock,
)

_s = t.marketplace_stock.c
_h = t.channel_account_health.c
_o = t.orders.c
_CHUNK = 500


class SqlMarketplaceRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- FBA stock -----------------------------------------------------------------------------
    def record(
        self, account_id: str, location: str, rows: Sequence[NetworkStock], at: datetime
    ) -> None:
        """The latest figures replace the account's previous ones; a SKU Amazon no longer
        lists is dropped."""
        values = [
            {
                "channel_account": account_id,
                "channel_sku": r.channel_sku,
                "marketplace_id": r.marketplace_id,
                "location": location,
                "fulfillable": r.fulfillable,
                "reserved": r.reserved,
                "reserved_for_orders": r.reserved_for_orders,
                "inbound_working": r.inbound_working,
                "inbound_shipped": r.inbound_shipped,
                "inbound_receiving": r.inbound_receiving,
                "unfulfillable": r.unfulfillable,
                "researching": r.researching,
                "asin": r.asin[:10] if r.asin else None,
                "fnsku": r.fnsku[:20] if r.fnsku else None,
                "channel_updated_at": r.updated_at,
                "fetched_at": at,
            }
            for r in {r.channel_sku: r for r in rows}.values()
        ]
        with self.db.write() as conn:
            conn.execute(
                delete(t.marketplace_stock).where(
                    _s.channel_account == account_id, _s.location == location
                )
            )
            for first in range(0, len(values), _CHUNK):
                conn.execute(t.marketplace_stock.insert(), values[first : first + _CHUNK])

    def figures(self, account_id: str) -> list[dict[str, Any]]:
        """Per channel SKU: fulfillable, reserved and inbound apart, for screens."""
        with self.db.reader.connect() as conn:
            rows = conn.execute(
                select(t.marketplace_stock)
                .where(_s.channel_account == account_id)
                .order_by(_s.channel_sku)
            ).all()
        return [dict(r._mapping) for r in rows]

    # -- account health ------------------------------------------------------------------------
    def record_health(self, account_id: str, health: AccountHealth) -> None:
        report = {
            "account_statuses": dict(health.account_statuses),
            "rating": dict(health.rating),
            "warnings": list(health.warnings),
            "metrics": [asdict(m) for m in health.metrics],
        }
        with self.db.write() as conn:
            conn.execute(delete(t.channel_account_health).where(_h.channel_account == account_id))
            conn.execute(
                t.channel_account_health.insert().values(
                    channel_account=account_id, fetched_at=health.fetched_at, report=report
                )
            )

    def latest_health(self, account_id: str) -> AccountHealth | None:
        with self.db.reader.connect() as conn:
            row = conn.execute(
                select(t.channel_account_health).where(_h.channel_account == account_id)
            ).first()
        if row is None:
            return None
        report = dict(row.report or {})
        metrics = []
        for raw in report.get("metrics", []):
            values = dict(raw)
            values["status"] = MetricStatus(values.get("status", "UNKNOWN"))
            metrics.append(HealthMetric(**values))
        return AccountHealth(
            fetched_at=row.fetched_at,
            account_statuses=dict(report.get("account_statuses", {})),
            metrics=tuple(metrics),
            rating=dict(report.get("rating", {})),
            warnings=tuple(report.get("warnings", [])),
        )

    # -- orders --------------------------------------------------------------------------------
    def order_versions(self, account_id: str, order_ids: Collection[str]) -> dict[str, datetime]:
        """channel order id → the channel's update time of the version ordermesh holds."""
        found: dict[str, datetime] = {}
        ids = list(order_ids)
        with self.db.reader.connect() as conn:
            for first in range(0, len(ids), _CHUNK):
                rows = conn.execute(
                    select(_o.channel_order_id, _o.channel_updated_at).where(
                        _o.channel_account == account_id,
                        _o.channel_order_id.in_(ids[first : first + _CHUNK]),
                    )
                ).all()
                found.update({r.channel_order_id: r.channel_updated_at for r in rows})
        return found

    def orders_changed_since(self, account_id: str, since: datetime) -> int:
        """How many of the account's orders the channel changed since then (each such
        change is one order version a sync must read)."""
        with self.db.reader.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(t.orders)
                    .where(_o.channel_account == account_id, _o.channel_updated_at >= since)
                ).scalar_one()
            )

    def marketplace_locations(self) -> list[str]:
        with self.db.reader.connect() as conn:
            return [
                r.code
                for r in conn.execute(
                    select(t.locations.c.code)
                    .where(t.locations.c.kind == "marketplace")
                    .order_by(t.locations.c.code)
                )
            ]

    def fba_locations_of(self, account_id: str) -> list[str]:
        """The FBA locations the seller chose for the account in its stock-sync policy."""
        p = t.stock_sync_policies.c
        with self.db.reader.connect() as conn:
            row = conn.execute(
                select(p.fba_locations).where(p.channel_account == account_id)
            ).first()
        return [str(code) for code in (row.fba_locations or [])] if row else []


class InboundAdapters:
    """Builds each Amazon account's inbound side; other channels have none."""

    def __init__(
        self,
        amazon: AmazonConnectors,
        records: SqlMarketplaceRecords,
        polling: ReportPolling | None = None,
    ) -> None:
        self.amazon, self.records, self.polling = amazon, records, polling

    def __call__(self, account: ChannelAccount) -> AmazonInbound:
        if account.channel != "amazon":
            raise ChannelError(
                f"{account.channel} accounts have no back-fill, FBA stock or account health"
            )
        return inbound_for(self.amazon, account, polling=self.polling)
