"""A seller's older Amazon orders brought in through the order report, and the order rate
their usage plan sustains — over HTTP, against the Amazon sandbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from ordermesh.adapters.db import tables as t
from ordermesh.services.handlers.channels import SETTLE
from ordermesh.services.marketplace_inbound import MarketplaceInbound, marketplace_inbound
from tests.integration.channels.amazon.conftest import EXPECTED_STATUS, AmazonSandbox, Seller

DAY = 86400.0


def inbound(seller: Seller) -> MarketplaceInbound:
    channels = seller.channels
    return marketplace_inbound(
        channels.accounts,
        channels.inbound,
        channels.inbound.records,
        seller.om.handle,
        seller.amazon.clock,
    )


def old_orders(amazon: AmazonSandbox, count: int, **request: Any) -> list[str]:
    """Orders placed now, then three days pass: they are older than any incremental window."""
    placed = amazon.place_orders(count, **request)
    amazon.let_time_pass(3 * DAY)
    return placed


def test_backfill_brings_in_the_orders_of_the_range_once(
    seller_factory: Any, amazon: AmazonSandbox
) -> None:
    amazon.sandbox.config.gzip_reports_over_bytes = 0  # Amazon gzips big documents
    started = amazon.clock.now()
    placed = old_orders(amazon, 30)
    seller = seller_factory(page_size=10)
    before = amazon.stats()["requests"]

    steps: list[str] = []
    report = inbound(seller).backfill.backfill(
        seller.account.id, started - timedelta(hours=1), progress=lambda p: steps.append(p.stage)
    )

    assert report.status == "synced", report.error
    assert report.imported.created == 30
    truth = amazon.truth()
    ours = seller.orders()
    assert sorted(ours) == sorted(placed) == sorted(truth)
    for order_id, theirs in truth.items():
        mine = ours[order_id]
        assert mine["status"] in EXPECTED_STATUS[theirs["OrderStatus"]], (order_id, mine)
        wanted = [(i["SellerSKU"], i["QuantityOrdered"]) for i in theirs["OrderItems"]]
        assert [(sku, qty) for _, sku, qty in mine["lines"]] == wanted
        if theirs["OrderStatus"] in ("Unshipped", "Pending", "PartiallyShipped"):
            # Open orders are read again in full: Amazon's item ids, for the confirmation.
            assert [line_id for line_id, _, _ in mine["lines"]] == [
                i["OrderItemId"] for i in theirs["OrderItems"]
            ]
    used = {
        op: n - before.get(op, 0)
        for op, n in amazon.stats()["requests"].items()
        if n != before.get(op, 0)
    }
    assert used["createReport"] == 1
    assert used["getReportDocument"] == 1
    assert "searchOrders" not in used, "the back-fill does not page the incremental search"
    open_orders = sum(1 for o in truth.values() if o["OrderStatus"] in ("Unshipped", "Pending"))
    assert used.get("getOrder", 0) == open_orders
    assert any("preparing" in step for step in steps), "the wait for Amazon was shown"

    again = inbound(seller).backfill.backfill(seller.account.id, started - timedelta(hours=1))

    assert (again.imported.created, again.imported.updated) == (0, 0)
    assert len(seller.orders()) == 30


def test_backfill_never_thins_an_order_the_incremental_sync_brought_in(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    started = amazon.clock.now()
    placed = amazon.place_orders(8, fulfillmentChannel="AFN", cancelWhilePending=False)
    amazon.settle()
    seller.sync()
    amazon.let_time_pass(2 * 3600)  # Amazon ships them: closed orders, report snapshots
    amazon.let_time_pass(SETTLE.total_seconds() + 1)
    seller.sync()
    assert {o["status"] for o in seller.orders().values()} == {"shipped"}
    addresses = _addresses(seller, placed)
    assert all(addresses.values())

    report = inbound(seller).backfill.backfill(
        seller.account.id, started - timedelta(hours=1), amazon.clock.now()
    )

    assert report.status == "synced", report.error
    assert (report.imported.created, report.imported.updated) == (0, 0)
    assert report.imported.unchanged == 8
    assert _addresses(seller, placed) == addresses


def _addresses(seller: Seller, order_ids: list[str]) -> dict[str, Any]:
    o = t.orders.c
    with seller.om.db.reader.connect() as conn:
        rows = conn.execute(
            select(o.channel_order_id, o.shipping_address).where(o.channel_order_id.in_(order_ids))
        ).all()
    return {r.channel_order_id: r.shipping_address for r in rows}


def test_a_failed_report_is_visible_and_changes_nothing(
    seller_factory: Any, amazon: AmazonSandbox
) -> None:
    started = amazon.clock.now()
    old_orders(amazon, 5)
    seller = seller_factory()
    amazon.admin("POST", "/faults", json={"operation": "createReport", "kind": "500", "count": 50})

    report = inbound(seller).backfill.backfill(seller.account.id, started - timedelta(hours=1))

    assert report.status == "failed"
    assert "createReport" in (report.error or "")
    assert seller.orders() == {}
    assert "back-fill" in (seller.reload().last_error or "")


def test_sustainable_order_rate_and_the_warning_near_it(
    seller_factory: Any, amazon: AmazonSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    seller = seller_factory(page_size=1)
    standing = inbound(seller).standing

    quiet = standing.order_rate(seller.account.id)
    assert quiet is not None
    # searchOrders: 0.0056 requests/s × 1 order a page × 3600 s.
    assert round(quiet.sustainable_per_hour, 2) == 20.16
    assert quiet.warning is None

    amazon.place_orders(17, cancelWhilePending=False, buyerCancel=False)
    amazon.settle()
    seller.sync()
    busy = standing.order_rate(seller.account.id)

    assert busy is not None
    assert busy.last_hour == 17
    assert busy.share >= 0.8
    assert busy.warning is not None
    assert "20/hour sustainable" in busy.warning
    assert busy.as_dict()["sustainable_orders_per_hour"] == 20
    standing.order_rate(seller.account.id)
    logged = [r for r in caplog.records if "sustainable" in r.getMessage()]
    assert len(logged) == 1, "logged once an hour, shown on every status read"


def test_a_long_range_is_read_a_month_at_a_time_and_an_empty_month_is_no_error(
    seller_factory: Any, amazon: AmazonSandbox
) -> None:
    started = amazon.clock.now()
    placed = amazon.place_orders(4, cancelWhilePending=False, buyerCancel=False)
    amazon.let_time_pass(40 * DAY)
    seller = seller_factory()
    before = amazon.stats()["requests"]

    report = inbound(seller).backfill.backfill(seller.account.id, started - timedelta(days=35))

    assert report.status == "synced", report.error
    assert sorted(seller.orders()) == sorted(placed)
    reports = amazon.stats()["requests"]["createReport"] - before.get("createReport", 0)
    assert reports == 3, "75 days: two 30-day reports and one of 15"
    assert [r.status for r in amazon.sandbox.reports.reports.values()].count("CANCELLED") == 2
