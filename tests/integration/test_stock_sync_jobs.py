"""The stock-sync engine around the queue: push rounds per channel account with its connector,
reconciliation that finds and heals drift, the in-flight margin for Amazon, and alerts when a
channel falls behind. Channels are small fakes of the sender/reader ports; the connectors
themselves are tested against the sandboxes."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import pytest

from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from ordermesh.domain.availability import Rule
from ordermesh.entrypoints.worker import Worker
from ordermesh.ports.channels import ChannelAccount
from ordermesh.ports.stock_sync import Push, PushOutcome, PushResult
from ordermesh.services.stock_sync_jobs import BULK, URGENT
from tests.builders.catalogue import BERLIN, a_location, a_product, an_order, stock
from tests.builders.ordermesh import T0, ManualClock, an_ordermesh
from tests.builders.stock_sync import FakeChannel


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def om(database_url: str, clock: ManualClock) -> Iterator[Ordermesh]:
    with an_ordermesh(database_url, clock, channel_sync_seconds=60) as app:
        a_location(app, "WH1")
        yield app


class Channels:
    def __init__(self, om: Ordermesh) -> None:
        self.om = om
        self.by_account: dict[str, FakeChannel] = {}
        om.stock_sync_jobs.connectors = self.connector

    def connector(self, account: ChannelAccount) -> FakeChannel:
        return self.by_account[account.id]

    def add(self, channel: str, name: str) -> tuple[str, FakeChannel]:
        account = self.om.channel_adapters.accounts.register(
            channel=channel, name=name, settings={}, secrets={"token": "x"}, sync_from=T0
        )
        self.by_account[account.id] = FakeChannel()
        return account.id, self.by_account[account.id]


@pytest.fixture
def channels(om: Ordermesh) -> Channels:
    return Channels(om)


def listed(om: Ordermesh, sku: str, account: str) -> str:
    om.handle(c.UpsertListing(account, f"{sku}-{account[-4:]}", sku))
    return f"{sku}-{account[-4:]}"


def test_a_push_round_sends_a_shopify_account_its_figures_250_per_call(om, channels):
    shop, channel = channels.add("shopify", "Shop")
    om.handle(c.UpsertProducts(tuple(_products(300))))
    for n in range(300):
        om.handle(c.UpsertListing(shop, f"S{n:03}", f"P{n:03}"))
    om.handle(c.RecomputeListings())
    # Never pushed, no stock: every listing's first figure (0) is urgent.
    first = om.stock_sync_jobs.push_round(shop, URGENT)
    assert (first.drained.sent, first.wait) == (250, 0)
    second = om.stock_sync_jobs.push_round(shop, URGENT)
    assert second.drained.sent == 50
    idle = om.stock_sync_jobs.push_round(shop, URGENT)
    assert (idle.drained.claimed, idle.wait) == (0, None)
    assert [len(b) for b in channel.batches] == [250, 50]


def test_shopify_gathers_ordinary_changes_for_a_second_but_sends_a_fall_to_zero_at_once(
    om, channels, clock
):
    shop, channel = channels.add("shopify", "Shop")
    for sku in ("MUG", "BAG"):
        a_product(om, sku)
        listed(om, sku, shop)
        stock(om, sku, 40)
    assert om.stock_sync_jobs.push_round(shop, BULK).drained.sent == 2
    clock.advance(seconds=0.2)
    stock(om, "MUG", 1)  # 40 → 41: goes with whatever else changes within the second
    an_order(om, ("BAG", 40))  # 40 → 0: cannot wait

    assert om.stock_sync_jobs.push_round(shop, BULK).drained.claimed == 0
    assert om.stock_sync_jobs.push_round(shop, URGENT).drained.sent == 1
    assert channel.batches[-1] == [(f"BAG-{shop[-4:]}", 0)]
    clock.advance(seconds=0.8)
    assert om.stock_sync_jobs.push_round(shop, BULK).drained.sent == 1
    assert channel.batches[-1] == [(f"MUG-{shop[-4:]}", 41)]


def _products(n: int):
    from ordermesh.domain.catalogue import Product

    return [Product(f"P{i:03}", f"Product {i}") for i in range(n)]


def test_a_channel_that_is_down_is_backed_off_and_gets_only_the_latest_figures_on_return(
    om, channels, clock, caplog
):
    shop, channel = channels.add("shopify", "Shop")
    a_product(om, "MUG")
    mug = listed(om, "MUG", shop)
    channel.down = True
    stock(om, "MUG", 10)
    waits = []
    for _ in range(3):
        waits.append(om.stock_sync_jobs.push_round(shop))
        clock.advance(minutes=6)  # past the queue's retry backoff
    assert [(r.wait, r.backoff) for r in waits] == [(1.0, True), (2.0, True), (4.0, True)]
    for units in (5, 3):
        clock.advance(minutes=1)
        stock(om, "MUG", units)
    with caplog.at_level(logging.INFO, logger="ordermesh.services.stock_sync_jobs"):
        [health] = om.stock_sync_jobs.health()
        om.stock_sync_jobs.health()
    assert health.behind
    assert "oldest waiting push" in health.reason
    assert (health.queue.depth, health.queue.last_error) == (1, "503 Service Unavailable")
    assert [r.message for r in caplog.records].count(
        f"stock sync to Shop is behind: {health.reason}"
    ) == 1, "alerted once, not on every look"

    channel.down = False
    clock.advance(minutes=10)  # past the queue's own retry backoff
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ordermesh.services.stock_sync_jobs"):
        assert om.stock_sync_jobs.push_round(shop).drained.sent == 1
        [health] = om.stock_sync_jobs.health()
    assert channel.sent == [(mug, 18)], "one push, the latest figure, nothing lost"
    assert (health.behind, health.queue.sent) == (False, 1)
    assert "stock sync to Shop has caught up" in caplog.messages


def test_amazon_gets_urgent_changes_at_once_and_the_bulk_in_one_batch_per_feed_cycle(
    om, channels, clock
):
    amazon, channel = channels.add("amazon", "Amazon DE")
    for sku in ("MUG", "BAG", "TEE"):
        a_product(om, sku)
        listed(om, sku, amazon)
        stock(om, sku, 40)
    assert om.stock_sync_jobs.push_round(amazon).drained.sent == 3  # the first bulk
    clock.advance(seconds=10)
    stock(om, "MUG", 1)  # 40 → 41: can wait for the next bulk
    an_order(om, ("BAG", 40))  # 40 → 0: cannot
    urgent = om.stock_sync_jobs.push_round(amazon)
    assert channel.batches[-1] == [(f"BAG-{amazon[-4:]}", 0)]
    assert urgent.drained.sent == 1
    idle = om.stock_sync_jobs.push_round(amazon)
    assert idle.drained.claimed == 0
    assert idle.wait == pytest.approx(110.0)
    clock.advance(seconds=110)
    om.stock_sync_jobs.push_round(amazon)
    assert channel.batches[-1] == [(f"MUG-{amazon[-4:]}", 41)]


def test_drift_injected_on_the_channel_is_found_recorded_and_healed(om, channels, clock):
    shop, channel = channels.add("shopify", "Shop")
    for sku in ("MUG", "BAG", "TEE"):
        a_product(om, sku)
        listed(om, sku, shop)
        stock(om, sku, 7)
    om.stock_sync_jobs.push_round(shop)
    mug, bag = f"MUG-{shop[-4:]}", f"BAG-{shop[-4:]}"
    channel.shows[mug] = 50  # someone typed a figure into Shopify's admin
    channel.shows[bag] = 4  # or Shopify took orders we have not seen yet

    found = om.stock_sync_jobs.reconcile(shop)
    assert (found.checked, found.drifted, found.healed) == (3, 2, 1)
    report = om.stock_sync.drift_report(shop)
    assert {(d.channel_sku, d.ours, d.theirs) for d in report.recent} == {(mug, 7, 50), (bag, 7, 4)}
    assert (report.runs[0].checked, report.runs[0].drifted) == (3, 2)
    assert om.stock_sync.explain(shop, mug).status == "pending"
    assert om.stock_sync.status(shop)[0].urgent == 1, "a channel showing too much is urgent"

    om.stock_sync_jobs.push_round(shop)
    assert channel.shows[mug] == 7, "healed"
    assert channel.shows[bag] == 4, "a shortfall waits: it may be orders on their way to us"

    clock.advance(minutes=15)
    again = om.stock_sync_jobs.reconcile(shop)
    assert (again.drifted, again.healed) == (1, 1), "the same shortfall again: not in flight"
    om.stock_sync_jobs.push_round(shop)
    assert channel.shows == {mug: 7, bag: 7, f"TEE-{shop[-4:]}": 7}
    assert om.stock_sync_jobs.reconcile(shop).drifted == 0


def test_the_channel_is_read_once_and_a_figure_confirmed_meanwhile_is_not_drift(om, channels):
    shop, channel = channels.add("shopify", "Shop")
    om.handle(c.UpsertProducts(tuple(_products(600))))
    for n in range(600):
        om.handle(c.UpsertListing(shop, f"S{n:03}", f"P{n:03}"))
    stock(om, "P007", 5)
    om.handle(c.RecomputeListings())
    while om.stock_sync_jobs.push_round(shop).drained.sent:
        pass
    assert channel.shows["S007"] == 5

    def sale_pushed_while_the_report_was_made() -> None:
        om.handle(c.AdjustStock("P007", "WH1", -1, reason="damaged"))
        om.stock_sync_jobs.push_round(shop)

    channel.during_read.append(sale_pushed_while_the_report_was_made)
    found = om.stock_sync_jobs.reconcile(shop)

    assert channel.shows["S007"] == 4
    assert channel.reads == [600], "one read of every listing, not one per slice"
    assert (found.checked, found.drifted) == (600, 0), "the read predates the new figure"
    assert om.stock_sync_jobs.reconcile(shop).drifted == 0


def test_a_channel_that_cannot_be_read_is_reported_not_healed(om, channels):
    shop, channel = channels.add("shopify", "Shop")
    a_product(om, "MUG")
    listed(om, "MUG", shop)
    stock(om, "MUG", 7)
    om.stock_sync_jobs.push_round(shop)
    channel.down = True
    result = om.stock_sync_jobs.reconcile(shop)
    assert result.error == "ConnectionError: 503 Service Unavailable"
    assert (result.drifted, result.healed) == (0, 0), "a failed read is no evidence of drift"
    assert om.stock_sync.drift_report(shop).runs[0].error == result.error


def amazon_order(account: str, order_id: str, channel_sku: str, units: int, at: datetime):
    snapshot = c.ChannelOrder(
        channel="amazon",
        channel_account=account,
        channel_order_id=order_id,
        state=c.ChannelState.RELEASED,
        updated_at=at,
        purchase_date=at,
        lines=(c.ChannelLine(f"{order_id}-1", channel_sku, units, "12.50"),),
        currency="EUR",
        shipping_address=BERLIN,
    )
    return c.ImportOrder(snapshot, source=f"amazon:{account}", key=order_id, payload="{}")


def sold_on_amazon_in_the_hour_before_its_last_sync(
    om: Ordermesh, clock: ManualClock, amazon: str, listing: str
) -> None:
    """12 units, one every five minutes from T0; the account's last sync ended an hour after
    T0, and brought them all in."""
    om.handle(
        c.ImportOrders(
            tuple(
                amazon_order(amazon, f"A-{n}", listing, 1, T0 + timedelta(minutes=5 * (n + 1)))
                for n in range(12)
            )
        )
    )
    clock.at = T0 + timedelta(hours=1)
    om.channel_adapters.accounts.record_success(amazon, cursor=clock.at, at=clock.at)


def test_amazon_holds_back_what_it_may_have_sold_since_the_last_import(om, channels, clock):
    amazon, _ = channels.add("amazon", "Amazon DE")
    shop, _ = channels.add("shopify", "Shop")
    a_product(om, "MUG")
    on_amazon, on_shop = listed(om, "MUG", amazon), listed(om, "MUG", shop)
    stock(om, "MUG", 100)
    sold_on_amazon_in_the_hour_before_its_last_sync(om, clock, amazon, on_amazon)
    clock.advance(minutes=4)  # the import lags 4 min, and the next sync is 1 min away
    stock(om, "MUG", 1)

    figure = om.stock_sync.explain(amazon, on_amazon)
    assert figure.explanation.free == 89
    assert figure.explanation.margin == 1, "12/h × 5 min = 1 unit probably sold already"
    assert Rule.IN_FLIGHT_MARGIN in figure.explanation.rules
    assert figure.queued == 88
    shopify = om.stock_sync.explain(shop, on_shop)
    assert (shopify.queued, shopify.explanation.margin) == (89, 0), "compare-and-set instead"

    clock.advance(minutes=26)  # the sync is failing: half an hour of Amazon orders unseen
    stock(om, "MUG", 1)
    late = om.stock_sync.explain(amazon, on_amazon)
    assert (late.explanation.margin, late.queued) == (6, 84)
    assert "6 held back" in " ".join(late.explanation.notes)

    om.in_flight_demand.enabled = False  # what a benchmark of plain interval sync does
    stock(om, "MUG", 1)
    assert om.stock_sync.explain(amazon, on_amazon).queued == 91


def test_a_worker_push_loop_sends_a_change_within_moments_of_its_commit(database_url):
    om = bootstrap(
        Settings(database_url=database_url, env="test", worker=False, outbox_poll_seconds=30),
        migrate=False,
    )
    channels = Channels(om)
    try:
        a_location(om, "WH1")
        shop, channel = channels.add("shopify", "Shop")
        a_product(om, "MUG")
        mug = listed(om, "MUG", shop)
        worker = Worker(om)
        stop = worker.start()
        try:
            time.sleep(0.3)  # the loop is idle, waiting 30 s unless woken
            stock(om, "MUG", 9)
            deadline = time.monotonic() + 5
            while channel.shows.get(mug) != 9 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert channel.shows.get(mug) == 9
            assert time.monotonic() < deadline - 3, "woken by the commit, not by the poll"
        finally:
            stop()
    finally:
        om.close()


class ComparingChannel(FakeChannel):
    """A channel with compare-and-set: a push naming a figure it no longer shows is refused
    with what it shows now (Shopify's changeFromQuantity)."""

    def send(self, batch: Sequence[Push]) -> list[PushResult]:
        results = []
        for p in batch:
            shown = self.shows.get(p.channel_sku)
            if p.confirmed is not None and shown != p.confirmed:
                results.append(
                    PushResult(p.channel_sku, PushOutcome.RETRY, "stale", channel_quantity=shown)
                )
            else:
                self.shows[p.channel_sku] = p.quantity
                self.batches.append([(p.channel_sku, p.quantity)])
                results.append(PushResult(p.channel_sku, PushOutcome.SENT))
        return results


def test_a_sale_on_the_channel_not_yet_imported_is_not_sold_twice(om, channels, clock):
    shop, _ = channels.add("shopify", "Shop")
    channel = channels.by_account[shop] = ComparingChannel()
    a_product(om, "MUG")
    mug = listed(om, "MUG", shop)
    stock(om, "MUG", 10)
    om.stock_sync_jobs.push_round(shop)
    channel.shows[mug] = 8  # Shopify sells 2; the order is on its way to us
    an_order(om, ("MUG", 1))  # meanwhile a unit sells elsewhere: 9 to push
    clock.advance(seconds=1)  # past the second in which Shopify gathers ordinary changes
    refused = om.stock_sync_jobs.push_round(shop)
    assert (refused.drained.retried, channel.shows[mug]) == (1, 8), "9 would resell a unit"
    figure = om.stock_sync.explain(shop, mug)
    assert (figure.confirmed, figure.queued, figure.status) == (8, 9, "pending")
    assert om.stock_sync_jobs.push_round(shop).drained.claimed == 0, "waits for the import"

    an_order(om, ("MUG", 2))  # the Shopify order comes in
    clock.advance(seconds=11)
    om.stock_sync_jobs.push_round(shop)
    assert channel.shows[mug] == 7
    assert om.stock_sync.explain(shop, mug).status == "sent"
