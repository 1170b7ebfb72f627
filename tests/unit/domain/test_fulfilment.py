from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.errors import InsufficientStock
from ordermesh.domain.fulfilment import MostStockFirst, plan_allocation, refuse_if_short
from ordermesh.domain.inventory import LocationKind
from ordermesh.domain.orders import FulfilledBy, Order, OrderLine, OrderStatus

NOW = datetime(2026, 11, 23, tzinfo=UTC)
KINDS = {
    "WH1": LocationKind.WAREHOUSE,
    "3PL": LocationKind.THREE_PL,
    "FBA": LocationKind.MARKETPLACE,
}


def order(*lines: tuple[str, int], n: int = 1, by: FulfilledBy = FulfilledBy.MERCHANT) -> Order:
    return Order(
        id=f"o{n}",
        channel="manual",
        channel_account="manual",
        channel_order_id=f"M-{n}",
        status=OrderStatus.OPEN,
        purchase_date=NOW,
        lines=[OrderLine(i + 1, sku, q) for i, (sku, q) in enumerate(lines)],
        currency="EUR",
        fulfilled_by=by,
    )


def reservations(plan):
    return [(r.sku, r.location, r.quantity) for r in plan.reservations]


def test_the_location_that_can_fill_the_whole_line_with_most_stock_wins():
    [plan] = plan_allocation(
        [order(("MUG", 3))], {("MUG", "WH1"): 4, ("MUG", "3PL"): 9}, KINDS, {}
    ).orders
    assert reservations(plan) == [("MUG", "3PL", 3)]


def test_a_line_no_single_location_can_fill_is_split_fullest_first():
    [plan] = plan_allocation(
        [order(("MUG", 5))], {("MUG", "WH1"): 2, ("MUG", "3PL"): 4}, KINDS, {}
    ).orders
    assert reservations(plan) == [("MUG", "3PL", 4), ("MUG", "WH1", 1)]
    assert plan.shortfall == {}


def test_what_stock_cannot_cover_is_backordered():
    [plan] = plan_allocation([order(("MUG", 5))], {("MUG", "WH1"): 2}, KINDS, {}).orders
    assert reservations(plan) == [("MUG", "WH1", 2)]
    assert plan.shortfall == {(1, "MUG"): 3}


def test_merchant_orders_never_take_fba_stock_and_fba_orders_only_take_it():
    stock = {("MUG", "WH1"): 1, ("MUG", "FBA"): 50}
    merchant, fba = plan_allocation(
        [order(("MUG", 1), n=1), order(("MUG", 1), n=2, by=FulfilledBy.MARKETPLACE)],
        stock,
        KINDS,
        {},
    ).orders
    assert reservations(merchant) == [("MUG", "WH1", 1)]
    assert reservations(fba) == [("MUG", "FBA", 1)]


def test_orders_are_served_first_come_first_served():
    first, second = plan_allocation(
        [order(("MUG", 2), n=1), order(("MUG", 2), n=2)], {("MUG", "WH1"): 3}, KINDS, {}
    ).orders
    assert first.shortfall == {}
    assert second.shortfall == {(1, "MUG"): 1}


def test_all_or_nothing_callers_get_one_error_naming_every_short_line():
    [plan] = plan_allocation(
        [order(("MUG", 2), ("BAG", 3), ("HAT", 1))],
        {("MUG", "WH1"): 1, ("HAT", "WH1"): 1},
        KINDS,
        {},
    ).orders
    with pytest.raises(InsufficientStock) as refused:
        refuse_if_short(plan)
    assert [(s.line_no, s.sku, s.requested, s.available) for s in refused.value.lines] == [
        (1, "MUG", 2, 1),
        (2, "BAG", 3, 0),
    ]


def test_a_bundle_reserves_its_components():
    [plan] = plan_allocation(
        [order(("SET", 2))],
        {("MUG", "WH1"): 5, ("COASTER", "WH1"): 8},
        KINDS,
        {"SET": {"MUG": 1, "COASTER": 4}},
    ).orders
    assert sorted(reservations(plan)) == [("COASTER", "WH1", 8), ("MUG", "WH1", 2)]


stock_figures = st.dictionaries(
    st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(["WH1", "3PL", "FBA"])),
    st.integers(0, 20),
)
demands = st.lists(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(1, 15)), min_size=1, max_size=3
    ),
    min_size=1,
    max_size=8,
)


@given(stock_figures, demands)
def test_a_plan_never_reserves_more_than_is_there_and_accounts_for_every_unit(stock, wanted):
    orders = [order(*lines, n=i) for i, lines in enumerate(wanted)]
    plan = plan_allocation(orders, stock, KINDS, {}, MostStockFirst())
    for key, units in plan.reserved_by_key().items():
        assert units <= stock.get(key, 0)
        assert KINDS[key[1]] is not LocationKind.MARKETPLACE
    for op in plan.orders:
        for line in op.order.lines:
            reserved = sum(r.quantity for r in op.reservations if r.line_no == line.line_no)
            assert reserved + op.shortfall.get((line.line_no, line.sku), 0) == line.quantity
