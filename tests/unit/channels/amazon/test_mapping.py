"""Amazon orders (the models' own examples) as ordermesh sees them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ordermesh.adapters.channels.amazon.mapping import STATES, read_order, version_key
from ordermesh.domain.commands import ChannelOrder, ChannelState
from ordermesh.domain.orders import FulfilledBy
from ordermesh.ports.channels import OrderVersion, Unreadable
from tests.unit.channels.amazon.models import ORDERS, example_orders, model

ACCOUNT = "cha_TEST"


def snapshot(raw: dict[str, Any]) -> ChannelOrder:
    read = read_order(raw, ACCOUNT)
    assert isinstance(read, OrderVersion), read
    return read.order


def test_every_order_in_amazons_model_translates() -> None:
    for order_id, raw in example_orders().items():
        read = read_order(raw, ACCOUNT)
        assert isinstance(read, OrderVersion), f"{order_id}: {read}"
        assert read.order.channel_order_id == order_id
        assert read.order.channel == "amazon"
        assert read.order.channel_account == ACCOUNT


def test_a_shipped_prime_business_order_keeps_its_money_dates_and_address() -> None:
    order = snapshot(example_orders()["123-4567890-1234567"])

    assert order.state == ChannelState.SHIPPED
    assert order.is_prime
    assert order.is_business
    assert order.fulfilled_by is FulfilledBy.MERCHANT
    assert (order.currency, order.total) == ("USD", "154.99")
    assert order.marketplace == "ATVPDKIKX0DER"
    assert order.purchase_date == datetime(2024, 12, 25, 10, 30, tzinfo=UTC)
    assert order.updated_at == datetime(2024, 12, 25, 14, 45, tzinfo=UTC)
    assert order.ship_by == datetime(2024, 12, 27, 23, 59, 59, tzinfo=UTC)
    assert order.deliver_by == datetime(2024, 12, 30, 23, 59, 59, tzinfo=UTC)
    assert order.buyer_name == "John Smith"
    address = order.shipping_address
    assert address is not None
    assert (address.name, address.line1, address.line2) == (
        "John Smith",
        "123 Main Street",
        "Suite 456",
    )
    assert (address.city, address.state, address.postal_code, address.country) == (
        "Seattle",
        "WA",
        "98101",
        "US",
    )
    assert address.company == "Smith Industries LLC"
    assert address.line3 is None, "Amazon's empty strings are no address line"
    first = order.lines[0]
    assert (first.channel_line_id, first.channel_sku, first.quantity) == (
        "12345678901234",
        "ECHO-DOT-4-CHARCOAL",
        2,
    )
    assert first.unit_price is not None
    assert first.unit_price.count(".") == 1


def test_an_order_amazon_fulfils_is_marked_fulfilled_by_the_marketplace() -> None:
    order = snapshot(example_orders()["250-1234567-8901234"])

    assert order.fulfilled_by is FulfilledBy.MARKETPLACE
    assert order.currency == "JPY"
    assert [(ln.channel_sku, ln.quantity, ln.unit_price) for ln in order.lines] == [
        ("ECHO-DOT-4-JP-CHARCOAL", 1, "5980"),
        ("FIRE-TV-4K-MAX-JP", 2, "6980"),
    ]


def test_an_unshipped_order_is_released_to_ordermesh() -> None:
    order = snapshot(example_orders()["171-2345678-9012345"])

    assert order.state == ChannelState.RELEASED
    assert order.is_business
    assert not order.is_prime
    assert order.total == "1599.90"


def test_every_amazon_order_status_but_mcf_only_unfulfillable_has_a_meaning() -> None:
    statuses = model(ORDERS)["definitions"]["FulfillmentStatus"]["enum"]

    assert set(statuses) - set(STATES) == {"UNFULFILLABLE"}
    assert STATES["PENDING"] == ChannelState.PENDING
    assert STATES["UNSHIPPED"] == ChannelState.RELEASED
    assert STATES["CANCELLED"] == ChannelState.CANCELLED
    assert STATES["Canceled"] == ChannelState.CANCELLED


def test_a_pending_order_without_prices_or_address_still_comes_in() -> None:
    raw = example_orders()["171-9876543-2109876"]
    raw["fulfillment"]["fulfillmentStatus"] = "PENDING"
    del raw["recipient"], raw["proceeds"]
    for item in raw["orderItems"]:
        del item["product"]["price"], item["proceeds"]

    order = snapshot(raw)

    assert order.state == ChannelState.PENDING
    assert order.currency == "BRL", "the marketplace's currency"
    assert order.shipping_address is None
    assert order.total is None
    assert order.lines[0].unit_price is None


def test_a_buyers_cancellation_request_reaches_the_snapshot() -> None:
    raw = example_orders()["171-2345678-9012345"]
    raw["orderItems"][0]["cancellation"] = {
        "cancellationRequest": {"requester": "BUYER", "cancelReason": "Ordered by mistake"}
    }

    assert snapshot(raw).buyer_cancel_reason == "Ordered by mistake"
    assert snapshot(example_orders()["171-2345678-9012345"]).buyer_cancel_reason is None


def test_fields_amazon_adds_later_are_ignored() -> None:
    raw = example_orders()["123-4567890-1234567"]
    raw["somethingNew"] = {"nested": [1, 2]}
    raw["orderItems"][0]["product"]["brandNewField"] = "x"

    assert snapshot(raw).channel_order_id == "123-4567890-1234567"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda o: o["fulfillment"].update(fulfillmentStatus="TELEPORTED"), "TELEPORTED"),
        (lambda o: o.pop("fulfillment"), "FULFILLMENT"),
        (lambda o: o.pop("orderItems"), "orderItems"),
        (lambda o: o.update(lastUpdatedTime="yesterday"), "lastUpdatedTime"),
    ],
)
def test_an_order_that_cannot_be_read_says_why_and_keeps_its_payload(change, reason) -> None:
    raw = example_orders()["123-4567890-1234567"]
    change(raw)

    read = read_order(raw, ACCOUNT)

    assert isinstance(read, Unreadable)
    assert read.channel_order_id == "123-4567890-1234567"
    assert reason in read.reason
    assert "123-4567890-1234567" in read.payload


def test_each_version_of_an_order_has_its_own_key_whatever_the_time_format() -> None:
    raw = example_orders()["123-4567890-1234567"]
    first = read_order(raw, ACCOUNT)
    raw["lastUpdatedTime"] = "2024-12-25T14:45:00.000+00:00"
    same = read_order(raw, ACCOUNT)
    raw["lastUpdatedTime"] = "2024-12-25T14:46:00Z"
    later = read_order(raw, ACCOUNT)

    assert first.key == same.key == version_key(first.order)
    assert later.key != first.key
