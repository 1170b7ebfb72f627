"""Webhooks as a merchant's endpoint sees them, faults included."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest

from ordermesh.sandbox.shopify import API_VERSION

from .conftest import SECRET, TOKEN, Receiver, RunningSandbox


@pytest.fixture
def shop(start_sandbox: Callable[..., RunningSandbox], receiver: Receiver) -> RunningSandbox:
    return start_sandbox(webhook_url=receiver.url)


def place_paid_order(shop: RunningSandbox) -> dict:
    return shop.admin("POST", "/orders", {"lines": [{"sku": "OM-003", "quantity": 1}]})


def place_pending_order(shop: RunningSandbox) -> dict:
    return shop.admin(
        "POST",
        "/orders",
        {"lines": [{"sku": "OM-003", "quantity": 1}], "financial_status": "PENDING"},
    )


def test_a_new_order_is_announced_signed_with_the_app_secret(
    shop: RunningSandbox, receiver: Receiver
) -> None:
    order = place_paid_order(shop)
    shop.flush()

    create = receiver.received[0]
    expected = base64.b64encode(hmac.new(SECRET.encode(), create.body, hashlib.sha256).digest())
    assert hmac.compare_digest(create.headers["x-shopify-hmac-sha256"].encode(), expected)
    assert create.topic == "orders/create"
    assert create.headers["x-shopify-shop-domain"] == "ordermesh-demo.myshopify.com"
    assert create.headers["x-shopify-api-version"] == API_VERSION
    assert create.headers["x-shopify-triggered-at"] == "2026-01-05T09:00:00Z"
    assert create.headers["x-shopify-webhook-id"]
    assert create.headers["content-type"] == "application/json"
    payload = create.payload
    assert payload["id"] == order["id"]
    assert payload["admin_graphql_api_id"] == f"gid://shopify/Order/{order['id']}"
    assert payload["financial_status"] == "paid"
    assert payload["fulfillment_status"] is None
    assert payload["line_items"][0]["sku"] == "OM-003"
    assert payload["line_items"][0]["price"] == "24.00"
    assert [r.topic for r in receiver.received] == ["orders/create", "orders/paid"]


def test_cancel_and_refund_are_announced(shop: RunningSandbox, receiver: Receiver) -> None:
    first = place_paid_order(shop)
    second = place_paid_order(shop)
    shop.admin("POST", f"/orders/{first['id']}/cancel", {"reason": "customer"})
    shop.admin("POST", f"/orders/{second['id']}/refund", {"note": "damaged"})
    shop.flush()

    topics = [r.topic for r in receiver.received][4:]
    assert topics == ["orders/cancelled", "orders/updated", "refunds/create", "orders/updated"]
    cancelled = receiver.received[4].payload
    assert cancelled["cancelled_at"] == "2026-01-05T09:00:00Z"
    assert cancelled["cancel_reason"] == "customer"
    refund = receiver.received[6].payload
    assert refund["order_id"] == second["id"]
    assert refund["refund_line_items"][0]["quantity"] == 1


def test_a_failing_endpoint_is_retried_under_the_same_webhook_id(
    shop: RunningSandbox, receiver: Receiver
) -> None:
    receiver.fail_next = 2
    place_pending_order(shop)
    shop.flush()

    assert len(receiver.received) == 3
    assert len({r.headers["x-shopify-webhook-id"] for r in receiver.received}) == 1
    attempts = shop.admin("GET", "/deliveries")
    assert [(a["attempt"], a["outcome"], a["status_code"]) for a in attempts] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "delivered", 200),
    ]
    # Retries are spaced by the backoff schedule on the sandbox's clock: 60 s, then 300 s.
    assert [a["at"] for a in attempts] == [
        "2026-01-05T09:00:00Z",
        "2026-01-05T09:01:00Z",
        "2026-01-05T09:06:00Z",
    ]


def test_after_the_last_retry_the_webhook_is_given_up(
    shop: RunningSandbox, receiver: Receiver
) -> None:
    receiver.fail_next = 10
    place_pending_order(shop)
    shop.flush()

    attempts = shop.admin("GET", "/deliveries")
    assert len(attempts) == 4
    assert {a["outcome"] for a in attempts} == {"failed"}


def test_a_dropped_webhook_never_arrives(shop: RunningSandbox, receiver: Receiver) -> None:
    shop.admin("POST", "/faults", {"webhook_drop": 1})
    place_paid_order(shop)
    shop.flush()

    assert [r.topic for r in receiver.received] == ["orders/paid"]
    assert shop.admin("GET", "/stats")["webhooks_dropped"] == 1


def test_a_duplicated_webhook_arrives_twice_with_one_id(
    shop: RunningSandbox, receiver: Receiver
) -> None:
    shop.admin("POST", "/faults", {"webhook_duplicate": 1})
    place_pending_order(shop)
    shop.flush()

    assert [r.topic for r in receiver.received] == ["orders/create", "orders/create"]
    first, second = receiver.received
    assert first.headers["x-shopify-webhook-id"] == second.headers["x-shopify-webhook-id"]
    assert first.body == second.body


def test_an_update_can_arrive_before_the_create(shop: RunningSandbox, receiver: Receiver) -> None:
    shop.admin("POST", "/faults", {"webhook_reorder": 1})
    order = place_pending_order(shop)
    shop.advance(30)
    shop.admin("POST", f"/orders/{order['id']}/touch", {"note": "leave at the door"})
    shop.flush()

    assert [r.topic for r in receiver.received] == ["orders/updated", "orders/create"]
    updated, created = (r.payload for r in receiver.received)
    assert updated["updated_at"] > created["updated_at"]


def test_a_past_webhook_can_be_resent_under_its_id(
    shop: RunningSandbox, receiver: Receiver
) -> None:
    place_pending_order(shop)
    shop.flush()
    webhook_id = receiver.received[0].headers["x-shopify-webhook-id"]

    shop.admin("POST", "/webhooks/resend", {"webhook_id": webhook_id})
    shop.flush()

    assert [r.headers["x-shopify-webhook-id"] for r in receiver.received] == [webhook_id] * 2


def test_injected_throttles_and_server_errors_hit_the_next_calls(shop: RunningSandbox) -> None:
    shop.admin(
        "POST",
        "/faults",
        {"graphql_throttle": 2, "graphql_server_error": 1, "graphql_server_error_status": 502},
    )
    headers = {"X-Shopify-Access-Token": TOKEN}
    query = {"query": "{ shop { name } }"}

    answers = [shop.client.post(shop.graphql_url, json=query, headers=headers) for _ in range(4)]

    assert [a.status_code for a in answers] == [502, 200, 200, 200]
    assert [
        (a.json().get("errors") or [{}])[0].get("extensions", {}).get("code") for a in answers[1:]
    ] == ["THROTTLED", "THROTTLED", None]
    stats = shop.admin("GET", "/stats")
    assert stats["injected_throttled"] == 2
    assert stats["injected_server_errors"] == 1
    assert stats["throttled_total"] == 2


def test_without_a_webhook_url_nothing_is_sent_but_all_is_recorded(
    sandbox: RunningSandbox,
) -> None:
    place_pending_order(sandbox)
    sandbox.flush()

    assert [a["outcome"] for a in sandbox.admin("GET", "/deliveries")] == ["unconfigured"]


def test_shipping_through_the_api_is_announced(shop: RunningSandbox, receiver: Receiver) -> None:
    order = place_paid_order(shop)
    fo = shop.graphql(
        "query($id: ID!) { order(id: $id) { fulfillmentOrders(first: 1) { nodes { id } } } }",
        {"id": order["admin_graphql_api_id"]},
    )["data"]["order"]["fulfillmentOrders"]["nodes"][0]
    shop.advance(3600)

    shop.graphql(
        """mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) {
             userErrors { message } } }""",
        {
            "f": {
                "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}],
                "trackingInfo": {"company": "DHL Express", "number": "JD014600006281230704"},
            }
        },
    )
    shop.flush()

    topics = [r.topic for r in receiver.received][2:]
    assert topics == ["fulfillments/create", "orders/fulfilled", "orders/updated"]
    fulfillment = receiver.received[2].payload
    assert fulfillment["order_id"] == order["id"]
    assert fulfillment["tracking_company"] == "DHL Express"
    assert fulfillment["tracking_number"] == "JD014600006281230704"
    assert fulfillment["line_items"][0]["sku"] == "OM-003"
    updated = receiver.received[4].payload
    assert updated["fulfillment_status"] == "fulfilled"
    assert updated["updated_at"] == "2026-01-05T10:00:00Z"


def test_an_unreachable_endpoint_is_retried_then_given_up(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    sandbox = start_sandbox(webhook_url="http://127.0.0.1:9/closed")

    place_pending_order(sandbox)
    sandbox.flush()

    attempts = sandbox.admin("GET", "/deliveries")
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert all(a["outcome"] == "failed" and a["error"] for a in attempts)
