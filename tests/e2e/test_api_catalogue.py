"""Setting up the catalogue, stock and webhooks through the API."""

from __future__ import annotations

from tests.builders.catalogue import a_location, a_product, stock


def test_locations_are_created_and_listed(api):
    made = api.admin.post(
        "/api/v1/locations",
        json={
            "code": "FBA-DE",
            "name": "Amazon DE",
            "kind": "marketplace",
            "working_days": ["mon", "tue"],
            "cutoff": "11:30",
            "timezone": "Europe/Berlin",
        },
    )

    assert made.status_code == 201
    assert api.viewer.get(made.headers["Location"]).json()["name"] == "Amazon DE"
    [shown] = api.viewer.get("/api/v1/locations").json()["items"]
    assert (shown["code"], shown["kind"], shown["cutoff"], shown["timezone"]) == (
        "FBA-DE",
        "marketplace",
        "11:30",
        "Europe/Berlin",
    )


def test_a_location_with_a_bad_time_zone_or_kind_names_the_field(api):
    bad_zone = {"code": "WH1", "name": "Main", "kind": "warehouse", "timezone": "Mars/Olympus"}
    bad_kind = {"code": "WH1", "name": "Main", "kind": "garage"}

    assert [
        e["field"] for e in api.admin.post("/api/v1/locations", json=bad_zone).json()["errors"]
    ] == ["timezone"]
    assert [
        e["field"] for e in api.admin.post("/api/v1/locations", json=bad_kind).json()["errors"]
    ] == ["kind"]


def test_a_product_is_created_once_then_changed_with_put(api):
    product = {"sku": "MUG-1", "title": "Mug", "unit_cost": "2.50", "cost_currency": "EUR"}

    assert api.admin.post("/api/v1/products", json=product).status_code == 201
    assert api.admin.post("/api/v1/products", json=product).status_code == 409
    changed = api.admin.put("/api/v1/products/MUG-1", json={"title": "Blue mug"})

    assert changed.status_code == 200
    shown = api.viewer.get("/api/v1/products/MUG-1").json()
    assert shown["title"] == "Blue mug"
    assert api.admin.put("/api/v1/products/CUP-1", json={"title": "Cup"}).status_code == 201
    assert api.viewer.get("/api/v1/products/NOPE").status_code == 404


