"""The worker's Amazon cadence and push lanes against the Amazon sandbox, over HTTP: a
change Amazon shows later than the settle time and the overlap is brought in by the deep
read, the unasked one or the one a late change seen in the overlap asks for, and an urgent
push is patched while a feed is in flight in the bulk lane, overtaking the feed for a listing
the feed carries and set right again after the feed lands with its older figure."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from typing import Any

import pytest

from ordermesh.domain import commands as c
from ordermesh.ports.marketplace import OrderCapacity
from ordermesh.services.handlers.channels import OVERLAP, SETTLE
from ordermesh.services.stock_sync_jobs import BULK, URGENT, PushPlan, PushRound, StockSyncJobs
from ordermesh.services.sync_cadence import SyncCadence
from tests.builders.catalogue import a_location, a_product, an_order, stock
from tests.integration.channels.amazon.conftest import AmazonSandbox, Seller, connect_seller

SEARCH_ORDERS = OrderCapacity("searchOrders", 0.0056, 20, 10)


def _deep_reading(seller: Seller, amazon: AmazonSandbox, **options: timedelta) -> SyncCadence:
    """The worker's cadence for the seller, reading 20 minutes back on a deep read."""
    return SyncCadence(
        seller.syncer,
        lambda _: SEARCH_ORDERS,
        amazon.clock,
        base=timedelta(seconds=60),
        deep_overlap=timedelta(minutes=20),
        **options,
    )


