"""What ordermesh reads from Amazon besides the incremental order feed, for one account:
the order back-fill through the Reports API, FBA stock, account health, the usage-plan
capacity of searchOrders, and the MCF operations routing will use.

Kept apart from `AmazonConnector` (which syncs and confirms orders) so that each stays small;
both share the account's SpApiClient, and with it the rate-limit buckets and LWA tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

import orjson

from ordermesh.adapters.channels.amazon import fba, health, mapping, order_report
from ordermesh.adapters.channels.amazon.client import (
    USAGE_PLANS,
    AmazonRefused,
    SpApiClient,
    bucket_prefix,
)
from ordermesh.adapters.channels.amazon.mcf import Mcf
from ordermesh.adapters.channels.amazon.reports import ReportPolling, Reports
from ordermesh.ports.channels import (
    ChangesPage,
    ChannelAccount,
    ChannelError,
    OrderVersion,
    Unreadable,
)
from ordermesh.ports.clock import Clock
from ordermesh.ports.marketplace import (
    AccountHealth,
    BackfillProgress,
    CreateOutcome,
    FulfilmentAddress,
    FulfilmentItem,
    FulfilmentOrderView,
    FulfilmentRefused,
    FulfilmentRequest,
    NetworkStock,
    OrderCapacity,
    PackageTracking,
    PreviewOption,
)

if TYPE_CHECKING:
    from ordermesh.adapters.channels.amazon import AmazonConnectors

REPORT_SPAN = timedelta(days=30)
"""One order report per this much of the range: Amazon's order reports cover at most 30 days."""
PAGE = 500
"""Report orders handed to the core per import batch."""
FULL_ORDER_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "CANCELLATION", "FULFILLMENT")

BACKFILL_NOTE = (
    "Orders back-filled from Amazon's order report: closed (shipped or cancelled) orders carry "
    "no street address, buyer name or e-mail, ship-by window, Prime flag or Amazon order item "
    "ids (the report has none); open orders are read again in full through getOrder."
)


def _chunks(since: datetime, until: datetime, span: timedelta) -> list[tuple[datetime, datetime]]:
    spans = []
    start = since
    while start < until:
        end = min(start + span, until)
        spans.append((start, end))
        start = end
    return spans


