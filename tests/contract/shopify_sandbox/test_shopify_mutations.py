"""Shipping an order and pushing stock through the Admin API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .conftest import RunningSandbox

FULFILLMENT_ORDERS = """query($id: ID!) { order(id: $id) {
  displayFulfillmentStatus
  fulfillmentOrders(first: 5) { nodes { id status
    lineItems(first: 10) { nodes { id remainingQuantity lineItem { id sku } } } } } } }"""

FULFILL = """mutation($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}"""

SET_QUANTITIES = """mutation($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { reason referenceDocumentUri
      changes { name delta quantityAfterChange item { id } location { id } } }
    userErrors { code field message }
  }
}"""

LEVEL = """query($item: ID!, $location: ID!) { inventoryItem(id: $item) {
  sku inventoryLevel(locationId: $location) {
    quantities(names: ["available", "committed", "on_hand"]) { name quantity } } } }"""


@pytest.fixture
def shop(start_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    sandbox = start_sandbox(demo_catalogue=False)
    location = sandbox.admin("POST", "/locations", {"name": "Main Warehouse"})["id"]
    sandbox.admin(
        "POST",
        "/products",
        {
            "title": "Trail Running Shoe",
            "variants": [
                {"sku": "SHOE-42", "title": "42", "price": "89.00", "stock": {location: 10}},
                {"sku": "SHOE-43", "title": "43", "price": "89.00", "stock": {location: 4}},
            ],
        },
    )
    return sandbox


def place(shop: RunningSandbox, *lines: tuple[str, int]) -> dict[str, Any]:
    return shop.admin(
        "POST", "/orders", {"lines": [{"sku": sku, "quantity": q} for sku, q in lines]}
    )


def fulfillment_order(shop: RunningSandbox, order: dict[str, Any]) -> dict[str, Any]:
    data = shop.graphql(FULFILLMENT_ORDERS, {"id": order["admin_graphql_api_id"]})["data"]
    return data["order"]["fulfillmentOrders"]["nodes"][0]


def quantities(shop: RunningSandbox, sku: str) -> dict[str, int]:
    variant = shop.graphql(
        """query($q: String) { productVariants(first: 1, query: $q) {
             nodes { sku inventoryItem { id } } } locations(first: 1) { nodes { id } } }""",
        {"q": f"sku:{sku}"},
    )["data"]
    item = variant["productVariants"]["nodes"][0]["inventoryItem"]["id"]
    location = variant["locations"]["nodes"][0]["id"]
    level = shop.graphql(LEVEL, {"item": item, "location": location})["data"]
    found = level["inventoryItem"]["inventoryLevel"]["quantities"]
    return {q["name"]: q["quantity"] for q in found}


def set_quantities(
    shop: RunningSandbox, input: dict[str, Any], key: str | None = None
) -> dict[str, Any]:
    variables = {"input": input, "key": key or str(uuid.uuid4())}
    return shop.graphql(SET_QUANTITIES, variables)


def test_an_order_commits_stock_at_the_shop(shop: RunningSandbox) -> None:
    place(shop, ("SHOE-42", 3))

    assert quantities(shop, "SHOE-42") == {"available": 7, "committed": 3, "on_hand": 10}


def test_shipping_part_then_the_rest_of_an_order(shop: RunningSandbox) -> None:
    order = place(shop, ("SHOE-42", 2), ("SHOE-43", 1))
    fo = fulfillment_order(shop, order)
    first_line, second_line = fo["lineItems"]["nodes"]

    partial = shop.graphql(
        FULFILL,
        {
            "fulfillment": {
                "lineItemsByFulfillmentOrder": [
                    {
                        "fulfillmentOrderId": fo["id"],
                        "fulfillmentOrderLineItems": [{"id": first_line["id"], "quantity": 2}],
                    }
                ],
                "trackingInfo": {
                    "company": "UPS",
                    "number": "1Z999AA10123456784",
                    "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
                },
                "notifyCustomer": True,
            }
        },
    )["data"]["fulfillmentCreate"]

    assert partial["userErrors"] == []
    assert partial["fulfillment"]["status"] == "SUCCESS"
    assert partial["fulfillment"]["trackingInfo"] == [
        {
            "company": "UPS",
            "number": "1Z999AA10123456784",
            "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
        }
    ]
    after_partial = shop.graphql(FULFILLMENT_ORDERS, {"id": order["admin_graphql_api_id"]})
    assert after_partial["data"]["order"]["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    assert quantities(shop, "SHOE-42") == {"available": 8, "committed": 0, "on_hand": 8}

    rest = shop.graphql(
        FULFILL,
        {"fulfillment": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}]}},
    )["data"]["fulfillmentCreate"]

    assert rest["userErrors"] == []
    done = shop.graphql(FULFILLMENT_ORDERS, {"id": order["admin_graphql_api_id"]})["data"]
    assert done["order"]["displayFulfillmentStatus"] == "FULFILLED"
    assert done["order"]["fulfillmentOrders"]["nodes"][0]["status"] == "CLOSED"
    rest_shape = shop.admin("GET", "/orders")[0]
    assert rest_shape["fulfillment_status"] == "fulfilled"
    assert [f["tracking_number"] for f in rest_shape["fulfillments"]] == [
        "1Z999AA10123456784",
        None,
    ]
    assert second_line["remainingQuantity"] == 1


def test_shipping_more_than_remains_is_a_user_error_and_ships_nothing(
    shop: RunningSandbox,
) -> None:
    order = place(shop, ("SHOE-42", 2))
    fo = fulfillment_order(shop, order)
    line = fo["lineItems"]["nodes"][0]

    result = shop.graphql(
        FULFILL,
        {
            "fulfillment": {
                "lineItemsByFulfillmentOrder": [
                    {
                        "fulfillmentOrderId": fo["id"],
                        "fulfillmentOrderLineItems": [{"id": line["id"], "quantity": 3}],
                    }
                ]
            }
        },
    )["data"]["fulfillmentCreate"]

    assert result["fulfillment"] is None
    assert result["userErrors"][0]["field"][-1] == "quantity"
    assert fulfillment_order(shop, order)["lineItems"]["nodes"][0]["remainingQuantity"] == 2


def test_a_cancelled_order_cannot_be_shipped(shop: RunningSandbox) -> None:
    order = place(shop, ("SHOE-42", 1))
    fo = fulfillment_order(shop, order)
    shop.admin("POST", f"/orders/{order['id']}/cancel", {"reason": "customer"})

    result = shop.graphql(
        FULFILL,
        {"fulfillment": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}]}},
    )["data"]["fulfillmentCreate"]

    assert result["fulfillment"] is None
    assert "unfulfillable status" in result["userErrors"][0]["message"]
    assert quantities(shop, "SHOE-42")["available"] == 10


def ids(shop: RunningSandbox) -> dict[str, str]:
    data = shop.graphql(
        """{ productVariants(first: 10, sortKey: SKU) { nodes { sku inventoryItem { id } } }
             locations(first: 5) { nodes { id name } } }"""
    )["data"]
    found = {v["sku"]: v["inventoryItem"]["id"] for v in data["productVariants"]["nodes"]}
    found["location"] = data["locations"]["nodes"][0]["id"]
    return found


def test_setting_available_with_a_matching_change_from_quantity_applies(
    shop: RunningSandbox,
) -> None:
    known = ids(shop)

    result = set_quantities(
        shop,
        {
            "name": "available",
            "reason": "correction",
            "referenceDocumentUri": "ordermesh://stock-push/42",
            "quantities": [
                {
                    "inventoryItemId": known["SHOE-42"],
                    "locationId": known["location"],
                    "quantity": 6,
                    "changeFromQuantity": 10,
                }
            ],
        },
    )["data"]["inventorySetQuantities"]

    assert result["userErrors"] == []
    group = result["inventoryAdjustmentGroup"]
    assert group["referenceDocumentUri"] == "ordermesh://stock-push/42"
    assert {(c["name"], c["delta"], c["quantityAfterChange"]) for c in group["changes"]} == {
        ("available", -4, 6),
        ("on_hand", -4, 6),
    }
    assert quantities(shop, "SHOE-42") == {"available": 6, "committed": 0, "on_hand": 6}


def test_a_stale_change_from_quantity_refuses_the_whole_request(shop: RunningSandbox) -> None:
    known = ids(shop)
    place(shop, ("SHOE-43", 1))  # someone bought one since the connector last looked

    result = set_quantities(
        shop,
        {
            "name": "available",
            "reason": "correction",
            "quantities": [
                {
                    "inventoryItemId": known["SHOE-42"],
                    "locationId": known["location"],
                    "quantity": 9,
                    "changeFromQuantity": 10,
                },
                {
                    "inventoryItemId": known["SHOE-43"],
                    "locationId": known["location"],
                    "quantity": 2,
                    "changeFromQuantity": 4,
                },
            ],
        },
    )["data"]["inventorySetQuantities"]

    assert result["inventoryAdjustmentGroup"] is None
    assert result["userErrors"] == [
        {
            "code": "CHANGE_FROM_QUANTITY_STALE",
            "field": ["input", "quantities", "1", "changeFromQuantity"],
            "message": "The changeFromQuantity value does not match persisted value.",
        }
    ]
    assert quantities(shop, "SHOE-42")["available"] == 10
    assert quantities(shop, "SHOE-43")["available"] == 3


def test_null_change_from_quantity_skips_the_check(shop: RunningSandbox) -> None:
    known = ids(shop)

    result = set_quantities(
        shop,
        {
            "name": "available",
            "reason": "correction",
            "quantities": [
                {
                    "inventoryItemId": known["SHOE-42"],
                    "locationId": known["location"],
                    "quantity": 1,
                    "changeFromQuantity": None,
                }
            ],
        },
    )["data"]["inventorySetQuantities"]

    assert result["userErrors"] == []
    assert quantities(shop, "SHOE-42")["available"] == 1


def test_leaving_change_from_quantity_out_is_refused(shop: RunningSandbox) -> None:
    known = ids(shop)

    result = set_quantities(
        shop,
        {
            "name": "available",
            "reason": "correction",
            "quantities": [
                {
                    "inventoryItemId": known["SHOE-42"],
                    "locationId": known["location"],
                    "quantity": 1,
                }
            ],
        },
    )["data"]["inventorySetQuantities"]

    assert result["userErrors"][0]["field"] == ["input", "quantities", "0", "changeFromQuantity"]
    assert quantities(shop, "SHOE-42")["available"] == 10


def test_compare_quantity_no_longer_exists_in_this_version(shop: RunningSandbox) -> None:
    known = ids(shop)

    result = set_quantities(
        shop,
        {
            "name": "available",
            "reason": "correction",
            "ignoreCompareQuantity": True,
            "quantities": [
                {
                    "inventoryItemId": known["SHOE-42"],
                    "locationId": known["location"],
                    "quantity": 1,
                    "compareQuantity": 10,
                }
            ],
        },
    )

    assert "data" not in result or result["data"] is None
    assert any("compareQuantity" in e["message"] for e in result["errors"])


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"name": "incoming"}, "INVALID_NAME"),
        ({"reason": "because"}, "INVALID_REASON"),
        ({"item": "gid://shopify/InventoryItem/1"}, "INVALID_INVENTORY_ITEM"),
        ({"location": "gid://shopify/Location/1"}, "INVALID_LOCATION"),
    ],
)
def test_bad_input_is_named_by_its_error_code(
    shop: RunningSandbox, change: dict[str, str], code: str
) -> None:
    known = ids(shop)

    result = set_quantities(
        shop,
        {
            "name": change.get("name", "available"),
            "reason": change.get("reason", "correction"),
            "quantities": [
                {
                    "inventoryItemId": change.get("item", known["SHOE-42"]),
                    "locationId": change.get("location", known["location"]),
                    "quantity": 1,
                    "changeFromQuantity": None,
                }
            ],
        },
    )["data"]["inventorySetQuantities"]

    assert [e["code"] for e in result["userErrors"]] == [code]


def push(known: dict[str, str], quantity: int, change_from: int | None) -> dict[str, Any]:
    return {
        "name": "available",
        "reason": "correction",
        "quantities": [
            {
                "inventoryItemId": known["SHOE-42"],
                "locationId": known["location"],
                "quantity": quantity,
                "changeFromQuantity": change_from,
            }
        ],
    }


def test_a_retry_under_the_same_idempotency_key_applies_once(shop: RunningSandbox) -> None:
    known = ids(shop)
    key = str(uuid.uuid4())

    first = set_quantities(shop, push(known, 7, 10), key)["data"]["inventorySetQuantities"]
    retry = set_quantities(shop, push(known, 7, 10), key)["data"]["inventorySetQuantities"]

    assert first["userErrors"] == retry["userErrors"] == []
    assert first["inventoryAdjustmentGroup"] == retry["inventoryAdjustmentGroup"]
    assert quantities(shop, "SHOE-42")["available"] == 7


def test_reusing_an_idempotency_key_for_other_parameters_is_refused(
    shop: RunningSandbox,
) -> None:
    known = ids(shop)
    key = str(uuid.uuid4())
    set_quantities(shop, push(known, 7, 10), key)

    reused = set_quantities(shop, push(known, 3, 7), key)["data"]["inventorySetQuantities"]

    assert [e["code"] for e in reused["userErrors"]] == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"]
    assert quantities(shop, "SHOE-42")["available"] == 7


def test_without_the_idempotent_directive_the_mutation_does_not_run(
    shop: RunningSandbox,
) -> None:
    known = ids(shop)

    result = shop.graphql(
        """mutation($input: InventorySetQuantitiesInput!) {
             inventorySetQuantities(input: $input) { userErrors { code } } }""",
        {"input": push(known, 1, None)},
    )

    assert result["data"] == {"inventorySetQuantities": None}
    assert "@idempotent" in result["errors"][0]["message"]
    assert quantities(shop, "SHOE-42")["available"] == 10


def test_a_mutation_whose_answer_is_lost_was_applied_all_the_same(shop: RunningSandbox) -> None:
    order = place(shop, ("SHOE-42", 2))
    fo = fulfillment_order(shop, order)
    shop.admin("POST", "/faults", {"graphql_lost_answer": 1, "graphql_lost_answer_seconds": 1.0})
    fulfil = {
        "fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"]}],
            "trackingInfo": {"company": "UPS", "number": "1Z999AA10123456784"},
        }
    }

    with httpx.Client(timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(
            shop.graphql_url,
            json={"query": FULFILL, "variables": fulfil},
            headers={"X-Shopify-Access-Token": shop.config.access_token},
        )

    shipped = shop.admin("GET", "/orders")[0]
    assert shipped["fulfillment_status"] == "fulfilled"
    assert len(shipped["fulfillments"]) == 1
    stats = shop.admin("GET", "/stats")
    assert stats["injected_lost_answers"] == 1
    # Only the next mutation was slowed: queries and later mutations answer at once.
    assert shop.admin("GET", "/faults")["graphql"]["lost_answer"] == 0


def test_inventory_items_are_found_by_any_of_several_skus(shop: RunningSandbox) -> None:
    data = shop.graphql(
        """query($q: String) { inventoryItems(first: 5, query: $q) { nodes { id sku } } }""",
        {"q": "sku:'SHOE-42' OR sku:'NOT-A-SKU' OR sku:'SHOE-43'"},
    )["data"]

    found = {node["sku"]: node["id"] for node in data["inventoryItems"]["nodes"]}
    assert found == {"SHOE-42": ids(shop)["SHOE-42"], "SHOE-43": ids(shop)["SHOE-43"]}
