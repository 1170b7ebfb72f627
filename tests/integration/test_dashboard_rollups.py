"""The overview's rollups and snapshots (kept by the worker's "dashboard figures" job) give
the figures computing them from the orders would give, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ordermesh.adapters.db.dashboard import SETTLE
from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from tests.builders.catalogue import BERLIN, a_location, a_product, stock

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class ManualClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def shop(database_url: str, clock: ManualClock) -> Iterator[Ordermesh]:
    om = bootstrap(
        Settings(database_url=database_url, env="test", worker=False), clock=clock, migrate=False
    )
    try:
        a_location(om, "WH1")
        for sku in ("MUG-1", "TEE-1"):
            a_product(om, sku)
            stock(om, sku, 100)
        yield om
    finally:
        om.close()


def bought(
    om: Ordermesh,
    order_id: str,
    *lines: tuple[str, int],
    at: datetime,
    account: str = "amazon-eu",
) -> str:
    snapshot = c.ChannelOrder(
        channel="amazon" if account.startswith("amazon") else "shopify",
        channel_account=account,
        channel_order_id=order_id,
        state=c.ChannelState.RELEASED,
        updated_at=at,
        purchase_date=at,
        lines=tuple(
            c.ChannelLine(f"{order_id}-{i}", sku, q, "9.50") for i, (sku, q) in enumerate(lines)
        ),
        currency="EUR",
        ship_by=at + timedelta(days=2),
        shipping_address=BERLIN,
    )
    result = om.handle(
        c.ImportOrder(snapshot, source=account, key=f"{order_id}@{at.isoformat()}", payload="{}")
    )
    return str(result.order_ids[order_id])


def per_day(om: Ordermesh, days: int = 90) -> dict[str, dict[str, int]]:
    """The chart's non-zero days: {channel: {day: orders}}."""
    chart = om.queries.orders_per_day(days)
    return {
        channel: {day: n for day, n in zip(chart["days"], counts, strict=True) if n}
        for channel, counts in chart["channels"].items()
    }


def sold(om: Ordermesh) -> dict[str, int]:
    return {c["sku"]: c["sold"] for c in om.queries.stock_cover(30)}


def run_worker(om: Ordermesh, clock: ManualClock) -> None:
    """What the worker's jobs do, once the orders so far have settled."""
    clock.advance(SETTLE + timedelta(seconds=1))
    om.queries.figures.refresh()
    om.queries.figures.snapshot_cover()


def test_the_rollup_counts_new_orders_once_and_pages_see_them_before_it_runs(
    shop: Ordermesh, clock: ManualClock
) -> None:
    today, yesterday = NOW.date().isoformat(), (NOW.date() - timedelta(days=1)).isoformat()
    bought(shop, "A-1", ("MUG-1", 2), at=NOW - timedelta(days=1))
    bought(shop, "A-2", ("MUG-1", 1), ("TEE-1", 3), at=NOW - timedelta(hours=1))
    bought(shop, "S-1", ("TEE-1", 1), at=NOW - timedelta(hours=1), account="shopify-main")
    on_demand = per_day(shop), sold(shop)
    assert on_demand == (
        {"amazon": {yesterday: 1, today: 1}, "shopify": {today: 1}},
        {"MUG-1": 3, "TEE-1": 4},
    )

    run_worker(shop, clock)
    assert shop.queries.snapshot_times()["stock_cover"] == clock.now()
    assert (per_day(shop), sold(shop)) == on_demand

    # Orders after the watermark are on the chart at once; the next run folds them in once.
    bought(shop, "A-3", ("MUG-1", 5), at=clock.now())
    expected = {"amazon": {yesterday: 1, today: 2}, "shopify": {today: 1}}
    assert per_day(shop) == expected
    run_worker(shop, clock)
    run_worker(shop, clock)
    assert per_day(shop) == expected
    assert sold(shop) == {"MUG-1": 8, "TEE-1": 4}


def test_a_late_back_filled_order_counts_on_its_purchase_day(
    shop: Ordermesh, clock: ManualClock
) -> None:
    bought(shop, "A-1", ("MUG-1", 1), at=NOW)
    run_worker(shop, clock)
    ten_days_ago = NOW - timedelta(days=10)
    # A back-fill brings in, today, an order bought ten days ago.
    bought(shop, "A-OLD", ("TEE-1", 2), at=ten_days_ago)
    run_worker(shop, clock)
    assert per_day(shop) == {
        "amazon": {ten_days_ago.date().isoformat(): 1, NOW.date().isoformat(): 1}
    }
    assert sold(shop) == {"MUG-1": 1, "TEE-1": 2}
    # Bought before the cover's window: on the 90-day chart, not in the cover.
    bought(shop, "A-OLDER", ("TEE-1", 7), at=NOW - timedelta(days=40))
    run_worker(shop, clock)
    assert sold(shop) == {"MUG-1": 1, "TEE-1": 2}
    assert sum(per_day(shop)["amazon"].values()) == 3


