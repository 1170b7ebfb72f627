"""Working orders through the API: list and page, read, cancel, hold and release, allocate."""

from __future__ import annotations

from tests.builders.catalogue import a_location, a_product, an_order, stock
from tests.e2e.test_api_problems import ORDER, order


def _level(api, sku="MUG-1"):
    [level] = api.viewer.get("/api/v1/stock/levels", params={"sku": sku}).json()["items"]
    return level["on_hand"], level["reserved"], level["available"]


def test_a_manual_order_is_created_allocated_and_located(api, om):
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 5)

    made = api.operator.post("/api/v1/orders", json=order(lines__0__quantity=2))

    assert made.status_code == 201
    assert made.json()["status"] == "allocated"
    shown = api.viewer.get(made.headers["Location"]).json()
    assert shown["id"] == made.json()["id"]
    assert [(ln["sku"], ln["quantity"], ln["unit_price"]) for ln in shown["lines"]] == [
        ("MUG-1", 2, "9.90")
    ]
    assert shown["allocations"] == [
        {"line_no": 1, "sku": "MUG-1", "location": "WH1", "quantity": 2}
    ]
    assert shown["history"][0]["actor"] == "operator key"
    assert _level(api) == (5, 2, 3)


def test_an_order_beyond_stock_is_backordered_with_its_short_lines(api, om):
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 1)

    made = api.operator.post("/api/v1/orders", json=order(lines__0__quantity=3))

    assert made.status_code == 201
    assert made.json()["status"] == "backordered"
    assert made.json()["short"] == [{"line": 1, "sku": "MUG-1", "missing": 2}]


def test_following_the_cursor_walks_every_order_exactly_once(api, om):
    a_location(om)
    a_product(om)
    placed = {an_order(om, ("MUG-1", 1)).order_id for _ in range(23)}

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = api.viewer.get("/api/v1/orders", params=params).json()
        seen += [o["id"] for o in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == placed


def test_orders_are_filtered_by_status_and_found_by_buyer(api, om):
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 1)
    allocated = an_order(om, ("MUG-1", 1)).order_id
    backordered = an_order(om, ("MUG-1", 1)).order_id
    api.operator.post("/api/v1/orders", json=order(shipping_address__name="Grace Hopper"))

    def ids(**params):
        return {o["id"] for o in api.viewer.get("/api/v1/orders", params=params).json()["items"]}

    assert ids(status="allocated") == {allocated}
    assert len(ids(status=["allocated", "backordered"])) == 3
    assert backordered in ids(status="backordered")
    [grace] = api.viewer.get("/api/v1/orders", params={"q": "grace"}).json()["items"]
    assert grace["buyer_name"] == "Grace Hopper"
    assert ids(sku="NOPE") == set()


def test_cancelling_gives_the_reserved_stock_back(api, om):
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 4)
    order_id = api.operator.post("/api/v1/orders", json=order(lines__0__quantity=3)).json()["id"]
    assert _level(api) == (4, 3, 1)

    cancelled = api.operator.post(
        f"/api/v1/orders/{order_id}/cancel", json={"reason": "buyer phoned"}
    )

    assert cancelled.json() == {"id": order_id, "status": "cancelled"}
    assert _level(api) == (4, 0, 4)
    last = api.viewer.get(f"/api/v1/orders/{order_id}").json()["history"][-1]
    assert (last["action"], last["reason"], last["actor"]) == (
        "cancel",
        "buyer phoned",
        "operator key",
    )


def test_hold_and_release_are_recorded_in_the_history(api, om):
    a_location(om)
    a_product(om)
    order_id = api.operator.post("/api/v1/orders", json=ORDER).json()["id"]

    held = api.operator.post(
        f"/api/v1/orders/{order_id}/hold", json={"reason": "address looks odd", "kind": "address"}
    )
    assert held.status_code == 200
    assert api.viewer.get(f"/api/v1/orders/{order_id}").json()["holds"]
    released = api.operator.post(f"/api/v1/orders/{order_id}/release", json={"kind": "address"})

    assert released.status_code == 200
    assert released.json()["holds"] == []
    history = api.viewer.get(f"/api/v1/orders/{order_id}").json()["history"]
    assert [(h["action"], h["actor"]) for h in history[-2:]] == [
        ("hold", "operator key"),
        ("release_hold", "operator key"),
    ]
    assert "address looks odd" in history[-2]["reason"]


def test_a_held_order_is_not_allocated_until_released(api, om):
    a_location(om)
    a_product(om)
    order_id = api.operator.post("/api/v1/orders", json=ORDER).json()["id"]
    api.operator.post(f"/api/v1/orders/{order_id}/hold", json={"reason": "fraud check"})
    stock(om, "MUG-1", 1)

    refused = api.operator.post(f"/api/v1/orders/{order_id}/allocate")
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["holds"]

    api.operator.post(f"/api/v1/orders/{order_id}/release")
    assert api.viewer.get(f"/api/v1/orders/{order_id}").json()["status"] == "allocated"


def test_allocate_tries_again_and_says_what_is_still_short(api, om):
    a_location(om)
    a_product(om)
    order_id = api.operator.post("/api/v1/orders", json=ORDER).json()["id"]

    answer = api.operator.post(f"/api/v1/orders/{order_id}/allocate")

    assert answer.status_code == 200
    assert answer.json()["status"] == "backordered"
    assert answer.json()["short"] == [{"line": 1, "sku": "MUG-1", "missing": 1}]


def test_allocating_an_allocated_order_is_refused(api, om):
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 1)
    order_id = api.operator.post("/api/v1/orders", json=ORDER).json()["id"]

    answer = api.operator.post(f"/api/v1/orders/{order_id}/allocate")

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["status"]
