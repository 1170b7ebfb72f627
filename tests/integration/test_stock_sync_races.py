"""Stock sync under concurrent writers: whatever order the recomputations commit in, the
figure left in the push queue is the one the final stock gives."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from ordermesh.bootstrap import bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from tests.builders.catalogue import BERLIN, a_location, a_product, an_order, stock


def test_the_queue_ends_with_the_figure_of_the_final_stock_after_concurrent_movements(om):
    a_location(om, "WH1")
    a_product(om, "MUG")
    om.handle(c.UpsertListing("shopify-main", "mug", "MUG"))
    om.handle(c.UpsertListing("amazon-de", "MUG-DE", "MUG"))
    stock(om, "MUG", 50)

    def busy(worker: int) -> None:
        for _ in range(4):
            if worker % 2:
                stock(om, "MUG", 2)
            else:
                an_order(om, ("MUG", 1))

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(busy, range(6)))

    [level] = om.queries.stock_levels(sku="MUG").items
    final = level["on_hand"] - level["reserved"]
    assert final == 50 + 3 * 4 * 2 - 3 * 4
    for account, listing in (("shopify-main", "mug"), ("amazon-de", "MUG-DE")):
        assert om.stock_sync.explain(account, listing).queued == final


def _import_one(url: str, channel: str, account: str, channel_sku: str, barrier) -> str:
    """One channel's import, on its own engine and connections, as a separate worker would."""
    racer = bootstrap(
        Settings(database_url=url, env="test", worker=False, db_pool_size=2), migrate=False
    )
    at = datetime.now(UTC)
    order = c.ChannelOrder(
        channel=channel,
        channel_account=account,
        channel_order_id=f"{channel}-last-unit",
        state=c.ChannelState.RELEASED,
        updated_at=at,
        purchase_date=at,
        lines=(c.ChannelLine("1", channel_sku, 1, "12.50"),),
        currency="EUR",
        shipping_address=BERLIN,
    )
    try:
        barrier.wait(timeout=30)
        racer.handle(
            c.ImportOrders(
                (c.ImportOrder(order, source=f"{channel}:{account}", key=channel, payload="{}"),)
            )
        )
        [found] = racer.queries.list_orders(search=order.channel_order_id).items
        return str(found["status"])
    finally:
        racer.close()


def test_the_last_unit_ordered_on_amazon_and_shopify_at_once_goes_to_one_and_both_show_zero(
    om, database_url
):
    a_location(om, "WH1")
    a_product(om, "MUG")
    om.handle(c.UpsertListing("amazon-de", "MUG-DE", "MUG"))
    om.handle(c.UpsertListing("shopify-main", "mug", "MUG"))
    stock(om, "MUG", 1)
    for account, listing in (("amazon-de", "MUG-DE"), ("shopify-main", "mug")):
        assert om.stock_sync.explain(account, listing).queued == 1

    barrier = threading.Barrier(2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        amazon = pool.submit(_import_one, database_url, "amazon", "amazon-de", "MUG-DE", barrier)
        shopify = pool.submit(_import_one, database_url, "shopify", "shopify-main", "mug", barrier)
        statuses = sorted([amazon.result(timeout=60), shopify.result(timeout=60)])

    assert statuses == ["allocated", "backordered"]
    [level] = om.queries.stock_levels(sku="MUG").items
    assert (level["on_hand"], level["reserved"]) == (1, 1)
    for account, listing in (("amazon-de", "MUG-DE"), ("shopify-main", "mug")):
        figure = om.stock_sync.explain(account, listing)
        assert (figure.queued, figure.status, figure.urgent) == (0, "pending", True)
