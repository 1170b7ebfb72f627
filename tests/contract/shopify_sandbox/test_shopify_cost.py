"""Calculated query cost, the leaky bucket, and Shopify's THROTTLED answer."""

from __future__ import annotations

from collections.abc import Callable

from .conftest import TOKEN, RunningSandbox

# orders: 2 + 10 x (order 1 + lineItems (2 + 5 x 1) + totalPriceSet 1 + shopMoney 1) = 102
ORDERS_WITH_LINES = """{
  orders(first: 10) {
    nodes {
      id
      totalPriceSet { shopMoney { amount } }
      lineItems(first: 5) { nodes { id sku } }
    }
  }
}"""


def test_the_requested_cost_follows_shopifys_rules(sandbox: RunningSandbox) -> None:
    cost = sandbox.graphql(ORDERS_WITH_LINES)["extensions"]["cost"]

    assert cost["requestedQueryCost"] == 102


def test_the_actual_cost_counts_what_came_back_and_the_rest_is_refunded(
    sandbox: RunningSandbox,
) -> None:
    sandbox.admin("POST", "/orders", {"lines": [{"sku": "OM-003", "quantity": 1}]})

    cost = sandbox.graphql(ORDERS_WITH_LINES)["extensions"]["cost"]

    # One order came back with one line: 2 + (1 + (2 + 1) + 1 + 1).
    assert cost["actualQueryCost"] == 8
    assert cost["throttleStatus"] == {
        "maximumAvailable": 2000.0,
        "currentlyAvailable": 1992.0,
        "restoreRate": 100.0,
    }


def test_a_mutation_costs_ten_plus_what_it_returns(sandbox: RunningSandbox) -> None:
    result = sandbox.graphql(
        """mutation { inventorySetQuantities(input: {name: "available", reason: "correction",
             quantities: []}) @idempotent(key: "cost-check") { userErrors { code message } } }"""
    )

    assert result["data"]["inventorySetQuantities"]["userErrors"] == []
    assert result["extensions"]["cost"]["requestedQueryCost"] == 11


def test_a_query_the_bucket_cannot_afford_is_throttled_until_time_restores_it(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    sandbox = start_sandbox(bucket_size=150.0, restore_rate=10.0, pending_share=0.0)
    sandbox.admin("POST", "/generate", {"count": 10})

    first = sandbox.graphql(ORDERS_WITH_LINES)
    left = first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
    assert left == 150 - first["extensions"]["cost"]["actualQueryCost"]
    assert left < 102

    throttled = sandbox.graphql(ORDERS_WITH_LINES)

    assert throttled["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    assert "data" not in throttled
    assert throttled["extensions"]["cost"] == {
        "requestedQueryCost": 102,
        "actualQueryCost": None,
        "throttleStatus": {
            "maximumAvailable": 150.0,
            "currentlyAvailable": left,
            "restoreRate": 10.0,
        },
    }
    assert sandbox.admin("GET", "/stats")["throttled"] == 1

    sandbox.advance((102 - left) / 10 + 0.1)

    assert "errors" not in sandbox.graphql(ORDERS_WITH_LINES)


def test_a_throttled_answer_is_http_200(start_sandbox: Callable[..., RunningSandbox]) -> None:
    sandbox = start_sandbox(bucket_size=100.0)

    response = sandbox.client.post(
        sandbox.graphql_url,
        json={"query": ORDERS_WITH_LINES},
        headers={"X-Shopify-Access-Token": TOKEN},
    )

    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"


def test_a_query_over_the_single_query_limit_is_refused(sandbox: RunningSandbox) -> None:
    result = sandbox.graphql(
        "{ orders(first: 250) { nodes { lineItems(first: 10) { nodes { id } } } } }"
    )

    error = result["errors"][0]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["maxCost"] == 1000
    assert error["extensions"]["cost"] == 2 + 250 * (1 + 2 + 10)


def test_with_throttling_off_the_bucket_never_empties(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    sandbox = start_sandbox(bucket_size=100.0, throttling=False)

    result = sandbox.graphql(ORDERS_WITH_LINES)

    assert "errors" not in result
    assert result["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 100.0
