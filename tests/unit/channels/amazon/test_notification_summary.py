"""ORDER_CHANGE notifications read the way Amazon's own model shows them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson

from ordermesh.adapters.channels.amazon.notifications import summary_version
from ordermesh.domain.commands import ChannelState
from ordermesh.domain.orders import FulfilledBy
from ordermesh.ports.channels import OrderVersion, Unreadable

from .models import model


def example() -> dict[str, Any]:
    return copy.deepcopy(model("OrderChangeNotification.json")["examples"][0])


def test_the_models_example_becomes_an_order_without_prices() -> None:
    version = summary_version(orjson.dumps(example()).decode(), "acc-1")

    assert isinstance(version, OrderVersion)
    order = version.order
    assert (order.channel_order_id, order.channel_account) == ("903-8868176-2219830", "acc-1")
    assert order.state == ChannelState.RELEASED  # Unshipped
    assert order.currency == "USD"
    # A second before the change: the full order Amazon stamps with it replaces this one.
    assert order.updated_at == datetime(2022, 11, 29, 19, 42, 3, 284000, tzinfo=UTC)
    assert order.purchase_date == datetime(2022, 7, 13, 19, 42, 4, 284000, tzinfo=UTC)
    assert [(ln.channel_line_id, ln.channel_sku, ln.quantity) for ln in order.lines] == [
        ("OIID34853450", "SellerSKUID1", 10)
    ]
    assert order.lines[0].unit_price is None
    assert order.fulfilled_by is FulfilledBy.MERCHANT
    assert (order.is_business, order.is_prime) == (True, False)
    assert order.buyer_cancel_reason == "Buyer Requested Cancel"
    assert order.ship_by == datetime(2022, 12, 7, 19, 42, 4, 284000, tzinfo=UTC)


def test_a_pending_afn_order_in_an_eventbridge_envelope() -> None:
    notification = example()
    summary = notification["Payload"]["OrderChangeNotification"]["Summary"]
    summary.update(OrderStatus="Pending", FulfillmentType="AFN", OrderPrograms=["Prime"])
    del summary["OrderItems"][0]["IsBuyerRequestedCancel"]
    envelope = {"version": "0", "detail-type": "ORDER_CHANGE", "detail": notification}

    version = summary_version(orjson.dumps(envelope).decode(), "acc-1")

    assert isinstance(version, OrderVersion)
    assert version.order.state == ChannelState.PENDING
    assert version.order.fulfilled_by is FulfilledBy.MARKETPLACE
    assert version.order.is_prime
    assert version.order.buyer_cancel_reason is None


def test_two_changes_of_one_order_are_two_versions() -> None:
    first = example()
    later = example()
    later["Payload"]["OrderChangeNotification"]["Summary"]["OrderStatus"] = "Canceled"
    a = summary_version(orjson.dumps(first).decode(), "acc-1")
    b = summary_version(orjson.dumps(later).decode(), "acc-1")
    again = summary_version(orjson.dumps(first).decode(), "acc-1")
    assert isinstance(a, OrderVersion)
    assert isinstance(b, OrderVersion)
    assert isinstance(again, OrderVersion)
    assert a.key != b.key
    assert a.key == again.key


def test_what_cannot_be_read_without_guessing_is_refused_with_the_reason() -> None:
    unknown_market = example()
    unknown_market["Payload"]["OrderChangeNotification"]["Summary"]["MarketplaceId"] = "XX"
    no_items = example()
    no_items["Payload"]["OrderChangeNotification"]["Summary"]["OrderItems"] = []
    odd_status = example()
    odd_status["Payload"]["OrderChangeNotification"]["Summary"]["OrderStatus"] = "Lost"

    reasons = []
    for bad in (unknown_market, no_items, odd_status):
        found = summary_version(orjson.dumps(bad).decode(), "acc-1")
        assert isinstance(found, Unreadable)
        reasons.append(found.reason)

    assert "marketplace" in reasons[0]
    assert "order item" in reasons[1]
    assert "Lost" in reasons[2]
