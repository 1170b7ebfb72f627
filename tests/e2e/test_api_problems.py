"""Every refusal is a problem document (RFC 9457) that names the field to fix."""

from __future__ import annotations

import copy

from tests.builders.catalogue import a_location, a_product, an_order, stock

ORDER = {
    "channel": "manual",
    "lines": [{"sku": "MUG-1", "quantity": 1, "unit_price": "9.90"}],
    "shipping_address": {
        "name": "Ada Buyer",
        "line1": "Unter den Linden 1",
        "city": "Berlin",
        "postal_code": "10117",
        "country": "DE",
    },
}


def order(**changes):
    body = copy.deepcopy(ORDER)
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return body


def fields(answer):
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert {"type", "title", "status", "detail", "errors"} <= problem.keys()
    assert problem["status"] == answer.status_code
    return [e["field"] for e in problem["errors"]]


def test_a_quantity_of_zero_names_the_line(api, om):
    a_product(om)

    answer = api.operator.post("/api/v1/orders", json=order(lines__0__quantity=0))

    assert answer.status_code == 422
    assert fields(answer) == ["lines[0].quantity"]


def test_a_quantity_that_is_not_a_number_names_the_line(api, om):
    answer = api.operator.post("/api/v1/orders", json=order(lines__0__quantity="lots"))

    assert answer.status_code == 422
    assert fields(answer) == ["lines[0].quantity"]


def test_an_unknown_sku_names_the_line_that_has_it(api, om):
    a_product(om)
    body = order()
    body["lines"].append({"sku": "NOT-SOLD-HERE", "quantity": 1})

    answer = api.operator.post("/api/v1/orders", json=body)

    assert answer.status_code == 422
    assert answer.json()["type"].endswith("unknown-sku")
    assert fields(answer) == ["lines[1].sku"]
    assert "NOT-SOLD-HERE" in answer.json()["detail"]


def test_a_missing_country_is_named(api, om):
    answer = api.operator.post("/api/v1/orders", json=order(shipping_address__country=...))

    assert answer.status_code == 422
    assert fields(answer) == ["shipping_address.country"]


def test_a_country_written_out_is_refused_with_the_format_expected(api, om):
    a_product(om)

    answer = api.operator.post("/api/v1/orders", json=order(shipping_address__country="Germany"))

    assert answer.status_code == 422
    assert fields(answer) == ["shipping_address.country"]
    assert "ISO 3166" in answer.json()["detail"]


def test_a_misspelt_field_is_refused_by_name(api, om):
    answer = api.operator.post("/api/v1/orders", json=order(lines__0__quantiy=2))

    assert answer.status_code == 422
    assert "lines[0].quantiy" in fields(answer)


def test_a_body_that_is_not_json_is_refused(api):
    answer = api.operator.post(
        "/api/v1/orders", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 422
    assert fields(answer) == ["body"]


def test_an_order_that_stock_cannot_fill_lists_every_short_line(api, om):
    a_location(om)
    a_product(om, "MUG-1")
    a_product(om, "CUP-1")
    stock(om, "MUG-1", 1)
    body = order(allow_backorder=False)
    body["lines"] = [{"sku": "MUG-1", "quantity": 3}, {"sku": "CUP-1", "quantity": 2}]

    answer = api.operator.post("/api/v1/orders", json=body)

    assert answer.status_code == 409
    assert fields(answer) == ["lines[0].quantity", "lines[1].quantity"]
    assert [(e["sku"], e["requested"], e["available"]) for e in answer.json()["errors"]] == [
        ("MUG-1", 3, 1),
        ("CUP-1", 2, 0),
    ]


def test_an_unknown_order_is_404(api):
    answer = api.viewer.get("/api/v1/orders/ord_nothing")

    assert answer.status_code == 404
    assert fields(answer) == ["order_id"]


def test_an_unknown_route_and_a_wrong_method_are_problems_too(api):
    assert api.viewer.get("/api/v1/no-such-thing").status_code == 404
    wrong = api.viewer.delete("/api/v1/orders")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"


def test_cancelling_a_cancelled_order_is_a_conflict(api, om):
    a_location(om)
    a_product(om)
    placed = an_order(om, ("MUG-1", 1))
    assert api.operator.post(f"/api/v1/orders/{placed.order_id}/cancel").status_code == 200

    again = api.operator.post(f"/api/v1/orders/{placed.order_id}/cancel", json={"reason": "x"})

    assert again.status_code == 409
    assert again.json()["type"].endswith("illegal-transition")


def test_a_limit_above_200_names_the_parameter(api):
    answer = api.viewer.get("/api/v1/orders", params={"limit": 500})

    assert answer.status_code == 422
    assert fields(answer) == ["limit"]


def test_a_bad_cursor_is_refused(api):
    answer = api.viewer.get("/api/v1/orders", params={"cursor": "garbage!"})

    assert answer.status_code == 422
    assert fields(answer) == ["cursor"]


def test_a_bug_is_a_500_problem_that_leaks_nothing(api, om, monkeypatch, caplog):
    def broken(order_id):
        raise RuntimeError("secret connection string postgres://u:pw@db")

    monkeypatch.setattr(om.queries, "get_order", broken)

    answer = api.viewer.get("/api/v1/orders/ord_1")

    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "secret" not in answer.text
    assert "RuntimeError" not in answer.text
    assert any("secret connection string" in r.getMessage() or r.exc_info for r in caplog.records)
