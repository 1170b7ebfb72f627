"""Reading orders the way a connector syncs them: by updated_at, page by page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import RunningSandbox

ORDERS = """
query Orders($after: String, $query: String) {
  orders(first: 5, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        id legacyResourceId name createdAt updatedAt cancelledAt cancelReason
        displayFinancialStatus displayFulfillmentStatus email currencyCode
        totalPriceSet { shopMoney { amount currencyCode } }
        shippingAddress { name address1 city provinceCode zip countryCodeV2 }
        lineItems(first: 10) {
          nodes { id sku quantity variant { id } originalUnitPriceSet { shopMoney { amount } } }
        }
        fulfillmentOrders(first: 5) {
          nodes {
            id status
            assignedLocation { location { id } }
            lineItems(first: 10) { nodes { id remainingQuantity lineItem { id } } }
          }
        }
        refunds { id createdAt totalRefundedSet { shopMoney { amount } } }
      }
    }
  }
}
"""


@pytest.fixture
def quiet_shop(start_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    """A shop whose generated orders are neither cancelled nor refunded behind the test's back."""
    return start_sandbox(cancel_share=0.0, refund_share=0.0, pending_share=0.0)


def all_pages(sandbox: RunningSandbox, query: str | None = None) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = sandbox.graphql(ORDERS, {"after": after, "query": query})["data"]["orders"]
        nodes.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def test_paging_through_orders_sees_every_order_once_in_updated_at_order(
    quiet_shop: RunningSandbox,
) -> None:
    for _ in range(3):
        quiet_shop.admin("POST", "/generate", {"count": 4})
        quiet_shop.advance(60)

    nodes = all_pages(quiet_shop)

    truth = quiet_shop.admin("GET", "/orders")
    assert [n["legacyResourceId"] for n in nodes] == [str(o["id"]) for o in truth]
    assert len({n["id"] for n in nodes}) == 12
    assert [n["updatedAt"] for n in nodes] == sorted(n["updatedAt"] for n in nodes)


def test_the_updated_at_filter_returns_orders_changed_since_the_cursor(
    quiet_shop: RunningSandbox,
) -> None:
    old = quiet_shop.admin("POST", "/generate", {"count": 3})["order_ids"]
    quiet_shop.advance(600)
    high_water_mark = "2026-01-05T09:05:00Z"
    new = quiet_shop.admin("POST", "/generate", {"count": 2})["order_ids"]
    quiet_shop.admin("POST", f"/orders/{old[0]}/touch", {"note": "gift wrap"})

    changed = all_pages(quiet_shop, f"updated_at:>'{high_water_mark}'")

    assert sorted(int(n["legacyResourceId"]) for n in changed) == sorted([*new, old[0]])


def test_an_order_reads_like_the_webhook_says(quiet_shop: RunningSandbox) -> None:
    [order_id] = quiet_shop.admin("POST", "/generate", {"count": 1})["order_ids"]
    rest = quiet_shop.admin("GET", "/orders")[0]

    result = quiet_shop.graphql(
        """query($id: ID!) { order(id: $id) { id name updatedAt displayFinancialStatus
             totalPriceSet { shopMoney { amount currencyCode } }
             lineItems(first: 10) { nodes { id sku quantity variant { id } } } } }""",
        {"id": f"gid://shopify/Order/{order_id}"},
    )

    order = result["data"]["order"]
    assert order["id"] == rest["admin_graphql_api_id"]
    assert order["name"] == rest["name"]
    assert order["updatedAt"] == rest["updated_at"]
    assert order["displayFinancialStatus"] == rest["financial_status"].upper()
    assert order["totalPriceSet"]["shopMoney"] == {
        "amount": rest["total_price"],
        "currencyCode": "USD",
    }
    assert [(n["sku"], n["quantity"]) for n in order["lineItems"]["nodes"]] == [
        (li["sku"], li["quantity"]) for li in rest["line_items"]
    ]
    assert [n["variant"]["id"] for n in order["lineItems"]["nodes"]] == [
        f"gid://shopify/ProductVariant/{li['variant_id']}" for li in rest["line_items"]
    ]


def test_an_unknown_order_is_null(sandbox: RunningSandbox) -> None:
    result = sandbox.graphql('{ order(id: "gid://shopify/Order/1") { id } }')

    assert result["data"] == {"order": None}


def test_a_connection_without_first_or_last_is_an_error(sandbox: RunningSandbox) -> None:
    result = sandbox.graphql("{ orders { nodes { id } } }")

    assert result["errors"][0]["message"] == "you must provide one of first or last"


def test_an_unknown_field_is_a_graphql_error(sandbox: RunningSandbox) -> None:
    result = sandbox.graphql("{ orders(first: 1) { nodes { id colour } } }")

    assert "colour" in result["errors"][0]["message"]
    assert "data" not in result


def test_cancelled_and_refunded_orders_show_it(quiet_shop: RunningSandbox) -> None:
    first, second = quiet_shop.admin("POST", "/generate", {"count": 2})["order_ids"]
    quiet_shop.admin("POST", f"/orders/{first}/cancel", {"reason": "inventory"})
    quiet_shop.admin("POST", f"/orders/{second}/refund", {})

    nodes = {int(n["legacyResourceId"]): n for n in all_pages(quiet_shop)}

    assert nodes[first]["cancelledAt"] is not None
    assert nodes[first]["cancelReason"] == "INVENTORY"
    assert nodes[second]["displayFinancialStatus"] == "REFUNDED"
    assert (
        nodes[second]["refunds"][0]["totalRefundedSet"]["shopMoney"]["amount"]
        == (nodes[second]["totalPriceSet"]["shopMoney"]["amount"])
    )


def test_a_cursor_from_another_sort_key_is_refused_not_crashed(
    quiet_shop: RunningSandbox,
) -> None:
    quiet_shop.admin("POST", "/generate", {"count": 3})
    page = quiet_shop.graphql(ORDERS, {"after": None, "query": None})["data"]["orders"]

    result = quiet_shop.graphql(
        "query($after: String) { orders(first: 2, after: $after, sortKey: ID) { nodes { id } } }",
        {"after": page["pageInfo"]["endCursor"]},
    )

    assert "Invalid cursor" in result["errors"][0]["message"]


def test_paging_backwards_with_last_and_before(quiet_shop: RunningSandbox) -> None:
    quiet_shop.admin("POST", "/generate", {"count": 5})
    ids = [str(o["id"]) for o in quiet_shop.admin("GET", "/orders")]
    query = """query($before: String) { orders(last: 2, before: $before, sortKey: ID) {
                 edges { cursor node { legacyResourceId } } pageInfo { hasPreviousPage } } }"""

    tail = quiet_shop.graphql(query, {"before": None})["data"]["orders"]
    earlier = quiet_shop.graphql(query, {"before": tail["edges"][0]["cursor"]})["data"]["orders"]

    assert [e["node"]["legacyResourceId"] for e in tail["edges"]] == ids[3:]
    assert [e["node"]["legacyResourceId"] for e in earlier["edges"]] == ids[1:3]
    assert earlier["pageInfo"]["hasPreviousPage"] is True
