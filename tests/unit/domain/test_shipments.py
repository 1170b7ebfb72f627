"""Shipping an order: partial and full shipments, refusals that name the field, confirmations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.domain import events
from ordermesh.domain.errors import IllegalTransition, ValidationFailed
from ordermesh.domain.orders import (
    Allocation,
    FulfilledBy,
    Hold,
    Order,
    OrderLine,
    OrderStatus,
)
from ordermesh.domain.shipments import Confirmation, ShipLine

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
S = OrderStatus


def an_allocated_order(
    *lines: tuple[str, int],
    location: str = "WH1",
    channel: str = "amazon",
    fulfilled_by: FulfilledBy = FulfilledBy.MERCHANT,
) -> Order:
    lines = lines or (("MUG-1", 2), ("TEE-1", 1))
    return Order(
        id="ord_1",
        channel=channel,
        channel_account="cha_1" if channel != "manual" else "manual",
        channel_order_id="302-1234567-1234567",
        status=S.ALLOCATED,
        purchase_date=NOW,
        lines=[
            OrderLine(i + 1, sku, qty, channel_line_id=f"item-{i + 1}")
            for i, (sku, qty) in enumerate(lines)
        ],
        currency="EUR",
        fulfilled_by=fulfilled_by,
        allocations=[Allocation(i + 1, sku, location, qty) for i, (sku, qty) in enumerate(lines)],
    )


def ship(order: Order, *wanted: ShipLine, n: int = 1, **kwargs: object):
    kwargs.setdefault("carrier", "UPS")
    kwargs.setdefault("tracking_number", f"1Z999AA1000000000{n}")
    kwargs.setdefault("shipped_at", NOW)
    return order.ship(
        f"shp_{n}",
        list(wanted) if wanted else None,
        actor="ops",
        at=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def test_shipping_every_line_ships_the_order_and_books_out_its_reservations():
    order = an_allocated_order()
    shipment, taken, leftover = ship(order)
    assert order.status is S.SHIPPED
    assert [(sl.line_no, sl.sku, sl.quantity) for sl in shipment.lines] == [
        (1, "MUG-1", 2),
        (2, "TEE-1", 1),
    ]
    assert sorted((a.sku, a.location, a.quantity) for a in taken) == [
        ("MUG-1", "WH1", 2),
        ("TEE-1", "WH1", 1),
    ]
    assert leftover == []
    assert order.allocations == []
    assert shipment.location == "WH1"
    assert shipment.confirmation is Confirmation.PENDING
    assert order.history[-1].action == "ship"
    assert "UPS 1Z999AA10000000001" in order.history[-1].reason
    recorded = [e for e in order.events if isinstance(e, events.ShipmentRecorded)]
    assert recorded[0].complete
    assert recorded[0].lines == ((1, "MUG-1", 2), (2, "TEE-1", 1))
    assert events.OrderShipped("ord_1") in order.events


def test_a_partial_shipment_leaves_the_rest_reserved_then_the_last_package_ships_the_order():
    order = an_allocated_order(("MUG-1", 3), ("TEE-1", 1))
    _, taken, _ = ship(order, ShipLine(2, sku="MUG-1"))
    assert order.status is S.PARTIALLY_SHIPPED
    assert [(a.sku, a.quantity) for a in taken] == [("MUG-1", 2)]
    assert sorted((a.sku, a.quantity) for a in order.allocations) == [("MUG-1", 1), ("TEE-1", 1)]
    assert order.unshipped_units() == {1: 1, 2: 1}
    assert events.OrderShipped("ord_1") not in order.events

    second, _, _ = ship(order, n=2)
    assert [(sl.sku, sl.quantity) for sl in second.lines] == [("MUG-1", 1), ("TEE-1", 1)]
    assert order.status is S.SHIPPED
    assert [h.to_status for h in order.history] == [S.PARTIALLY_SHIPPED, S.SHIPPED]


def test_a_second_partial_package_keeps_the_order_partially_shipped_and_is_in_its_history():
    order = an_allocated_order(("MUG-1", 3))
    ship(order, ShipLine(1, line_no=1))
    ship(order, ShipLine(1, line_no=1), n=2)
    assert order.status is S.PARTIALLY_SHIPPED
    assert [h.action for h in order.history] == ["ship", "ship"]
    assert order.unshipped_units() == {1: 1}


def test_shipping_more_than_was_ordered_is_refused_naming_the_line_quantity():
    order = an_allocated_order(("MUG-1", 2), ("TEE-1", 1))
    with pytest.raises(ValidationFailed) as refused:
        ship(order, ShipLine(1, sku="MUG-1"), ShipLine(2, sku="TEE-1"))
    assert refused.value.field == "lines[1].quantity"
    assert "2 to ship but only 1 left" in refused.value.message
    assert order.status is S.ALLOCATED
    assert order.shipments == []


def test_an_unknown_line_or_sku_is_refused_naming_the_field():
    order = an_allocated_order()
    with pytest.raises(ValidationFailed) as by_number:
        ship(order, ShipLine(1, line_no=7))
    assert by_number.value.field == "lines[0].line_no"
    with pytest.raises(ValidationFailed) as by_sku:
        ship(order, ShipLine(1, sku="MUG-1"), ShipLine(1, sku="NOPE"))
    assert by_sku.value.field == "lines[1].sku"
    assert "no line with SKU NOPE" in by_sku.value.message


@pytest.mark.parametrize("quantity", [0, -1])
def test_a_quantity_below_one_is_refused(quantity):
    with pytest.raises(ValidationFailed) as refused:
        ship(an_allocated_order(), ShipLine(quantity, line_no=1))
    assert refused.value.field == "lines[0].quantity"


def test_the_same_line_named_twice_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        ship(an_allocated_order(), ShipLine(1, line_no=1), ShipLine(1, sku="MUG-1"))
    assert refused.value.field == "lines[1]"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("carrier", " "),
        ("tracking_number", ""),
        ("tracking_number", "1Z 999"),
        ("tracking_url", "ftp://x"),
    ],
)
def test_missing_or_malformed_tracking_is_refused_naming_the_field(field, value):
    with pytest.raises(ValidationFailed) as refused:
        ship(an_allocated_order(), **{field: value})
    assert refused.value.field == field


def test_a_ship_date_in_the_future_is_refused():
    with pytest.raises(ValidationFailed) as refused:
        ship(an_allocated_order(), shipped_at=NOW + timedelta(hours=2))
    assert refused.value.field == "shipped_at"


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (S.OPEN, "allocate it first"),
        (S.BACKORDERED, "still missing"),
        (S.SHIPPED, "shipped already"),
        (S.CANCELLED, "cancelled"),
        (S.PENDING, "allocate it first"),
    ],
)
def test_an_order_that_cannot_ship_is_refused_saying_why(status, why):
    order = an_allocated_order()
    order.status = status
    with pytest.raises(IllegalTransition) as refused:
        ship(order)
    assert refused.value.field == "status"
    assert why in refused.value.message
    assert order.shipments == []


def test_a_held_order_does_not_ship():
    order = an_allocated_order()
    order.holds.append(Hold("fraud", "address mismatch", "ops", NOW))
    with pytest.raises(ValidationFailed) as refused:
        ship(order)
    assert refused.value.field == "holds"


def test_lines_reserved_at_two_locations_ship_as_one_package_per_location():
    order = an_allocated_order(("MUG-1", 2), ("TEE-1", 1))
    order.allocations = [
        Allocation(1, "MUG-1", "WH1", 2),
        Allocation(2, "TEE-1", "WH2", 1),
    ]
    with pytest.raises(ValidationFailed) as refused:
        ship(order)
    assert refused.value.field == "location"
    assert "WH1, WH2" in refused.value.message
    from_wh2, taken, _ = ship(order, location="WH2")
    assert [(sl.sku, sl.quantity) for sl in from_wh2.lines] == [("TEE-1", 1)]
    assert [(a.location, a.quantity) for a in taken] == [("WH2", 1)]
    assert order.status is S.PARTIALLY_SHIPPED
    ship(order, location="WH1", n=2)
    assert order.status is S.SHIPPED


def test_one_line_split_over_two_locations_cannot_all_leave_from_one():
    order = an_allocated_order(("MUG-1", 3))
    order.allocations = [Allocation(1, "MUG-1", "WH1", 2), Allocation(1, "MUG-1", "WH2", 1)]
    with pytest.raises(ValidationFailed) as refused:
        ship(order, ShipLine(3, line_no=1), location="WH1")
    assert refused.value.field == "lines[0].quantity"
    _, taken, _ = ship(order, ShipLine(2, line_no=1), location="WH1")
    assert [(a.location, a.quantity) for a in taken] == [("WH1", 2)]
    assert order.allocations == [Allocation(1, "MUG-1", "WH2", 1)]


def test_a_bundle_line_ships_its_components_in_proportion():
    order = an_allocated_order(("GIFT-BOX", 2))
    # The bundle reserved its components: 2 mugs and 1 tee per box.
    order.allocations = [Allocation(1, "MUG-1", "WH1", 4), Allocation(1, "TEE-1", "WH1", 2)]
    shipment, taken, _ = ship(order, ShipLine(1, sku="GIFT-BOX"))
    assert [(sl.sku, sl.quantity) for sl in shipment.lines] == [("GIFT-BOX", 1)]
    assert sorted((a.sku, a.quantity) for a in taken) == [("MUG-1", 2), ("TEE-1", 1)]
    assert sorted((a.sku, a.quantity) for a in order.allocations) == [("MUG-1", 2), ("TEE-1", 1)]


@pytest.mark.parametrize(
    ("channel", "fulfilled_by"),
    [("manual", FulfilledBy.MERCHANT), ("amazon", FulfilledBy.MARKETPLACE)],
)
def test_nobody_is_told_of_a_manual_or_marketplace_fulfilled_shipment(channel, fulfilled_by):
    order = an_allocated_order(channel=channel, fulfilled_by=fulfilled_by)
    shipment, _, _ = ship(order)
    assert shipment.confirmation is Confirmation.NOT_REQUIRED


def test_the_channels_answer_is_kept_on_the_shipment_and_in_the_history():
    order = an_allocated_order()
    shipment, _, _ = ship(order)
    assert order.record_confirmation(
        shipment.id, confirmed=False, message="Invalid tracking number", reference=None, at=NOW
    )
    rejected = order.shipment(shipment.id)
    assert rejected.confirmation is Confirmation.REJECTED
    assert rejected.channel_message == "Invalid tracking number"
    assert order.history[-1].action == "shipment_rejected"
    assert "Invalid tracking number" in order.history[-1].reason
    assert events.ShipmentRejected("ord_1", shipment.id, "Invalid tracking number") in order.events

    assert order.record_confirmation(
        shipment.id, confirmed=True, message="", reference="F-1", at=NOW
    )
    assert order.shipment(shipment.id).confirmation is Confirmation.CONFIRMED
    assert order.shipment(shipment.id).channel_reference == "F-1"
    # Once confirmed, a repeat or a late refusal of a resend changes nothing.
    assert not order.record_confirmation(
        shipment.id, confirmed=True, message="", reference="F-1", at=NOW
    )
    assert not order.record_confirmation(
        shipment.id, confirmed=False, message="duplicate", reference=None, at=NOW
    )
    assert order.shipment(shipment.id).confirmation is Confirmation.CONFIRMED


@settings(max_examples=150, deadline=None)
@given(
    ordered=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    requests=st.lists(
        st.lists(st.tuples(st.integers(1, 5), st.integers(-1, 6)), min_size=1, max_size=4),
        max_size=6,
    ),
)
def test_whatever_is_asked_an_order_never_ships_more_than_was_ordered(ordered, requests):
    order = an_allocated_order(*((f"SKU-{i}", q) for i, q in enumerate(ordered)))
    reserved = sum(ordered)
    booked_out = 0
    for n, request in enumerate(requests):
        try:
            _, taken, leftover = ship(
                order, *(ShipLine(q, line_no=line) for line, q in request), n=n
            )
        except (ValidationFailed, IllegalTransition):
            continue
        booked_out += sum(a.quantity for a in taken)
        assert leftover == []
    shipped = order.shipped_units()
    for line in order.lines:
        assert 0 <= shipped[line.line_no] <= line.quantity
    # Every unit shipped left the stock once; every unit not shipped is still reserved.
    assert booked_out == sum(shipped.values())
    assert booked_out + sum(a.quantity for a in order.allocations) == reserved
    complete = all(shipped[ln.line_no] == ln.quantity for ln in order.lines)
    if complete:
        assert order.status is S.SHIPPED
    elif any(shipped.values()):
        assert order.status is S.PARTIALLY_SHIPPED
    else:
        assert order.status is S.ALLOCATED
