"""Stock movements through the bus: every one a ledger row, levels always equal to the ledger."""

from __future__ import annotations

import pytest

from ordermesh.domain import commands as c
from ordermesh.domain.errors import NotFound, ValidationFailed
from tests.builders.catalogue import a_bundle, a_location, a_product, an_order, stock


@pytest.fixture
def warehouse(om):
    a_location(om, "WH1")
    a_location(om, "3PL", kind="3pl")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 10)
    return om


def test_a_transfer_moves_only_free_stock_and_books_both_sides(warehouse):
    an_order(warehouse, ("MUG-1", 6))
    with pytest.raises(ValidationFailed, match="only 4 of MUG-1 are free"):
        warehouse.handle(c.TransferStock("MUG-1", "WH1", "3PL", 5))
    warehouse.handle(c.TransferStock("MUG-1", "WH1", "3PL", 4))
    levels = {lv["location"]: lv for lv in warehouse.queries.stock_levels(sku="MUG-1").items}
    assert (levels["WH1"]["on_hand"], levels["WH1"]["reserved"], levels["3PL"]["on_hand"]) == (
        6,
        6,
        4,
    )
    kinds = [m["kind"] for m in warehouse.queries.movements(sku="MUG-1").items]
    assert kinds[:2] == ["transfer_in", "transfer_out"]
    for location in ("WH1", "3PL"):
        lv = levels[location]
        assert warehouse.queries.ledger_totals("MUG-1", location) == (lv["on_hand"], lv["reserved"])


def test_a_cycle_count_books_the_variance_with_who_counted(warehouse):
    warehouse.handle(c.RecordCount("MUG-1", "WH1", 8, actor="kim"))
    [move] = warehouse.queries.movements(sku="MUG-1", limit=1).items
    assert (move["kind"], move["on_hand_delta"], move["actor"]) == ("count", -2, "kim")


def test_a_stock_import_applies_good_rows_reports_bad_ones_and_rerunning_books_nothing(warehouse):
    a_product(warehouse, "BAG-1")
    rows = (
        c.StockRow(2, "MUG-1", "WH1", 12),
        c.StockRow(3, "", "WH1", 1),
        c.StockRow(4, "BAG-1", "MOON", 3),
        c.StockRow(5, "BAG-1", "3PL", -1),
        c.StockRow(6, "BAG-1", "3PL", 7),
    )
    first = warehouse.handle(c.ImportStockCounts(rows))
    assert first.applied == 2
    assert [(e.line, e.field) for e in first.errors] == [
        (3, "sku"),
        (4, "location"),
        (5, "quantity"),
    ]
    again = warehouse.handle(c.ImportStockCounts(rows))
    assert (again.applied, again.unchanged) == (0, 2)


def test_bundles_have_no_stock_of_their_own(warehouse):
    a_bundle(warehouse, "SET", {"MUG-1": 2})
    with pytest.raises(ValidationFailed, match="bundle"):
        warehouse.handle(c.ReceiveStock("SET", "WH1", 1))


def test_receiving_at_an_unknown_location_names_it(warehouse):
    with pytest.raises(NotFound) as refused:
        warehouse.handle(c.ReceiveStock("MUG-1", "MOON", 1))
    assert refused.value.field == "location"
