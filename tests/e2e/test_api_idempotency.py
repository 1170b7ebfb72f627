"""A POST retried with the same Idempotency-Key gets the first answer, and no second order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.builders.catalogue import a_location, a_product, stock
from tests.e2e.test_api_problems import ORDER, order


def _seller(om):
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 10)


def test_a_retried_order_gets_the_same_answer_and_makes_one_order(api, om):
    _seller(om)
    headers = {"Idempotency-Key": "order-2026-0001"}

    first = api.operator.post("/api/v1/orders", json=ORDER, headers=headers)
    again = api.operator.post("/api/v1/orders", json=ORDER, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(om.queries.list_orders().items) == 1


def test_the_same_body_written_differently_is_the_same_request(api, om):
    _seller(om)
    headers = {"Idempotency-Key": "k1", "Content-Type": "application/json"}
    compact = b'{"lines":[{"sku":"MUG-1","quantity":1}],"shipping_address":{"name":"A","line1":"B","city":"C","postal_code":"1","country":"DE"}}'
    spaced = b'{ "shipping_address": {"country": "DE", "postal_code": "1", "city": "C", "line1": "B", "name": "A"},\n  "lines": [ {"quantity": 1, "sku": "MUG-1"} ] }'

    first = api.operator.post("/api/v1/orders", content=compact, headers=headers)
    again = api.operator.post("/api/v1/orders", content=spaced, headers=headers)

    assert again.json()["id"] == first.json()["id"]
    assert len(om.queries.list_orders().items) == 1


def test_the_same_key_with_another_body_is_a_conflict(api, om):
    _seller(om)
    headers = {"Idempotency-Key": "order-2026-0002"}
    api.operator.post("/api/v1/orders", json=ORDER, headers=headers)

    other = api.operator.post("/api/v1/orders", json=order(lines__0__quantity=2), headers=headers)

    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]
    assert len(om.queries.list_orders().items) == 1


def test_keys_belong_to_their_caller(api, om):
    _seller(om)
    headers = {"Idempotency-Key": "shared-key"}

    mine = api.operator.post("/api/v1/orders", json=ORDER, headers=headers)
    theirs = api.admin.post("/api/v1/orders", json=ORDER, headers=headers)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_refused_request_can_be_retried_with_the_same_key(api, om):
    _seller(om)
    headers = {"Idempotency-Key": "after-fix"}
    body = order(lines__0__sku="MUG-2")
    assert api.operator.post("/api/v1/orders", json=body, headers=headers).status_code == 422

    a_product(om, "MUG-2")
    stock(om, "MUG-2", 1)

    assert api.operator.post("/api/v1/orders", json=body, headers=headers).status_code == 201


def test_the_same_key_sent_at_once_makes_one_order(api, om):
    _seller(om)
    headers = {"Idempotency-Key": "impatient-client"}

    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(
                lambda _: api.operator.post("/api/v1/orders", json=ORDER, headers=headers),
                range(6),
            )
        )

    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(om.queries.list_orders().items) == 1


def test_every_post_honours_the_key(api, om):
    _seller(om)
    headers = {"Idempotency-Key": "receipt-42"}
    receipt = {"sku": "MUG-1", "location": "WH1", "quantity": 5, "reference": "PO-42"}

    for _ in range(2):
        assert api.operator.post("/api/v1/stock/receipts", json=receipt, headers=headers).is_success

    [level] = om.queries.stock_levels(sku="MUG-1").items
    assert level["on_hand"] == 15