class AmazonInbound:
    def __init__(
        self,
        account_id: str,
        client: SpApiClient,
        clock: Clock,
        *,
        polling: ReportPolling | None = None,
        report_span: timedelta = REPORT_SPAN,
    ) -> None:
        self.account_id, self.client, self.clock = account_id, client, clock
        self.reports = Reports(client, polling)
        self.mcf = Mcf(client)
        self.report_span = report_span
        self.backfill_note = BACKFILL_NOTE

    @property
    def marketplace_ids(self) -> tuple[str, ...]:
        return self.client.settings.marketplace_ids

    # -- usage-plan capacity -----------------------------------------------------------------
    def order_capacity(self) -> OrderCapacity:
        """searchOrders is the bottleneck of the incremental sync: one request per page."""
        plan = USAGE_PLANS["searchOrders"]
        # The shared bucket holds the rate Amazon last announced in x-amzn-RateLimit-Limit
        # (sellers with more traffic are granted more); before any request, the model's.
        level = getattr(self.client.buckets, "level", None)
        row = (
            level(bucket_prefix(self.client.settings.selling_partner_id) + "searchOrders")
            if level
            else None
        )
        granted = float(row["rate"]) if row and row.get("rate") else None
        return OrderCapacity(
            operation="searchOrders",
            requests_per_second=granted or plan.rate,
            burst=plan.burst,
            page_size=self.client.settings.page_size,
        )

    # -- back-fill -----------------------------------------------------------------------------
    def orders_placed_between(
        self,
        since: datetime,
        until: datetime,
        progress: Callable[[BackfillProgress], None] | None = None,
    ) -> Iterator[ChangesPage]:
        spans = _chunks(since, until, self.report_span)

        def say(done: int, stage: str) -> None:
            if progress is not None:
                progress(BackfillProgress(done, len(spans), stage))

        for done, (start, end) in enumerate(spans):
            say(done, f"asking Amazon for the orders of {start:%Y-%m-%d}…{end:%Y-%m-%d}")

            def waiting(status: str, done: int = done) -> None:
                say(done, f"Amazon is preparing it ({status})")

            content = self.reports.run(
                order_report.REPORT_TYPE, self.marketplace_ids, start, end, on_wait=waiting
            )
            say(done, "reading the report")
            if content is None:  # Amazon cancels a report that would be empty
                say(done + 1, "no orders in this range")
                continue
            versions, open_ids, unreadable = order_report.read_report(content, self.account_id)
            # Chunks meet at their edges: each order belongs to the chunk it was placed in.
            versions = [v for v in versions if start <= v.order.purchase_date < end]
            for first in range(0, len(versions), PAGE):
                yield ChangesPage(tuple(versions[first : first + PAGE]))
            if unreadable:
                yield ChangesPage((), tuple(unreadable))
            for first in range(0, len(open_ids), 50):
                say(done, f"reading {len(open_ids)} open order(s) in full")
                yield self._full_orders(open_ids[first : first + 50], start, end)
            say(done + 1, "done")

    def _full_orders(self, order_ids: Sequence[str], start: datetime, end: datetime) -> ChangesPage:
        versions: list[OrderVersion] = []
        unreadable: list[Unreadable] = []
        for order_id in order_ids:
            try:
                body = self.client.call(
                    "getOrder",
                    "GET",
                    f"/orders/2026-01-01/orders/{quote(order_id, safe='')}",
                    {"includedData": ",".join(FULL_ORDER_DATA)},
                )
            except AmazonRefused as refused:
                # One order Amazon will not show must not sink the back-fill of the others.
                unreadable.append(
                    Unreadable(order_id, f"{order_id}@getOrder", "", f"getOrder: {refused}")
                )
                continue
            raw = body.get("order") if isinstance(body, dict) else None
            if not isinstance(raw, dict):
                unreadable.append(
                    Unreadable(
                        order_id,
                        f"{order_id}@getOrder",
                        orjson.dumps(body).decode(),
                        "getOrder answered without an order",
                    )
                )
                continue
            read = mapping.read_order(raw, self.account_id)
            if isinstance(read, OrderVersion):
                if start <= read.order.purchase_date < end:
                    versions.append(read)
            else:
                unreadable.append(read)
        return ChangesPage(tuple(versions), tuple(unreadable))

    # -- FBA stock -----------------------------------------------------------------------------
    def network_stock(self, marketplace_id: str) -> Iterator[list[NetworkStock]]:
        # Every page is fetched before any is handed on: a nextToken lives 30 seconds, longer
        # than booking a page of stock may take.
        yield from list(fba.inventory_pages(self.client, marketplace_id))

    # -- account health ------------------------------------------------------------------------
    def account_health(self) -> AccountHealth:
        content = self.reports.run(health.REPORT_TYPE, self.marketplace_ids)
        if content is None:
            raise ChannelError("Amazon had no account health data to report (report cancelled)")
        try:
            report = orjson.loads(content)
        except orjson.JSONDecodeError as garbage:
            raise ChannelError(f"the account health report is not JSON: {garbage}") from garbage
        return health.read_report(report, self.clock.now())

    # -- multi-channel fulfilment --------------------------------------------------------------
    def fulfilment_preview(
        self,
        address: FulfilmentAddress,
        items: Sequence[FulfilmentItem],
        speeds: Sequence[str] = (),
        marketplace_id: str | None = None,
    ) -> list[PreviewOption]:
        return self.mcf.preview(address, items, speeds, marketplace_id or self.marketplace_ids[0])

    def create_fulfilment_order(self, request: FulfilmentRequest) -> CreateOutcome:
        return self.mcf.create(request)

    def fulfilment_order(self, fulfilment_order_id: str) -> FulfilmentOrderView:
        try:
            return self.mcf.get(fulfilment_order_id)
        except AmazonRefused as refusal:
            raise FulfilmentRefused(str(refusal), [str(refusal)]) from refusal

    def package_tracking(self, package_number: int) -> PackageTracking:
        return self.mcf.tracking(package_number)

    def cancel_fulfilment_order(self, fulfilment_order_id: str) -> None:
        self.mcf.cancel(fulfilment_order_id)


def inbound_for(
    connectors: AmazonConnectors,
    account: ChannelAccount,
    *,
    polling: ReportPolling | None = None,
) -> AmazonInbound:
    """The account's inbound side, sharing the connectors' HTTP pool, tokens and buckets."""
    return AmazonInbound(account.id, connectors.client(account), connectors.clock, polling=polling)
