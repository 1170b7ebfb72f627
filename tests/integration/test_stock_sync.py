"""Stock sync: every stock movement puts the latest figure of each affected listing in its
channel's push queue, and draining the queue sends it, urgent first, latest figure only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.availability import Rule
from ordermesh.domain.errors import NotFound, ValidationFailed
from ordermesh.ports.stock_sync import PushOutcome, PushResult
from tests.builders.catalogue import a_bundle, a_location, a_product, an_order, stock
from tests.builders.ordermesh import ManualClock, an_ordermesh
from tests.builders.stock_sync import FakeChannel

SHOP = "shopify-main"
AMAZON = "amazon-de"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def om(database_url: str, clock: ManualClock) -> Iterator[Ordermesh]:
    with an_ordermesh(database_url, clock) as app:
        a_location(app, "WH1")
        yield app


def listed(om: Ordermesh, sku: str, *accounts: str) -> None:
    for account in accounts:
        om.handle(c.UpsertListing(account, f"{sku}@{account}", sku))


def drain(om: Ordermesh, account: str, channel: FakeChannel, max_batch: int = 100):
    return om.stock_sync.drain_pushes(account, channel, max_batch)


def depth(om: Ordermesh, account: str) -> int:
    [status] = om.stock_sync.status(account)
    return status.depth


def mug_and_bag_on_shopify(om: Ordermesh, mug: int, bag: int) -> FakeChannel:
    """MUG and BAG listed on Shopify, stocked, and their figures shown there."""
    shop = FakeChannel()
    for sku, quantity in (("MUG", mug), ("BAG", bag)):
        a_product(om, sku)
        listed(om, sku, SHOP)
        stock(om, sku, quantity)
    drain(om, SHOP, shop)
    return shop


def test_receiving_stock_queues_one_push_per_listing_with_the_new_figure(om):
    a_product(om, "MUG")
    listed(om, "MUG", SHOP, AMAZON)
    stock(om, "MUG", 12)
    assert {s.channel_account: s.depth for s in om.stock_sync.status()} == {AMAZON: 1, SHOP: 1}
    shop = FakeChannel()
    drained = drain(om, SHOP, shop)
    assert (drained.sent, shop.sent) == (1, [("MUG@shopify-main", 12)])
    assert depth(om, SHOP) == 0
    assert depth(om, AMAZON) == 1


def test_two_changes_before_a_drain_become_one_push_of_the_latest_figure(om):
    a_product(om, "MUG")
    listed(om, "MUG", SHOP)
    stock(om, "MUG", 10)
    stock(om, "MUG", 5)
    shop = FakeChannel()
    drain(om, SHOP, shop)
    assert shop.sent == [("MUG@shopify-main", 15)]
    drain(om, SHOP, shop)
    assert len(shop.batches) == 1, "nothing left to send"


def test_an_order_taking_the_last_unit_is_pushed_before_older_routine_changes(om, clock):
    shop = mug_and_bag_on_shopify(om, mug=40, bag=1)
    clock.advance(seconds=5)
    stock(om, "MUG", 1)  # 40 → 41: routine
    clock.advance(seconds=5)
    an_order(om, ("BAG", 1))  # 1 → 0: every second counts
    assert om.stock_sync.status(SHOP)[0].urgent == 1
    drain(om, SHOP, shop, max_batch=1)
    assert shop.batches[-1] == [("BAG@shopify-main", 0)]
    drain(om, SHOP, shop, max_batch=1)
    assert shop.batches[-1] == [("MUG@shopify-main", 41)]


def test_a_restock_still_queued_that_sells_down_low_goes_before_routine_changes(om, clock):
    shop = mug_and_bag_on_shopify(om, mug=2, bag=40)
    an_order(om, ("MUG", 2))
    drain(om, SHOP, shop)
    assert shop.shows["MUG@shopify-main"] == 0
    clock.advance(seconds=5)
    stock(om, "BAG", 1)  # 40 → 41: routine
    clock.advance(seconds=5)
    stock(om, "MUG", 15)  # a restock: a rise, it can wait
    assert om.stock_sync.status(SHOP)[0].urgent == 0
    an_order(om, ("MUG", 12))  # 15 → 3 before the restock went out: the channel shows 0
    assert om.stock_sync.status(SHOP)[0].urgent == 1
    drain(om, SHOP, shop, max_batch=1)
    assert shop.batches[-1] == [("MUG@shopify-main", 3)]


def test_a_channel_that_is_down_keeps_its_pushes_and_catches_up_with_the_latest_figures(om, clock):
    a_product(om, "MUG")
    a_product(om, "BAG")
    listed(om, "MUG", SHOP)
    listed(om, "BAG", SHOP)
    shop = FakeChannel()
    shop.down = True
    stock(om, "MUG", 10)
    stock(om, "BAG", 3)
    failed = drain(om, SHOP, shop)
    assert (failed.retried, failed.error) == (2, "503 Service Unavailable")
    clock.advance(minutes=2)
    an_order(om, ("MUG", 4))
    stock(om, "BAG", 2)
    status = om.stock_sync.status(SHOP)[0]
    assert (status.depth, status.failed_attempts, status.sent) == (2, 2, 0)
    assert status.oldest_pending_age == timedelta(minutes=2)
    assert status.last_error == "503 Service Unavailable"

    shop.down = False
    clock.advance(minutes=10)  # past any backoff
    drain(om, SHOP, shop)
    assert sorted(shop.sent) == [("BAG@shopify-main", 5), ("MUG@shopify-main", 6)]
    status = om.stock_sync.status(SHOP)[0]
    assert (status.depth, status.sent, status.last_error) == (0, 2, None)


def test_a_figure_that_changes_while_its_push_is_in_flight_is_sent_again(om):
    a_product(om, "MUG")
    listed(om, "MUG", SHOP)
    stock(om, "MUG", 10)
    shop = FakeChannel()
    shop.during_send.append(lambda: an_order(om, ("MUG", 3)))
    drain(om, SHOP, shop)
    assert depth(om, SHOP) == 1
    drain(om, SHOP, shop)
    assert shop.sent == [("MUG@shopify-main", 10), ("MUG@shopify-main", 7)]
    assert shop.shows == {"MUG@shopify-main": 7}


def test_the_last_units_are_offered_on_the_channel_ranked_first_only(om):
    om.handle(c.ConfigureStockSync(AMAZON, last_units_threshold=2, rank=1))
    om.handle(c.ConfigureStockSync(SHOP, last_units_threshold=2, rank=2))
    a_product(om, "MUG")
    listed(om, "MUG", SHOP, AMAZON)
    stock(om, "MUG", 5)
    shop, amazon = FakeChannel(), FakeChannel()
    drain(om, SHOP, shop)
    drain(om, AMAZON, amazon)
    an_order(om, ("MUG", 3))
    drain(om, SHOP, shop)
    drain(om, AMAZON, amazon)
    assert (amazon.shows, shop.shows) == ({"MUG@amazon-de": 2}, {"MUG@shopify-main": 0})
    why = om.stock_sync.explain(SHOP, "MUG@shopify-main")
    assert why.explanation.rules == (Rule.LAST_UNITS_WITHHELD,)
    assert why.confirmed == 0


def test_a_bundle_listing_follows_its_scarcest_component(om):
    a_product(om, "MUG")
    a_product(om, "SPOON")
    a_bundle(om, "GIFT", {"MUG": 1, "SPOON": 2})
    listed(om, "GIFT", SHOP)
    stock(om, "MUG", 10)
    stock(om, "SPOON", 7)
    shop = FakeChannel()
    drain(om, SHOP, shop)
    assert shop.shows == {"GIFT@shopify-main": 3}
    an_order(om, ("SPOON", 2))
    drain(om, SHOP, shop)
    assert shop.shows == {"GIFT@shopify-main": 2}
    why = om.stock_sync.explain(SHOP, "GIFT@shopify-main").explanation
    assert [(p.sku, p.available, p.kits) for p in why.components] == [
        ("MUG", 10, 10),
        ("SPOON", 5, 2),
    ]


def test_a_buffer_and_a_cap_shape_the_figure_and_the_explanation_says_so(om):
    a_product(om, "MUG")
    listed(om, "MUG", SHOP)
    stock(om, "MUG", 30)
    om.handle(c.ConfigureStockSync(SHOP, buffer_units=2, buffer_percent="10", max_quantity=20))
    shop = FakeChannel()
    drain(om, SHOP, shop)
    assert shop.shows == {"MUG@shopify-main": 20}
    an_order(om, ("MUG", 10))  # 20 free − 2 − 10 % = 16
    drain(om, SHOP, shop)
    assert shop.shows == {"MUG@shopify-main": 16}
    om.handle(c.SetSkuBuffer(SHOP, "MUG", buffer_units=0))
    drain(om, SHOP, shop)
    assert shop.shows == {"MUG@shopify-main": 20}
    why = om.stock_sync.explain(SHOP, "MUG@shopify-main")
    e = why.explanation
    assert (e.free, e.buffer, e.buffer_source, e.max_quantity, e.quantity) == (
        20,
        0,
        "sku",
        20,
        20,
    )
    assert [(f.location, f.on_hand, f.reserved, f.available) for f in e.locations] == [
        ("WH1", 30, 10, 20)
    ]
    assert (why.queued, why.confirmed, why.status) == (20, 20, "sent")


def test_an_fba_listing_is_never_pushed_and_its_merchant_twin_stands_in_when_fba_runs_out(om):
    a_location(om, "FBA-DE", kind="marketplace")
    a_product(om, "MUG")
    om.handle(c.UpsertListing(AMAZON, "MUG-FBA", "MUG", fulfilled_by="marketplace"))
    om.handle(c.UpsertListing(AMAZON, "MUG-MFN", "MUG"))
    stock(om, "MUG", 8)
    stock(om, "MUG", 4, location="FBA-DE")
    amazon = FakeChannel()
    drain(om, AMAZON, amazon)
    assert amazon.shows == {"MUG-MFN": 0}
    om.handle(c.AdjustStock("MUG", "FBA-DE", -4, reason="sold out at FBA"))
    drain(om, AMAZON, amazon)
    assert amazon.shows == {"MUG-MFN": 8}
    fba = om.stock_sync.explain(AMAZON, "MUG-FBA")
    assert (fba.explanation.pushed, fba.queued) == (False, None)


def test_a_listing_the_channel_refuses_is_set_aside_until_its_figure_changes(om):
    a_product(om, "MUG")
    listed(om, "MUG", SHOP)
    stock(om, "MUG", 4)

    class Refusing:
        def send(self, batch):
            return [PushResult(p.channel_sku, PushOutcome.REJECTED, "unknown SKU") for p in batch]

    assert drain(om, SHOP, Refusing()).rejected == 1
    status = om.stock_sync.status(SHOP)[0]
    assert (status.depth, status.rejected, status.last_error) == (0, 1, "unknown SKU")
    stock(om, "MUG", 1)
    shop = FakeChannel()
    drain(om, SHOP, shop)
    assert shop.shows == {"MUG@shopify-main": 5}


def test_explaining_an_unknown_listing_says_what_is_missing(om):
    with pytest.raises(NotFound) as err:
        om.stock_sync.explain(SHOP, "nope")
    assert err.value.field == "channel_sku"


def test_a_push_whose_sender_died_mid_send_is_sent_again_when_its_lease_runs_out(om, clock):
    a_product(om, "MUG")
    listed(om, "MUG", SHOP)
    stock(om, "MUG", 6)
    [claimed] = om.stock_sync.queue.claim(SHOP, 10)  # a worker took it, then crashed
    shop = FakeChannel()
    drain(om, SHOP, shop)
    assert shop.sent == [], "still leased to the worker that died"
    clock.advance(minutes=5)
    drain(om, SHOP, shop)
    assert shop.sent == [(claimed.channel_sku, 6)]


def test_a_listing_the_channel_did_not_answer_for_is_retried(om, clock):
    a_product(om, "MUG")
    a_product(om, "BAG")
    listed(om, "MUG", SHOP)
    listed(om, "BAG", SHOP)
    stock(om, "MUG", 2)
    stock(om, "BAG", 2)

    class AnswersForMugOnly:
        def send(self, batch):
            return [PushResult(p.channel_sku, PushOutcome.SENT) for p in batch if "MUG" in p.sku]

    drained = drain(om, SHOP, AnswersForMugOnly())
    assert (drained.sent, drained.retried) == (1, 1)
    clock.advance(minutes=10)
    shop = FakeChannel()
    drain(om, SHOP, shop)
    assert shop.sent == [("BAG@shopify-main", 2)]


def test_an_account_cannot_be_served_from_a_location_that_does_not_exist(om):
    with pytest.raises(NotFound) as err:
        om.handle(c.ConfigureStockSync(SHOP, locations=("WH1", "MOON")))
    assert (err.value.field, err.value.message) == ("locations", "no location MOON")
    with pytest.raises(ValidationFailed) as refused:
        om.handle(c.ConfigureStockSync(SHOP, hybrid="sometimes"))
    assert refused.value.field == "hybrid"


def a_feed_in_flight(om: Ordermesh, amazon: FakeChannel):
    """MUG shows 40 on Amazon and a listings feed setting it to 30 is being processed."""
    a_product(om, "MUG")
    listed(om, "MUG", AMAZON)
    stock(om, "MUG", 40)
    drain(om, AMAZON, amazon)
    om.handle(c.AdjustStock("MUG", "WH1", -10, reason="damaged"))  # 40 → 30: bulk
    return om.stock_sync.queue.claim(AMAZON, 100, bulk_only=True)


def settle_as_sent(om: Ordermesh, pushes, channel: FakeChannel) -> None:
    """The channel applies a batch claimed earlier (a listings feed landing) and says so."""
    for p in pushes:
        channel.shows[p.channel_sku] = p.quantity
    om.stock_sync.queue.settle(
        pushes, {p.channel_sku: PushResult(p.channel_sku, PushOutcome.SENT) for p in pushes}
    )


def test_a_listing_selling_out_overtakes_its_feed_in_flight_and_is_set_again_after_it(om):
    amazon = FakeChannel()
    feed = a_feed_in_flight(om, amazon)
    assert [(p.quantity, p.overtaking) for p in feed] == [(30, False)]

    an_order(om, ("MUG", 30))  # sold out while the feed is processed
    urgent = om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True)
    assert (urgent.sent, urgent.urgent) == (1, 1)
    assert amazon.shows == {"MUG@amazon-de": 0}, "patched without waiting for the feed"
    again = om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True)
    assert again.claimed == 0, "the figure that overtook the feed is not sent twice"

    settle_as_sent(om, feed, amazon)  # the feed lands after the patch with its 30
    assert amazon.shows == {"MUG@amazon-de": 30}
    [status] = om.stock_sync.status(AMAZON)
    assert (status.depth, status.urgent) == (1, 1), "0 must go out again, at once"
    after = om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True)
    assert (after.sent, amazon.shows) == (1, {"MUG@amazon-de": 0})
    assert depth(om, AMAZON) == 0


def a_feed_overtaken_while_it_lands(om: Ordermesh, amazon: FakeChannel) -> None:
    """MUG shows 40; a feed sets it to 30, and MUG sells out while the feed is processed: the
    urgent 0 is patched over it (through the same channel), then the feed lands with its 30."""
    a_product(om, "MUG")
    listed(om, "MUG", AMAZON)
    stock(om, "MUG", 40)
    drain(om, AMAZON, amazon)
    om.handle(c.AdjustStock("MUG", "WH1", -10, reason="damaged"))  # 40 → 30: bulk
    patches = FakeChannel()
    patches.shows = amazon.shows

    def sell_out_and_patch() -> None:
        an_order(om, ("MUG", 30))
        assert om.stock_sync.drain_pushes(AMAZON, patches, 5, urgent_only=True).sent == 1

    amazon.during_send.append(sell_out_and_patch)
    feed = om.stock_sync.drain_pushes(AMAZON, amazon, 100, bulk_only=True)
    assert (feed.sent, patches.sent) == (1, [("MUG@amazon-de", 0)])


def test_more_overtaken_listings_than_are_read_back_quickly_are_all_set_again_unread(om):
    amazon = FakeChannel()
    amazon.during_read.append(lambda: amazon.shows.update({"MUG@amazon-de": 0}))
    om.stock_sync.read_back_at_most = 0

    a_feed_overtaken_while_it_lands(om, amazon)

    assert amazon.reads == [], "not read back"
    [status] = om.stock_sync.status(AMAZON)
    assert (status.depth, status.urgent) == (1, 1), "the 0 goes out again at once"


def test_a_feed_that_landed_under_the_patch_that_overtook_it_is_not_set_again(om):
    amazon = FakeChannel()
    # Read back after the landing, the channel shows the patch's 0: it applied it last.
    amazon.during_read.append(lambda: amazon.shows.update({"MUG@amazon-de": 0}))

    a_feed_overtaken_while_it_lands(om, amazon)

    assert amazon.reads == [1], "only the overtaken listing is read back"
    assert depth(om, AMAZON) == 0, "nothing to set again"
    assert om.stock_sync.explain(AMAZON, "MUG@amazon-de").confirmed == 0


def test_a_feed_over_its_overtaking_patch_is_set_again_when_the_read_back_fails(om):
    amazon = FakeChannel()

    def unreadable() -> None:
        raise ConnectionError("503 Service Unavailable")

    amazon.during_read.append(unreadable)

    a_feed_overtaken_while_it_lands(om, amazon)

    assert amazon.shows == {"MUG@amazon-de": 30}, "the feed landed last"
    [status] = om.stock_sync.status(AMAZON)
    assert (status.depth, status.urgent) == (1, 1), "unread, the 0 goes out again at once"
    after = om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True)
    assert (after.sent, amazon.shows) == (1, {"MUG@amazon-de": 0})


def test_a_feed_overtaken_by_a_figure_that_then_rose_back_is_checked_by_the_next_feed(om):
    amazon = FakeChannel()
    feed = a_feed_in_flight(om, amazon)
    order = an_order(om, ("MUG", 28)).order_id  # 30 → 2: urgent, overtakes the feed
    om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True)
    assert amazon.shows == {"MUG@amazon-de": 2}
    om.handle(c.CancelOrder(order, reason="buyer changed their mind"))  # back to 30
    settle_as_sent(om, feed, amazon)
    # Amazon shows the feed's 30 or the patch's 2, nobody knows which: 30 goes out again,
    # in the bulk lane (a rise cannot oversell).
    assert om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True).claimed == 0
    bulk = om.stock_sync.drain_pushes(AMAZON, amazon, 100, bulk_only=True)
    assert (bulk.sent, amazon.shows) == (1, {"MUG@amazon-de": 30})


def test_an_overtaking_patch_the_channel_refused_is_tried_again_after_a_pause(om, clock):
    feed = a_feed_in_flight(om, FakeChannel())
    an_order(om, ("MUG", 30))

    class Throttled:
        def send(self, batch):
            return [PushResult(p.channel_sku, PushOutcome.RETRY, "429") for p in batch]

    assert om.stock_sync.drain_pushes(AMAZON, Throttled(), 5, urgent_only=True).retried == 1
    amazon = FakeChannel()
    assert om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True).claimed == 0
    clock.advance(seconds=30)
    assert om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True).sent == 1
    assert amazon.shows == {"MUG@amazon-de": 0}
    assert [p.quantity for p in feed] == [30]


def test_only_a_bulk_push_in_flight_is_overtaken(om):
    a_product(om, "MUG")
    listed(om, "MUG", SHOP)
    stock(om, "MUG", 40)
    in_flight = om.stock_sync.queue.claim(SHOP, 100)  # one lane for everything, as Shopify's
    an_order(om, ("MUG", 40))
    assert om.stock_sync.queue.claim(SHOP, 5, urgent_only=True) == []
    shop = FakeChannel()
    settle_as_sent(om, in_flight, shop)
    drained = om.stock_sync.drain_pushes(SHOP, shop, 5, urgent_only=True)
    assert (drained.sent, shop.shows) == (1, {"MUG@shopify-main": 0})


def test_a_fall_below_the_figure_a_feed_carries_overtakes_it_though_the_channel_shows_less(om):
    a_product(om, "MUG")
    listed(om, "MUG", AMAZON)
    stock(om, "MUG", 3)
    amazon = FakeChannel()
    drain(om, AMAZON, amazon)
    stock(om, "MUG", 7)  # 3 → 10: a rise, for the next feed
    feed = om.stock_sync.queue.claim(AMAZON, 100, bulk_only=True)
    om.handle(c.AdjustStock("MUG", "WH1", -6, reason="damaged"))  # 10 → 4 while in flight
    # Amazon shows 3, so nothing oversells yet; the moment the feed sets 10, something can.
    overtaking = om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True)
    assert (overtaking.sent, amazon.shows) == (1, {"MUG@amazon-de": 4})
    settle_as_sent(om, feed, amazon)  # the feed lands with its 10
    urgent = om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True)
    assert (urgent.sent, urgent.urgent) == (1, 1)
    assert amazon.shows == {"MUG@amazon-de": 4}
    assert depth(om, AMAZON) == 0


def test_a_failed_feed_that_was_overtaken_sends_the_latest_figure_again_at_once(om):
    amazon = FakeChannel()
    feed = a_feed_in_flight(om, amazon)
    an_order(om, ("MUG", 30))
    om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True)
    assert amazon.shows == {"MUG@amazon-de": 0}
    # The feed fails (FATAL, its report unreadable): some of it may have landed all the same.
    amazon.shows["MUG@amazon-de"] = 30
    om.stock_sync.queue.settle(
        feed, {p.channel_sku: PushResult(p.channel_sku, PushOutcome.RETRY, "FATAL") for p in feed}
    )
    [status] = om.stock_sync.status(AMAZON)
    assert (status.depth, status.urgent) == (1, 1), "no backoff: the feed may show 30"
    again = om.stock_sync.drain_pushes(AMAZON, amazon, 5, urgent_only=True)
    assert (again.sent, amazon.shows) == (1, {"MUG@amazon-de": 0})