def test_cancelled_orders_leave_the_stock_cover(shop: Ordermesh, clock: ManualClock) -> None:
    folded = bought(shop, "A-1", ("MUG-1", 4), at=NOW)
    bought(shop, "A-2", ("MUG-1", 1), at=NOW)
    run_worker(shop, clock)
    assert sold(shop) == {"MUG-1": 5}

    # Cancelled after the rollup counted it, and another cancelled before it was folded in.
    shop.handle(c.CancelOrder(folded, reason="buyer asked"))
    unfolded = bought(shop, "A-3", ("MUG-1", 2), ("TEE-1", 1), at=clock.now())
    shop.handle(c.CancelOrder(unfolded, reason="buyer asked"))
    shop.queries.figures.snapshot_cover()
    assert sold(shop) == {"MUG-1": 1}
    run_worker(shop, clock)
    assert sold(shop) == {"MUG-1": 1}
    # A cancelled order was still bought: the orders chart keeps it.
    assert sum(per_day(shop)["amazon"].values()) == 3


def test_unmapped_channel_skus_leave_the_list_once_a_product_has_them(
    shop: Ordermesh, clock: ManualClock
) -> None:
    bought(shop, "A-1", ("NEW-9", 1), ("MUG-1", 1), at=NOW)
    expected = [{"channel_account": "amazon-eu", "channel_sku": "NEW-9", "lines": 1}]
    assert shop.queries.unmapped_channel_skus() == expected
    run_worker(shop, clock)
    assert shop.queries.unmapped_channel_skus() == expected
    bought(shop, "A-2", ("NEW-9", 2), at=clock.now())
    assert shop.queries.unmapped_channel_skus()[0]["lines"] == 2
    run_worker(shop, clock)
    assert shop.queries.unmapped_channel_skus()[0]["lines"] == 2

    a_product(shop, "NEW-9")
    assert shop.queries.unmapped_channel_skus() == []


def test_stock_alerts_come_from_the_snapshot_taken_as_of_its_time(
    shop: Ordermesh, clock: ManualClock
) -> None:
    a_product(shop, "LOW-1")
    stock(shop, "LOW-1", 2)
    live = shop.queries.stock_alerts()
    assert live[0] == 1
    assert live[1][0]["sku"] == "LOW-1"
    assert "stock_alerts" not in shop.queries.snapshot_times()

    run_worker(shop, clock)
    assert shop.queries.stock_alerts() == live
    assert shop.queries.snapshot_times()["stock_alerts"] == clock.now()
    stock(shop, "LOW-1", 50)
    # Until the next run the page shows the snapshot, and says when it was taken.
    assert shop.queries.stock_alerts() == live
    run_worker(shop, clock)
    assert shop.queries.stock_alerts() == (0, [])


def test_the_orders_of_a_sku_are_listed_newest_first_once_each(
    shop: Ordermesh, clock: ManualClock
) -> None:
    ids = []
    for n in range(5):
        clock.advance(timedelta(minutes=1))
        # Two lines of the same SKU in one order still list the order once.
        lines = [("MUG-1", 1), ("MUG-1", 2)] if n == 2 else [("MUG-1", 1)]
        ids.append(bought(shop, f"A-{n}", *lines, ("TEE-1", 1), at=clock.now()))
    bought(shop, "B-1", ("TEE-1", 1), at=clock.now())

    first, more = shop.queries.order_list(sku="MUG-1", per_page=3)
    second, last = shop.queries.order_list(sku="MUG-1", per_page=3, page=2)
    assert [o["id"] for o in first + second] == ids[::-1]
    assert (more, last) == (True, False)
    oldest, _ = shop.queries.order_list(sku="MUG-1", sort="oldest")
    assert [o["id"] for o in oldest] == ids
    allocated, _ = shop.queries.order_list(sku="MUG-1", status="allocated", channel="amazon")
    assert len(allocated) == 5


def test_this_weeks_counts_take_earlier_days_from_the_snapshot_and_today_live(
    shop: Ordermesh, clock: ManualClock
) -> None:
    today = datetime.combine(NOW.date(), datetime.min.time(), tzinfo=UTC)
    week = today - timedelta(days=3)
    bought(shop, "A-1", ("MUG-1", 1), at=today - timedelta(days=2))
    late = bought(shop, "A-2", ("MUG-1", 1), at=today - timedelta(days=1))
    bought(shop, "S-1", ("MUG-1", 1), at=today + timedelta(hours=1), account="shopify-main")
    live = shop.queries.order_counts(week)
    assert live == {"amazon": {"allocated": 2}, "shopify": {"allocated": 1}}

    run_worker(shop, clock)
    assert shop.queries.order_counts(week) == live
    assert shop.queries.order_counts(week, channel="shopify") == {"shopify": {"allocated": 1}}
    shop.handle(c.CancelOrder(late, reason="buyer asked"))
    bought(shop, "S-2", ("TEE-1", 1), at=clock.now(), account="shopify-main")
    # Today's order at once; yesterday's cancellation with the next snapshot.
    assert shop.queries.order_counts(week) == {
        "amazon": {"allocated": 2},
        "shopify": {"allocated": 2},
    }
    run_worker(shop, clock)
    assert shop.queries.order_counts(week) == {
        "amazon": {"allocated": 1, "cancelled": 1},
        "shopify": {"allocated": 2},
    }
