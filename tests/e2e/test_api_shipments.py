"""POST /api/v1/orders/{id}/shipments over real HTTP: roles, idempotency, problems that name
the field, and shipments with their confirmation in the order detail."""

from __future__ import annotations

import pytest

from tests.builders.catalogue import a_location, a_product, stock
from tests.builders.shipping import a_channel_order, a_test_store


@pytest.fixture
def order_id(om):
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    a_product(om, "TEE-1")
    stock(om, "MUG-1", 10)
    stock(om, "TEE-1", 10)
    account, _ = a_test_store(om)
    return a_channel_order(om, account.id, lines=(("MUG-1", 3), ("TEE-1", 1)))


def test_an_operator_ships_part_of_an_order_then_the_rest(api, om, order_id):
    def ship_two_mugs():
        return api.operator.post(
            f"/api/v1/orders/{order_id}/shipments",
            json={
                "carrier": "UPS",
                "tracking_number": "1Z999AA10123456784",
                "service": "Ground",
                "lines": [{"sku": "MUG-1", "quantity": 2}],
            },
            headers={"Idempotency-Key": "ship-1"},
        )

    first = ship_two_mugs()
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["order_status"] == "partially_shipped"
    assert body["confirmation"] == "pending"
    assert body["lines"] == [{"line_no": 1, "sku": "MUG-1", "quantity": 2}]

    again = ship_two_mugs()  # a retry of the same request: answered, not shipped twice
    assert again.status_code == 201
    assert again.json()["id"] == body["id"]

    rest = api.operator.post(
        f"/api/v1/orders/{order_id}/shipments", json={"carrier": "DHL", "tracking_number": "JD1"}
    )
    assert rest.status_code == 201, rest.text
    assert rest.json()["order_status"] == "shipped"

    detail = api.viewer.get(f"/api/v1/orders/{order_id}").json()
    assert detail["status"] == "shipped"
    assert [(s["tracking_number"], s["confirmation"]) for s in detail["shipments"]] == [
        ("1Z999AA10123456784", "pending"),
        ("JD1", "pending"),
    ]
    assert detail["shipments"][0]["lines"] == [{"line_no": 1, "sku": "MUG-1", "quantity": 2}]


def test_shipping_more_than_is_left_is_a_problem_naming_the_lines_quantity(api, order_id):
    answer = api.operator.post(
        f"/api/v1/orders/{order_id}/shipments",
        json={
            "carrier": "UPS",
            "tracking_number": "1Z",
            "lines": [{"line_no": 1, "quantity": 1}, {"line_no": 2, "quantity": 5}],
        },
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["errors"][0]["field"] == "lines[1].quantity"
    assert "only 1 left" in problem["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"carrier": "UPS", "tracking_number": " "}, "tracking_number"),
        ({"tracking_number": "1Z"}, "carrier"),
        (
            {"carrier": "UPS", "tracking_number": "1Z", "lines": [{"quantity": "x", "sku": "A"}]},
            "lines[0].quantity",
        ),
        (
            {"carrier": "UPS", "tracking_number": "1Z", "lines": [{"quantity": 1, "sku": "NOPE"}]},
            "lines[0].sku",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(api, order_id, body, field):
    answer = api.operator.post(f"/api/v1/orders/{order_id}/shipments", json=body)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]


def test_a_viewer_cannot_ship_and_an_unknown_order_is_404(api, order_id):
    denied = api.viewer.post(
        f"/api/v1/orders/{order_id}/shipments", json={"carrier": "UPS", "tracking_number": "1Z"}
    )
    assert denied.status_code == 403
    missing = api.operator.post(
        "/api/v1/orders/ord_nope/shipments", json={"carrier": "UPS", "tracking_number": "1Z"}
    )
    assert missing.status_code == 404


def test_shipping_a_shipped_order_is_a_conflict_saying_why(api, order_id):
    path = f"/api/v1/orders/{order_id}/shipments"
    assert api.operator.post(path, json={"carrier": "UPS", "tracking_number": "1Z"}).is_success
    again = api.operator.post(path, json={"carrier": "UPS", "tracking_number": "1Z2"})
    assert again.status_code == 409
    assert "shipped already" in again.json()["detail"]
