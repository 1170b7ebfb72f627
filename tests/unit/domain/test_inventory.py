from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordermesh.domain.errors import StockInvariantBroken, ValidationFailed
from ordermesh.domain.inventory import Movement, MovementKind, StockLevel, ledger_totals


def test_receiving_adds_to_on_hand_and_records_a_receipt():
    level = StockLevel("MUG-1", "WH1")
    move = level.receive(10, reference="PO-7")
    assert (level.on_hand, level.reserved, level.available) == (10, 0, 10)
    assert move == Movement("MUG-1", "WH1", MovementKind.RECEIPT, 10, 0, "received", "PO-7")


def test_reserved_units_cannot_be_adjusted_away():
    level = StockLevel("MUG-1", "WH1", on_hand=5, reserved=4)
    with pytest.raises(StockInvariantBroken, match="4 reserved would exceed 3 on hand"):
        level.adjust(-2, reason="broken in the warehouse")
    assert (level.on_hand, level.reserved) == (5, 4)


def test_an_adjustment_needs_a_reason():
    with pytest.raises(ValidationFailed) as refused:
        StockLevel("MUG-1", "WH1", on_hand=5).adjust(-1, reason=" ")
    assert refused.value.field == "reason"


def test_a_cycle_count_books_the_variance_and_nothing_when_it_agrees():
    level = StockLevel("MUG-1", "WH1", on_hand=10)
    move = level.count(7)
    assert move is not None
    assert (move.kind, move.on_hand_delta) == (MovementKind.COUNT, -3)
    assert "counted 7, system 10" in move.reason
    assert level.count(7) is None


def test_shipping_takes_units_out_of_on_hand_and_reserved_together():
    level = StockLevel("MUG-1", "WH1", on_hand=10, reserved=3)
    level.ship(3, reference="ORDER-1")
    assert (level.on_hand, level.reserved, level.available) == (7, 0, 7)


def test_more_cannot_be_reserved_than_is_available():
    level = StockLevel("MUG-1", "WH1", on_hand=2)
    with pytest.raises(StockInvariantBroken):
        level.reserve(3, reference="ORDER-1")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_quantities_are_whole_positive_numbers(bad):
    with pytest.raises(ValidationFailed):
        StockLevel("MUG-1", "WH1").receive(bad)


movement = st.one_of(
    st.tuples(st.just("receive"), st.integers(1, 50)),
    st.tuples(st.just("adjust"), st.integers(-50, 50).filter(bool)),
    st.tuples(st.just("count"), st.integers(0, 80)),
    st.tuples(st.just("reserve"), st.integers(1, 30)),
    st.tuples(st.just("release"), st.integers(1, 30)),
    st.tuples(st.just("ship"), st.integers(1, 30)),
    st.tuples(st.just("restock"), st.integers(1, 10)),
)


@given(st.lists(movement, max_size=60))
def test_any_sequence_of_movements_keeps_the_invariants_and_the_ledger_sums_to_the_level(ops):
    level = StockLevel("MUG-1", "WH1")
    ledger: list[Movement] = []
    for op, quantity in ops:
        before = (level.on_hand, level.reserved)
        try:
            if op == "adjust":
                move = level.adjust(quantity, reason="property test")
            elif op == "count":
                move = level.count(quantity)
            elif op in ("reserve", "release", "ship", "restock"):
                move = getattr(level, op)(quantity, reference="property")
            else:
                move = getattr(level, op)(quantity)
        except StockInvariantBroken:
            # A refused movement changes nothing.
            assert (level.on_hand, level.reserved) == before
            continue
        if move is not None:
            ledger.append(move)
        assert 0 <= level.reserved <= level.on_hand
    assert ledger_totals(ledger) == (level.on_hand, level.reserved)
