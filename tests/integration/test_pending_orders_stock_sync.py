"""A pending Amazon order has taken its units on Amazon while ordermesh reserves nothing: the
other channels' queued figures drop at once, and come back only if it is cancelled. Its
release replaces the pending demand with a reservation, so the figure does not move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from ordermesh.domain.orders import FulfilledBy
from tests.builders.catalogue import a_bundle, a_location, a_product, stock

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
AMAZON, SHOP = "amazon-us", "shopify-main"


@pytest.fixture
def om(database_url: str) -> Iterator[Ordermesh]:
    app = bootstrap(Settings(database_url=database_url, env="test", worker=False), migrate=False)
    try:
        a_location(app, "WH1")
        a_product(app, "MUG")
        a_product(app, "TEE")
        for account in (AMAZON, SHOP):
            app.handle(c.UpsertListing(account, f"MUG@{account}", "MUG"))
        app.handle(c.UpsertListing(SHOP, "TEE@shop", "TEE"))
        stock(app, "MUG", 5)
        stock(app, "TEE", 4)
        yield app
    finally:
        app.close()


def amazon_order(
    state: str,
    *,
    at: datetime = T0,
    lines: tuple[tuple[str, int], ...] = (("MUG@amazon-us", 2),),
    fulfilled_by: FulfilledBy = FulfilledBy.MERCHANT,
    order_id: str = "111-0000001-0000001",
) -> c.ImportOrders:
    snapshot = c.ChannelOrder(
        channel="amazon",
        channel_account=AMAZON,
        channel_order_id=order_id,
        state=state,
        updated_at=at,
        purchase_date=T0,
        lines=tuple(
            c.ChannelLine(f"{order_id}-{i}", sku, q, "9.50") for i, (sku, q) in enumerate(lines)
        ),
        currency="USD",
        fulfilled_by=fulfilled_by,
    )
    key = f"{order_id}@{at.isoformat()}#{state}"
    return c.ImportOrders((c.ImportOrder(snapshot, source=f"amazon:{AMAZON}", key=key),))


def queued(om: Ordermesh, account: str, channel_sku: str) -> int | None:
    return om.stock_sync.explain(account, channel_sku).queued


def test_a_pending_order_drops_the_shopify_figure_in_the_same_import(om: Ordermesh) -> None:
    assert queued(om, SHOP, "MUG@shopify-main") == 5

    om.handle(amazon_order(c.ChannelState.PENDING))

    figure = om.stock_sync.explain(SHOP, "MUG@shopify-main")
    assert figure.queued == 3
    assert figure.explanation.pending_orders == 2
    assert "pending orders: 2" in figure.explanation.notes
    assert figure.status == "pending"
    # The other SKU's listing is not touched.
    assert queued(om, SHOP, "TEE@shop") == 4


def test_its_release_replaces_the_pending_demand_with_a_reservation(om: Ordermesh) -> None:
    om.handle(amazon_order(c.ChannelState.PENDING))

    om.handle(amazon_order(c.ChannelState.RELEASED, at=T0 + timedelta(minutes=2)))

    figure = om.stock_sync.explain(SHOP, "MUG@shopify-main")
    assert figure.queued == 3
    assert figure.explanation.pending_orders == 0
    assert [(x.location, x.reserved) for x in figure.explanation.locations] == [("WH1", 2)]


def test_its_cancellation_gives_the_units_back(om: Ordermesh) -> None:
    om.handle(amazon_order(c.ChannelState.PENDING))

    om.handle(amazon_order(c.ChannelState.CANCELLED, at=T0 + timedelta(minutes=1)))

    assert queued(om, SHOP, "MUG@shopify-main") == 5


def test_a_pending_bundle_takes_its_components(om: Ordermesh) -> None:
    a_bundle(om, "MUG-SET", {"MUG": 2, "TEE": 1})
    om.handle(c.UpsertListing(AMAZON, "SET@amazon", "MUG-SET"))

    om.handle(amazon_order(c.ChannelState.PENDING, lines=(("SET@amazon", 1),)))

    assert queued(om, SHOP, "MUG@shopify-main") == 3
    assert queued(om, SHOP, "TEE@shop") == 3


def test_a_pending_order_fulfilled_by_amazon_takes_nothing_from_our_stock(
    om: Ordermesh,
) -> None:
    om.handle(amazon_order(c.ChannelState.PENDING, fulfilled_by=FulfilledBy.MARKETPLACE))

    assert queued(om, SHOP, "MUG@shopify-main") == 5
