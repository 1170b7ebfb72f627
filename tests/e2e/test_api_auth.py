"""Who may do what through the API: a key is needed, and its role decides."""

from __future__ import annotations

from tests.builders.catalogue import BERLIN, a_location, a_product, stock

ORDER = {
    "lines": [{"sku": "MUG-1", "quantity": 1}],
    "shipping_address": {
        "name": BERLIN.name,
        "line1": BERLIN.line1,
        "city": BERLIN.city,
        "postal_code": BERLIN.postal_code,
        "country": BERLIN.country,
    },
}


def test_no_key_is_told_to_bring_a_bearer_key(api):
    answer = api.anonymous.get("/api/v1/orders")

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 401


def test_a_wrong_key_is_refused_with_401(api):
    for authorization in ("Bearer om_abc_def", "Bearer nonsense", "Basic dXNlcjpwdw==", "Bearer"):
        answer = api.anonymous.get("/api/v1/orders", headers={"Authorization": authorization})

        assert answer.status_code == 401, authorization
        assert "Bearer" in answer.headers["WWW-Authenticate"]


def test_a_revoked_key_stops_working(api, om):
    principal, key = om.api_keys.create("temp", "viewer")
    headers = {"Authorization": f"Bearer {key}"}
    assert api.anonymous.get("/api/v1/me", headers=headers).status_code == 200

    assert api.admin.post(f"/api/v1/keys/{principal.id}/revoke").status_code == 200

    assert api.anonymous.get("/api/v1/me", headers=headers).status_code == 401


def test_me_names_the_key_and_its_role(api):
    me = api.operator.get("/api/v1/me").json()

    assert (me["name"], me["role"]) == ("operator key", "operator")


def test_a_viewer_reads_but_cannot_order_or_move_stock(api, om):
    a_location(om)
    a_product(om)

    assert api.viewer.get("/api/v1/orders").status_code == 200
    assert api.viewer.get("/api/v1/stock/levels").status_code == 200
    refused = api.viewer.post("/api/v1/orders", json=ORDER)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "operator" in refused.json()["detail"]
    receipt = {"sku": "MUG-1", "location": "WH1", "quantity": 1}
    assert api.viewer.post("/api/v1/stock/receipts", json=receipt).status_code == 403
    assert om.queries.list_orders().items == []


def test_an_operator_works_orders_and_stock_but_not_the_catalogue(api, om):
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 2)

    assert api.operator.post("/api/v1/orders", json=ORDER).status_code == 201
    receipt = {"sku": "MUG-1", "location": "WH1", "quantity": 1}
    assert api.operator.post("/api/v1/stock/receipts", json=receipt).status_code == 200
    location = {"code": "WH2", "name": "Second", "kind": "warehouse"}
    assert api.operator.post("/api/v1/locations", json=location).status_code == 403
    product = {"sku": "NEW-1", "title": "New"}
    assert api.operator.post("/api/v1/products", json=product).status_code == 403
    assert api.operator.post("/api/v1/webhooks", json={"url": "http://x.test"}).status_code == 403
    assert api.operator.get("/api/v1/keys").status_code == 403


def test_an_admin_manages_locations_products_and_keys(api):
    location = {"code": "WH2", "name": "Second", "kind": "warehouse"}
    assert api.admin.post("/api/v1/locations", json=location).status_code == 201
    assert (
        api.admin.post("/api/v1/products", json={"sku": "NEW-1", "title": "New"}).status_code == 201
    )
    made = api.admin.post("/api/v1/keys", json={"name": "erp", "role": "viewer"})
    assert made.status_code == 201
    key = made.json()["key"]
    me = api.anonymous.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert (me["name"], me["role"]) == ("erp", "viewer")


def test_tools_that_cannot_set_authorization_may_send_x_api_key(api, om):
    _, key = om.api_keys.create("spreadsheet macro", "viewer")

    me = api.anonymous.get("/api/v1/me", headers={"X-API-Key": key})

    assert me.json()["name"] == "spreadsheet macro"
