from __future__ import annotations

from tests.builders.catalogue import a_location, a_product, an_order, stock


def test_an_order_for_stock_on_hand_is_allocated(om):
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 10)

    result = an_order(om, ("MUG-1", 3))

    assert result.status == "allocated"
    [level] = om.queries.stock_levels(sku="MUG-1").items
    assert (level["on_hand"], level["reserved"], level["available"]) == (10, 3, 7)