def test_products_are_searched_and_paged(api, om):
    for n in range(7):
        a_product(om, f"SKU-{n}", title=f"Thing {n}")
    a_product(om, "MUG-1", title="Blue mug")

    found = api.viewer.get("/api/v1/products", params={"q": "blue"}).json()["items"]
    assert [p["sku"] for p in found] == ["MUG-1"]
    skus, cursor = [], None
    while True:
        page = api.viewer.get(
            "/api/v1/products", params={"limit": 3} | ({"cursor": cursor} if cursor else {})
        ).json()
        skus += [p["sku"] for p in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(skus) == len(set(skus)) == 8


def test_bulk_upsert_answers_created_and_updated(api, om):
    a_product(om, "MUG-1")
    items = [
        {"sku": "MUG-1", "title": "Mug, renamed"},
        {"sku": "CUP-1", "title": "Cup"},
        {"sku": "SET-1", "title": "Mug and cup", "components": {"MUG-1": 1, "CUP-1": 2}},
    ]

    answer = api.admin.post("/api/v1/products/bulk", json={"items": items})

    assert answer.json() == {"created": 2, "updated": 1}
    [bundle] = api.viewer.get("/api/v1/bundles").json()["items"]
    assert bundle["components"] == {"MUG-1": 1, "CUP-1": 2}


def test_bulk_upsert_refuses_bad_items_by_index_and_applies_nothing(api, om):
    items = [
        {"sku": "OK-1", "title": "Fine"},
        {"sku": "BAD-1", "title": " "},
        {"sku": "BAD-2", "title": "Fine", "gtin": "123"},
    ]

    answer = api.admin.post("/api/v1/products/bulk", json={"items": items})

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["items[1].title", "items[2].gtin"]
    assert api.viewer.get("/api/v1/products/OK-1").status_code == 404
    missing_title = api.admin.post("/api/v1/products/bulk", json={"items": [{"sku": "X"}]})
    assert [e["field"] for e in missing_title.json()["errors"]] == ["items[0].title"]


def test_listings_map_channel_skus(api, om):
    a_product(om, "MUG-1")
    listing = {
        "channel_account": "amazon-de",
        "channel_sku": "AMZ-MUG",
        "sku": "MUG-1",
        "asin": "B000000001",
    }

    assert api.operator.post("/api/v1/listings", json=listing).status_code == 200
    [shown] = api.viewer.get("/api/v1/listings", params={"sku": "MUG-1"}).json()["items"]
    assert (shown["channel_sku"], shown["asin"]) == ("AMZ-MUG", "B000000001")


def test_stock_is_received_adjusted_transferred_and_counted(api, om):
    a_location(om, "WH1")
    a_location(om, "WH2")
    a_product(om, "MUG-1")
    post = api.operator.post

    post(
        "/api/v1/stock/receipts",
        json={"sku": "MUG-1", "location": "WH1", "quantity": 10, "reference": "PO-1"},
    )
    post(
        "/api/v1/stock/adjustments",
        json={"sku": "MUG-1", "location": "WH1", "delta": -1, "reason": "broken"},
    )
    moved = post(
        "/api/v1/stock/transfers", json={"sku": "MUG-1", "from": "WH1", "to": "WH2", "quantity": 4}
    )
    counted = post("/api/v1/stock/counts", json={"sku": "MUG-1", "location": "WH2", "counted": 3})

    assert moved.status_code == counted.status_code == 200
    levels = api.viewer.get("/api/v1/stock/levels", params={"sku": "MUG-1"}).json()["items"]
    assert [(lv["location"], lv["on_hand"], lv["available"]) for lv in levels] == [
        ("WH1", 5, 5),
        ("WH2", 3, 3),
    ]
    ledger = api.viewer.get("/api/v1/stock/movements", params={"sku": "MUG-1"}).json()["items"]
    assert [m["kind"] for m in ledger] == [
        "count",
        "transfer_in",
        "transfer_out",
        "adjustment",
        "receipt",
    ]
    assert {m["actor"] for m in ledger} == {"operator key"}


def test_moving_more_than_is_free_names_the_quantity(api, om):
    a_location(om, "WH1")
    a_location(om, "WH2")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 2)

    answer = api.operator.post(
        "/api/v1/stock/transfers", json={"sku": "MUG-1", "from": "WH1", "to": "WH2", "quantity": 5}
    )

    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["quantity"]


def test_low_stock_lists_what_runs_out(api, om):
    a_location(om)
    a_product(om, "MUG-1")
    a_product(om, "CUP-1")
    stock(om, "MUG-1", 2)
    stock(om, "CUP-1", 50)

    low = api.viewer.get("/api/v1/stock/levels", params={"low_stock": True}).json()["items"]

    assert [lv["sku"] for lv in low] == ["MUG-1"]


def test_a_webhook_shows_its_secret_once(api):
    made = api.admin.post(
        "/api/v1/webhooks",
        json={"url": "https://erp.example/hooks", "event_types": ["OrderPlaced"]},
    )

    assert made.status_code == 201
    assert made.json()["secret"].startswith("whsec_")
    [listed] = api.viewer.get("/api/v1/webhooks").json()["items"]
    assert listed["url"] == "https://erp.example/hooks"
    assert "secret" not in listed
    bad = api.admin.post("/api/v1/webhooks", json={"url": "not a url"})
    assert [e["field"] for e in bad.json()["errors"]] == ["url"]


def test_a_sku_with_a_slash_is_reachable(api):
    api.admin.put("/api/v1/products/CASE/BLUE", json={"title": "Blue case"})

    assert api.viewer.get("/api/v1/products/CASE/BLUE").json()["sku"] == "CASE/BLUE"
