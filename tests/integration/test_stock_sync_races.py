"""Stock sync under concurrent writers: whatever order the recomputations commit in, the
figure left in the push queue is the one the final stock gives."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ordermesh.domain import commands as c
from tests.builders.catalogue import a_location, a_product, an_order, stock


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
