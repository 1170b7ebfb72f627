from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ordermesh.domain import events
from ordermesh.domain.errors import IllegalTransition, ValidationFailed
from ordermesh.domain.orders import (
    TRANSITIONS,
    Address,
    Allocation,
    Order,
    OrderLine,
    OrderStatus,
)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
S = OrderStatus


def an_order(status: OrderStatus = S.OPEN, *lines: tuple[str, int]) -> Order:
    lines = lines or (("MUG-1", 2),)
    return Order(
        id="ord_1",
        channel="amazon",
        channel_account="amazon-eu",
        channel_order_id="302-1234567-1234567",
        status=status,
        purchase_date=NOW,
        lines=[OrderLine(i + 1, sku, qty) for i, (sku, qty) in enumerate(lines)],
        currency="EUR",
    )


def test_every_transition_is_recorded_with_who_when_and_why():
    order = an_order(S.PENDING)
    order.release(actor="amazon", at=NOW)
    [entry] = order.history
    assert (entry.from_status, entry.to_status, entry.actor, entry.at) == (
        S.PENDING,
        S.OPEN,
        "amazon",
        NOW,
    )
    assert entry.reason == "released by the channel"
    assert events.OrderStatusChanged("ord_1", "pending", "open") in order.events


@pytest.mark.parametrize(
    ("status", "target"),
    [(s, t) for s in OrderStatus for t in OrderStatus if t not in TRANSITIONS[s]],
)
def test_an_illegal_transition_is_refused_saying_which_and_why(status, target):
    order = an_order(status)
    with pytest.raises(IllegalTransition) as refused:
        order.transition(target, actor="ops", reason="test", at=NOW)
    assert f"from {status} to {target}" in refused.value.message
    assert order.status is status
    assert order.history == []


def test_a_shipped_order_can_no_longer_be_cancelled():
    order = an_order(S.SHIPPED)
    with pytest.raises(IllegalTransition, match="only be cancelled before it has shipped"):
        order.cancel(actor="ops", reason="too late", at=NOW)


def test_cancelling_hands_back_every_reservation():
    order = an_order(S.OPEN)
    reserved = [Allocation(1, "MUG-1", "WH1", 1), Allocation(1, "MUG-1", "3PL", 1)]
    order.add_allocations(reserved, {}, actor="ordermesh", at=NOW)
    assert order.status is S.ALLOCATED
    assert order.cancel(actor="ops", reason="buyer asked", at=NOW) == reserved
    assert order.allocations == []
    assert order.status is S.CANCELLED


def test_an_order_short_of_stock_is_backordered_then_allocated_when_the_rest_comes():
    order = an_order(S.OPEN, ("MUG-1", 3))
    order.add_allocations([Allocation(1, "MUG-1", "WH1", 1)], {(1, "MUG-1"): 2}, actor="o", at=NOW)
    assert order.status is S.BACKORDERED
    assert order.demand({}) == {(1, "MUG-1"): 2}
    order.add_allocations([Allocation(1, "MUG-1", "WH1", 2)], {}, actor="o", at=NOW)
    assert order.status is S.ALLOCATED
    assert order.demand({}) == {}


def test_a_bundle_line_demands_its_components():
    order = an_order(S.OPEN, ("GIFT-SET", 2))
    assert order.demand({"GIFT-SET": {"MUG-1": 1, "COASTER": 4}}) == {
        (1, "MUG-1"): 2,
        (1, "COASTER"): 8,
    }


def test_a_held_order_is_not_allocated_until_the_hold_is_released():
    order = an_order(S.OPEN)
    order.hold("fraud", reason="address mismatch", actor="ops", at=NOW)
    assert not order.can_allocate
    with pytest.raises(ValidationFailed, match="already on fraud hold"):
        order.hold("fraud", reason="again", actor="ops", at=NOW)
    order.release_hold(actor="ops", at=NOW)
    assert order.can_allocate
    assert [h.action for h in order.history] == ["hold", "release_hold"]


def test_following_the_channel_only_moves_forward():
    order = an_order(S.OPEN)
    order.follow(S.SHIPPED, actor="amazon", reason="shipped outside ordermesh", at=NOW)
    assert order.status is S.SHIPPED
    with pytest.raises(IllegalTransition):
        order.follow(S.OPEN, actor="amazon", reason="back?", at=NOW)


def test_an_address_needs_an_iso_country():
    with pytest.raises(ValidationFailed) as refused:
        Address("Ann", "1 Road", "Berlin", "10115", "Germany")
    assert refused.value.field == "shipping_address.country"


def test_an_order_needs_lines():
    with pytest.raises(ValidationFailed):
        Order("o", "manual", "manual", "M-1", S.OPEN, NOW, [], "EUR")


def test_lines_first_known_without_money_are_completed_and_nothing_known_is_overwritten():
    from ordermesh.domain.money import Money

    eur = lambda amount: Money.of(amount, "EUR")  # noqa: E731
    order = an_order(S.OPEN)
    order.lines = [
        OrderLine(1, "MUG-1", 2, channel_line_id="item-1", channel_sku="AMZ-MUG"),
        OrderLine(2, "CUP-1", 1, channel_sku="AMZ-CUP"),
        OrderLine(3, "PEN-1", 1, unit_price=eur("1.00"), channel_sku="AMZ-PEN"),
    ]

    def given(no: int, channel_sku: str, qty: int, item: str, price: str, tax: str | None = None):
        taxed = eur(tax) if tax else None
        return OrderLine(no, channel_sku, qty, eur(price), taxed, None, item, channel_sku)

    completed = order.complete_lines(
        [
            given(1, "AMZ-PEN", 1, "item-3", "9.99"),
            given(2, "AMZ-MUG", 2, "item-1", "12.50", tax="2.00"),
            given(3, "AMZ-CUP", 1, "item-2", "4.00"),
        ]
    )

    assert completed == [3, 1, 2]
    mug, cup, pen = order.lines
    assert (mug.unit_price, mug.tax, mug.quantity, mug.sku) == (
        eur("12.50"),
        eur("2.00"),
        2,
        "MUG-1",
    )
    assert (cup.unit_price, cup.channel_line_id) == (eur("4.00"), "item-2")
    # The price we had stays; only the missing line id is filled in.
    assert (pen.unit_price, pen.channel_line_id) == (eur("1.00"), "item-3")
    assert (
        order.complete_lines(
            [OrderLine(1, "AMZ-MUG", 2, unit_price=eur("1"), channel_line_id="item-1")]
        )
        == []
    )