def test_a_change_shown_later_than_the_overlap_reaches_ordermesh_with_the_deep_read(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    cadence = _deep_reading(seller, amazon, deep_every=timedelta(minutes=15))
    placed = amazon.place_orders(6, buyerCancel=False, cancelWhilePending=False)
    amazon.settle()
    assert cadence.turn(seller.account.id).report.imported.created == 6
    late = 600.0
    assert late > (SETTLE + OVERLAP).total_seconds()
    amazon.admin("POST", "/faults", json={"kind": "late_update", "count": 1, "delaySeconds": late})
    amazon.admin("POST", f"/orders/{placed[2]}/cancel")

    regular = []
    for wait in (200, 200, 300):  # the change shows up 600 s late, during the third wait
        amazon.let_time_pass(wait)
        regular.append(cadence.turn(seller.account.id))
    assert [t.deep for t in regular] == [False, False, False]
    assert sum(t.report.imported.updated for t in regular) == 0, "past the regular windows"
    assert seller.orders()[placed[2]]["status"] != "cancelled"

    amazon.let_time_pass(200)
    deep = cadence.turn(seller.account.id)

    assert deep.deep
    assert deep.report.since is not None
    assert deep.report.until is not None
    assert deep.report.until - deep.report.since > timedelta(minutes=20)
    assert deep.report.imported.updated == 1
    assert seller.orders()[placed[2]]["status"] == "cancelled"
    seller.assert_in_step_with_amazon()
    assert not cadence.turn(seller.account.id).deep, "the next deep read is 15 minutes away"


def test_a_change_the_overlap_finds_late_brings_a_deep_read_for_one_shown_later_still(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    cadence = _deep_reading(seller, amazon)  # the unasked deep read is a day away
    placed = amazon.place_orders(6, buyerCancel=False, cancelWhilePending=False)
    amazon.settle()
    assert cadence.turn(seller.account.id).report.imported.created == 6
    amazon.let_time_pass(1200)
    # Amazon lags: one change shows 15 s past the settle time, one 10 minutes late.
    slightly, very = (SETTLE + timedelta(seconds=15)).total_seconds(), 600.0
    assert slightly < (SETTLE + OVERLAP).total_seconds() < very
    for delay, order in ((slightly, placed[1]), (very, placed[4])):
        amazon.admin(
            "POST", "/faults", json={"kind": "late_update", "count": 1, "delaySeconds": delay}
        )
        amazon.admin("POST", f"/orders/{order}/cancel")

    amazon.let_time_pass(slightly - 5)
    missed = cadence.turn(seller.account.id)
    amazon.let_time_pass(200)
    watch = cadence.turn(seller.account.id)

    assert missed.report.imported.updated == 0, "neither change showed in time"
    assert not watch.deep
    assert watch.report.late == 1
    assert seller.orders()[placed[1]]["status"] == "cancelled"
    assert seller.orders()[placed[4]]["status"] != "cancelled"

    amazon.let_time_pass(300)
    deep = cadence.turn(seller.account.id)

    assert deep.deep
    assert deep.report.late == 1
    assert seller.orders()[placed[4]]["status"] == "cancelled"
    seller.assert_in_step_with_amazon()
    amazon.let_time_pass(600)
    assert not cadence.turn(seller.account.id).deep


def listed(amazon: AmazonSandbox) -> dict[str, int]:
    return {item["sku"]: item["quantity"] for item in amazon.admin("GET", "/listings")["listings"]}


@pytest.mark.parametrize("feed_order", ["feed_last", "as_received"])
def test_an_urgent_push_overtakes_a_feed_in_flight_and_is_set_again_only_if_the_feed_covered_it(
    om: Any, amazon: AmazonSandbox, feed_order: str
) -> None:
    """Amazon may land a feed over a patch sent while it was processed, or not: ordermesh
    reads the overtaken listings back once the feed lands and sets again only those the feed
    covered."""
    amazon.sandbox.config = dataclasses.replace(amazon.sandbox.config, feed_order=feed_order)
    gate = threading.Event()
    gate.set()
    feeding = threading.Event()

    def sleep(seconds: float) -> None:
        # The bulk lane polls getFeed; its waits hold here until the test lets the feed finish.
        if threading.current_thread().name == "bulk-lane":
            feeding.set()
            assert gate.wait(20)
        amazon.clock.advance(seconds)

    channels, account = connect_seller(om, amazon, sleep=sleep)
    try:
        a_location(om, "WH1")
        skus = [f"SKU-{n:04d}" for n in range(1, 13)]
        for sku in skus:
            a_product(om, sku)
            om.handle(c.UpsertListing(account.id, sku, sku))
            stock(om, sku, 12)
        jobs = StockSyncJobs(
            om.stock_sync,
            channels.accounts,
            channels.connectors,
            om.clock,
            plans={"amazon": PushPlan(batch=10_000, bulk_every=timedelta(0), urgent_batch=5)},
        )
        assert jobs.push_round(account.id, URGENT).drained.claimed == 0, "nothing urgent yet"
        assert jobs.push_round(account.id, BULK).drained.sent == 12
        assert {listed(amazon)[s] for s in skus} == {12}
        feeds = int(amazon.stats()["requests"].get("createFeed", 0))

        for sku in skus[:11]:
            stock(om, sku, 1)  # 12 → 13: bulk
        gate.clear()
        bulk: list[PushRound] = []
        lane = threading.Thread(
            target=lambda: bulk.append(jobs.push_round(account.id, BULK)), name="bulk-lane"
        )
        lane.start()
        try:
            assert feeding.wait(20), "the bulk lane's feed is in flight"
            amazon.clock.advance(1)  # the patches come a second after the feed
            an_order(om, (skus[11], 12))  # not in the feed: sold out, urgent
            an_order(om, (skus[0], 13))  # in the feed, with 13: sold out while in flight

            urgent = jobs.push_round(account.id, URGENT)

            assert lane.is_alive(), "the feed is still in flight"
            assert (urgent.drained.sent, urgent.drained.urgent) == (2, 2)
            shown = listed(amazon)
            assert shown[skus[11]] == 0, "patched without waiting for the feed"
            assert shown[skus[0]] == 0, "in the feed, and patched over it without waiting"
            assert jobs.push_round(account.id, URGENT).drained.claimed == 0, (
                "a figure that overtook the feed is not sent twice"
            )
        finally:
            gate.set()
            lane.join(timeout=30)
        assert bulk[0].drained.sent == 11
        assert int(amazon.stats()["requests"]["createFeed"]) == feeds + 1
        assert int(amazon.stats()["requests"]["searchListingsItems"]) == 1, "read back once"
        covered = feed_order == "feed_last"
        assert listed(amazon)[skus[0]] == (13 if covered else 0)

        assert jobs.push_round(account.id, BULK).drained.claimed == 0, "urgent: not the bulk"
        after = jobs.push_round(account.id, URGENT)
        assert (after.drained.sent, after.drained.urgent) == ((1, 1) if covered else (0, 0))
        shown = listed(amazon)
        assert shown[skus[0]] == 0, "set right once the feed had landed, or never covered"
        assert {s: shown[s] for s in skus[1:11]} == dict.fromkeys(skus[1:11], 13)
        assert jobs.push_round(account.id, URGENT).drained.claimed == 0
        assert om.stock_sync.explain(account.id, skus[0]).confirmed == 0
        assert amazon.throttled() == 0
    finally:
        gate.set()
        channels.close()
