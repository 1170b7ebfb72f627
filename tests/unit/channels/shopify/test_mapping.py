"""A Shopify order reads the same into ordermesh whether it came by webhook or by poll."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ordermesh.adapters.channels.shopify import mapping
from ordermesh.domain.commands import ChannelState
from ordermesh.ports.channels import OrderVersion, Unreadable

from .payloads import graphql_order, webhook_body, webhook_order

ACCOUNT = "cha_shop"


def polled(**changes: object) -> OrderVersion:
    version = mapping.read_graphql_order(graphql_order(**changes), account_id=ACCOUNT)
    assert isinstance(version, OrderVersion), version
    return version


def pushed(**changes: object) -> OrderVersion:
    version = mapping.read_webhook_order(webhook_body(**changes), account_id=ACCOUNT)
    assert isinstance(version, OrderVersion), version
    return version


def test_a_paid_order_arrives_released_with_its_lines_prices_and_address() -> None:
    order = polled().order

    assert order.channel == "shopify"
    assert order.channel_account == ACCOUNT
    assert order.channel_order_id == "5678901234"
    assert order.state == ChannelState.RELEASED
    assert order.currency == "USD"
    assert order.total == "57.50"
    assert order.purchase_date == datetime(2026, 1, 5, 8, 59, 58, tzinfo=UTC)
    assert order.updated_at == datetime(2026, 1, 5, 9, 2, 30, tzinfo=UTC)
    assert [
        (li.channel_line_id, li.channel_sku, li.quantity, li.unit_price) for li in order.lines
    ] == [
        ("11001", "MUG-BLUE", 2, "12.50"),
        ("11002", "TEE-M", 1, "32.50"),
    ]
    assert order.buyer_email == "ada@example.com"
    assert order.buyer_name == "Ada Lovelace"
    address = order.shipping_address
    assert address is not None
    assert (address.line1, address.line2, address.city, address.state) == (
        "350 Fifth Avenue",
        "Floor 34",
        "New York",
        "NY",
    )
    assert (address.postal_code, address.country) == ("10118", "US")


def test_the_webhook_and_the_poll_of_one_version_are_the_same_order_under_one_key() -> None:
    from_poll, from_hook = polled(), pushed()

    assert from_hook.order == from_poll.order
    assert from_hook.key == from_poll.key
    assert from_hook.key.startswith("5678901234@2026-01-05T09:02:30.000000Z#")


def test_two_changes_within_one_second_have_different_keys() -> None:
    paid, fulfilled = pushed(), pushed(fulfillment_status="fulfilled")
    assert paid.order.updated_at == fulfilled.order.updated_at
    assert paid.key != fulfilled.key


def test_a_newer_version_of_the_order_has_a_new_key() -> None:
    assert pushed(updated_at="2026-01-05T04:05:00-05:00").key != pushed().key


@pytest.mark.parametrize(
    ("financial", "expected"),
    [
        ("PENDING", ChannelState.PENDING),
        ("AUTHORIZED", ChannelState.RELEASED),
        ("PAID", ChannelState.RELEASED),
        ("PARTIALLY_PAID", ChannelState.RELEASED),
        ("PARTIALLY_REFUNDED", ChannelState.RELEASED),
        ("VOIDED", ChannelState.PENDING),
        ("EXPIRED", ChannelState.PENDING),
        ("SOMETHING_NEW", ChannelState.PENDING),
        (None, ChannelState.PENDING),
    ],
)
def test_payment_decides_whether_an_unshipped_order_may_take_stock(
    financial: str | None, expected: str
) -> None:
    assert polled(displayFinancialStatus=financial).order.state == expected
    rest = financial.lower() if financial else None
    assert pushed(financial_status=rest).order.state == expected


def test_an_unpaid_order_is_pending_so_it_is_not_allocated() -> None:
    assert pushed(financial_status="pending").order.state == ChannelState.PENDING


@pytest.mark.parametrize(
    ("graphql", "rest", "expected"),
    [
        ("FULFILLED", "fulfilled", ChannelState.SHIPPED),
        ("PARTIALLY_FULFILLED", "partial", ChannelState.PARTIALLY_SHIPPED),
        ("UNFULFILLED", None, ChannelState.RELEASED),
        ("RESTOCKED", "restocked", ChannelState.RELEASED),
    ],
)
def test_what_shopify_fulfilled_is_shipped(graphql: str, rest: str | None, expected: str) -> None:
    assert polled(displayFulfillmentStatus=graphql).order.state == expected
    assert pushed(fulfillment_status=rest).order.state == expected


def test_a_cancelled_order_is_cancelled_whatever_the_payment() -> None:
    cancelled = polled(
        cancelledAt="2026-01-05T10:00:00Z", cancelReason="CUSTOMER", displayFinancialStatus="VOIDED"
    )
    assert cancelled.order.state == ChannelState.CANCELLED
    hook = pushed(cancelled_at="2026-01-05T05:00:00-05:00", cancel_reason="customer")
    assert hook.order.state == ChannelState.CANCELLED


def test_units_refunded_before_shipping_are_not_sent() -> None:
    body = webhook_order(financial_status="partially_refunded")
    body["line_items"][1]["current_quantity"] = 0
    version = mapping.read_webhook_order(json.dumps(body).encode(), account_id=ACCOUNT)
    assert isinstance(version, OrderVersion)
    assert [(li.channel_sku, li.quantity) for li in version.order.lines] == [("MUG-BLUE", 2)]
    assert version.order.state == ChannelState.RELEASED


def test_an_order_refunded_in_full_before_shipping_has_nothing_left_to_send() -> None:
    node = graphql_order(displayFinancialStatus="REFUNDED")
    for line in node["lineItems"]["nodes"]:
        line["currentQuantity"] = 0
    version = mapping.read_graphql_order(node, account_id=ACCOUNT)
    assert isinstance(version, OrderVersion)
    assert version.order.state == ChannelState.CANCELLED
    assert [li.quantity for li in version.order.lines] == [2, 1]


def test_a_line_without_a_sku_is_named_by_its_variant_so_a_listing_can_map_it() -> None:
    node = graphql_order()
    node["lineItems"]["nodes"][0]["sku"] = None
    version = mapping.read_graphql_order(node, account_id=ACCOUNT)
    assert isinstance(version, OrderVersion)
    assert version.order.lines[0].channel_sku == "shopify-variant-44001"


def test_an_incomplete_address_leaves_the_order_importable_without_one() -> None:
    body = webhook_order()
    body["shipping_address"]["zip"] = None
    version = mapping.read_webhook_order(json.dumps(body).encode(), account_id=ACCOUNT)
    assert isinstance(version, OrderVersion)
    assert version.order.shipping_address is None
    assert len(version.order.lines) == 2


def test_a_payload_that_is_not_an_order_is_reported_with_the_reason() -> None:
    broken = graphql_order()
    del broken["updatedAt"]
    result = mapping.read_graphql_order(broken, account_id=ACCOUNT)
    assert isinstance(result, Unreadable)
    assert result.channel_order_id == "5678901234"
    assert "updatedAt" in result.reason
    assert '"name":"#1042"' in result.payload

    garbage = mapping.read_webhook_order(b"{not json", account_id=ACCOUNT)
    assert isinstance(garbage, Unreadable)


def test_money_stays_exact() -> None:
    order = polled(totalPriceSet={"shopMoney": {"amount": "0.30", "currencyCode": "USD"}}).order
    assert Decimal(order.total or "0") == Decimal("0.30")
