"""A channel lowers a listing's quantity itself when it takes an order. Once ordermesh imports
the order, the figure it recomputes for that listing is what the channel already shows, so no
push repeats it (Amazon's push budget is tight); the other channels' listings still get theirs.
A push of ours made after the sale may have overwritten the channel's own decrement: then the
push goes out as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.orders import FulfilledBy
from tests.builders.catalogue import a_location, a_product, stock
from tests.builders.ordermesh import ManualClock, an_ordermesh
from tests.builders.stock_sync import FakeChannel

AMAZON, SHOP = "amazon-us", "shopify-main"
MUG_AMAZON, MUG_SHOP = "MUG@amazon-us", "MUG@shopify-main"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def om(database_url: str, clock: ManualClock) -> Iterator[Ordermesh]:
    with an_ordermesh(database_url, clock) as app:
        a_location(app, "WH1")
        a_product(app, "MUG")
        app.handle(c.UpsertListing(AMAZON, MUG_AMAZON, "MUG"))
        app.handle(c.UpsertListing(SHOP, MUG_SHOP, "MUG"))
        yield app


def amazon_order(
    purchased: datetime,
    quantity: int = 2,
    *,
    state: str = c.ChannelState.RELEASED,
    fulfilled_by: FulfilledBy = FulfilledBy.MERCHANT,
    order_id: str = "111-0000001-0000001",
) -> c.ImportOrders:
    snapshot = c.ChannelOrder(
        channel="amazon",
        channel_account=AMAZON,
        channel_order_id=order_id,
        state=state,
        updated_at=purchased,
        purchase_date=purchased,
        lines=(c.ChannelLine(f"{order_id}-1", MUG_AMAZON, quantity, "9.50"),),
        currency="USD",
        fulfilled_by=fulfilled_by,
    )
    return c.ImportOrders((c.ImportOrder(snapshot, source=f"amazon:{AMAZON}", key=order_id),))


def pushed(om: Ordermesh, units: int) -> tuple[FakeChannel, FakeChannel]:
    """Both channels confirm `units` of MUG at the clock's time."""
    stock(om, "MUG", units)
    amazon, shop = FakeChannel(), FakeChannel()
    om.stock_sync.drain_pushes(AMAZON, amazon, 100)
    om.stock_sync.drain_pushes(SHOP, shop, 100)
    assert (amazon.sent, shop.sent) == ([(MUG_AMAZON, units)], [(MUG_SHOP, units)])
    return amazon, shop


def test_a_sale_after_our_last_push_is_not_pushed_back_to_its_own_channel(
    om: Ordermesh, clock: ManualClock
) -> None:
    pushed(om, 10)
    clock.advance(minutes=1)

    om.handle(amazon_order(clock.now() - timedelta(seconds=30)))

    amazon = om.stock_sync.explain(AMAZON, MUG_AMAZON)
    assert (amazon.queued, amazon.confirmed, amazon.status) == (8, 8, "sent")
    shop = om.stock_sync.explain(SHOP, MUG_SHOP)
    assert (shop.queued, shop.confirmed, shop.status) == (8, 10, "pending")
    channel = FakeChannel()
    om.stock_sync.drain_pushes(AMAZON, channel, 100)
    assert channel.sent == []
    om.stock_sync.drain_pushes(SHOP, channel, 100)
    assert channel.sent == [(MUG_SHOP, 8)]


def test_a_pending_sale_after_our_last_push_is_not_pushed_back_either(
    om: Ordermesh, clock: ManualClock
) -> None:
    pushed(om, 10)
    clock.advance(minutes=1)

    om.handle(amazon_order(clock.now(), 3, state=c.ChannelState.PENDING))

    amazon = om.stock_sync.explain(AMAZON, MUG_AMAZON)
    assert (amazon.queued, amazon.confirmed, amazon.status) == (7, 7, "sent")
    assert om.stock_sync.explain(SHOP, MUG_SHOP).status == "pending"


def test_a_sale_before_our_last_push_is_pushed_as_that_push_may_have_undone_it(
    om: Ordermesh, clock: ManualClock
) -> None:
    purchased = clock.now() - timedelta(seconds=5)
    pushed(om, 10)
    clock.advance(minutes=1)

    om.handle(amazon_order(purchased))

    amazon = om.stock_sync.explain(AMAZON, MUG_AMAZON)
    assert (amazon.queued, amazon.confirmed, amazon.status) == (8, 10, "pending")
    channel = FakeChannel()
    om.stock_sync.drain_pushes(AMAZON, channel, 100)
    assert channel.sent == [(MUG_AMAZON, 8)]


def test_a_sale_larger_than_the_confirmed_figure_leaves_it_at_zero(
    om: Ordermesh, clock: ManualClock
) -> None:
    pushed(om, 1)
    clock.advance(minutes=1)

    om.handle(amazon_order(clock.now(), 3))

    amazon = om.stock_sync.explain(AMAZON, MUG_AMAZON)
    assert (amazon.queued, amazon.confirmed, amazon.status) == (0, 0, "sent")
    assert om.stock_sync.explain(SHOP, MUG_SHOP).queued == 0


def test_a_sale_fulfilled_by_amazon_leaves_the_confirmed_figure_alone(
    om: Ordermesh, clock: ManualClock
) -> None:
    pushed(om, 10)
    clock.advance(minutes=1)

    om.handle(amazon_order(clock.now(), fulfilled_by=FulfilledBy.MARKETPLACE))

    amazon = om.stock_sync.explain(AMAZON, MUG_AMAZON)
    assert (amazon.queued, amazon.confirmed, amazon.status) == (10, 10, "sent")


def test_two_sales_of_one_listing_in_one_import_both_come_off(
    om: Ordermesh, clock: ManualClock
) -> None:
    pushed(om, 10)
    clock.advance(minutes=1)
    first = amazon_order(clock.now(), 2, order_id="111-0000001-0000001")
    second = amazon_order(clock.now(), 3, order_id="111-0000001-0000002")

    om.handle(c.ImportOrders(first.orders + second.orders))

    amazon = om.stock_sync.explain(AMAZON, MUG_AMAZON)
    assert (amazon.queued, amazon.confirmed, amazon.status) == (5, 5, "sent")
