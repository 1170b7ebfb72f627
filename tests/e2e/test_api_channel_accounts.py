"""Channel accounts through the API: connect, look at their health, change them, sync now."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ordermesh.adapters.channels.rate_limits import UsagePlan
from ordermesh.domain import commands as c
from ordermesh.entrypoints.cli.sandboxes import serve
from ordermesh.sandbox.shopify import SandboxConfig, create_app
from tests.builders.catalogue import a_location, a_product, stock

SHOP = "ordermesh-demo.myshopify.com"
TOKEN = "shpat_api_test_token"
SECRET = "api-test-app-secret"


def amazon_account(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "amazon",
        "name": "Amazon EU",
        "settings": {
            "selling_partner_id": "A2SELLER",
            "region": "EU",
            "marketplace_ids": ["A1PA6795UKMFR9"],
            "lwa_client_id": "amzn1.application-oa2-client.x",
        },
        "secrets": {"lwa_client_secret": "s3cret-client", "refresh_token": "Atzr|s3cret-token"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def shop() -> Iterator[str]:
    """A sandboxed Shopify shop with its own small catalogue, served on a loopback port."""
    served = serve(
        "shopify",
        create_app(SandboxConfig(access_token=TOKEN, webhook_secret=SECRET, orders_per_minute=0)),
    )
    try:
        yield served.url
    finally:
        served.stop()


def shopify_account(admin_url: str, name: str = "Our shop") -> dict[str, Any]:
    return {
        "channel": "shopify",
        "name": name,
        # Read up to now: the sandbox shows an order the moment it is placed.
        "settings": {"shop_domain": SHOP, "admin_url": admin_url, "sync_settle_seconds": 0},
        "secrets": {"access_token": TOKEN, "webhook_secret": SECRET},
    }


def test_an_admin_connects_an_amazon_account_and_its_secrets_never_come_back(api, om):
    made = api.admin.post("/api/v1/channel-accounts", json=amazon_account())
    assert made.status_code == 201, made.text
    account = made.json()
    assert made.headers["location"] == f"/api/v1/channel-accounts/{account['id']}"
    assert account["status"] == "active"
    assert account["secrets"] == {
        "lwa_client_secret": "set",
        "refresh_token": "set",
        "notification_secret": "not set",
    }
    assert account["settings"]["region"] == "EU"
    assert account["orders"] == 0
    # searchOrders' usage plan: one page of 100 orders every 180 s, about 2,000 orders an hour.
    assert 1_500 <= account["sustainable_orders_per_hour"] <= 2_500
    assert account["cursor"] is not None
    assert account["marketplace_cursor"] is None, "FBA orders not yet read apart"

    listed = api.viewer.get("/api/v1/channel-accounts")
    one = api.viewer.get(f"/api/v1/channel-accounts/{account['id']}")
    for answer in (made, listed, one):
        assert "s3cret" not in answer.text
    assert [a["name"] for a in listed.json()["items"]] == ["Amazon EU"]
    assert one.json()["name"] == "Amazon EU"
    stored = om.channel_adapters.accounts.get(account["id"])
    assert stored.secrets["refresh_token"] == "Atzr|s3cret-token"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (amazon_account(settings={**amazon_account()["settings"], "region": "MARS"}), "settings.region"),
        (amazon_account(settings={"region": "EU"}), "settings.selling_partner_id"),
        (amazon_account(secrets={"lwa_client_secret": "x"}), "secrets.refresh_token"),
        (
            {**shopify_account("http://127.0.0.1:9"), "settings": {"shop_domain": "my shop"}},
            "settings.shop_domain",
        ),
        ({**shopify_account("http://127.0.0.1:9"), "secrets": {"access_token": "t"}}, "secrets.webhook_secret"),
        (amazon_account(channel="ebay"), "channel"),
    ],
)  # fmt: skip
def test_a_refused_account_names_the_field_and_stores_nothing(api, body, field):
    refused = api.admin.post("/api/v1/channel-accounts", json=body)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert api.admin.get("/api/v1/channel-accounts").json()["items"] == []


def test_a_second_account_with_the_same_name_is_refused(api):
    assert api.admin.post("/api/v1/channel-accounts", json=amazon_account()).status_code == 201
    again = api.admin.post("/api/v1/channel-accounts", json=amazon_account())
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "name"


def test_only_an_admin_connects_or_changes_an_account(api):
    assert api.operator.post("/api/v1/channel-accounts", json=amazon_account()).status_code == 403
    account = api.admin.post("/api/v1/channel-accounts", json=amazon_account()).json()
    path = f"/api/v1/channel-accounts/{account['id']}"
    assert api.operator.patch(path, json={"name": "Mine now"}).status_code == 403
    assert api.viewer.post(f"{path}/sync").status_code == 403
    assert api.anonymous.get("/api/v1/channel-accounts").status_code == 401
    assert api.viewer.get("/api/v1/channel-accounts/cha_nope").status_code == 404


def test_an_admin_renames_pauses_resumes_and_rotates_credentials(api, om):
    account = api.admin.post("/api/v1/channel-accounts", json=amazon_account()).json()
    path = f"/api/v1/channel-accounts/{account['id']}"

    renamed = api.admin.patch(
        path,
        json={
            "name": "Amazon Europe",
            "settings": {"marketplace_ids": ["A1PA6795UKMFR9", "A1F83G8C2ARO7P"]},
            "secrets": {"refresh_token": "Atzr|rotated"},
        },
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Amazon Europe"
    assert renamed.json()["settings"]["marketplace_ids"] == ["A1PA6795UKMFR9", "A1F83G8C2ARO7P"]
    assert renamed.json()["settings"]["region"] == "EU", "settings not sent are kept"
    assert "rotated" not in renamed.text
    stored = om.channel_adapters.accounts.get(account["id"])
    assert stored.secrets == {"lwa_client_secret": "s3cret-client", "refresh_token": "Atzr|rotated"}

    bad = api.admin.patch(path, json={"settings": {"region": None}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "settings.region"

    paused = api.admin.patch(path, json={"status": "paused"})
    assert paused.json()["status"] == "paused"
    skipped = api.operator.post(f"{path}/sync")
    assert skipped.status_code == 200
    assert skipped.json()["status"] == "skipped"
    assert api.admin.patch(path, json={"status": "active"}).json()["status"] == "active"


def test_an_account_that_lost_its_authorisation_resumes_only_once_re_authorised(api, om):
    account = api.admin.post("/api/v1/channel-accounts", json=amazon_account()).json()
    path = f"/api/v1/channel-accounts/{account['id']}"
    om.channel_adapters.accounts.mark_needs_reauthorisation(
        account["id"], reason="invalid_grant: the refresh token was revoked", at=om.clock.now()
    )
    seen = api.viewer.get(path).json()
    assert seen["status"] == "needs_reauthorisation"
    assert "revoked" in seen["status_reason"]

    early = api.admin.patch(path, json={"status": "active"})
    assert early.status_code == 422
    assert early.json()["errors"][0]["field"] == "status"

    back = api.admin.patch(path, json={"reauthorised": True})
    assert back.json()["status"] == "active"
    assert back.json()["status_reason"] is None


def test_the_budget_left_per_operation_and_the_stock_push_queue_are_shown(api, om):
    account = api.admin.post("/api/v1/channel-accounts", json=amazon_account()).json()
    plan = UsagePlan(rate=0.0056, burst=20)
    for _ in range(3):
        assert om.channel_adapters.buckets.take("amazon:A2SELLER:searchOrders", plan) == 0.0
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    om.handle(c.UpsertListing(account["id"], "MUG-1-EU", "MUG-1"))
    stock(om, "MUG-1", 7)

    seen = api.viewer.get(f"/api/v1/channel-accounts/{account['id']}").json()

    [budget] = seen["rate_limits"]
    assert budget["operation"] == "searchOrders"
    assert budget["burst"] == 20
    assert 17 <= budget["available"] < 17.1
    assert seen["push_queue"]["depth"] >= 1
    assert seen["push_queue"]["oldest_pending_age_seconds"] >= 0


def test_sync_now_brings_in_the_orders_placed_in_the_shop(api, shop):
    account = api.admin.post("/api/v1/channel-accounts", json=shopify_account(shop)).json()
    placed = httpx.post(f"{shop}/_sandbox/generate", json={"count": 3}).json()["order_ids"]
    assert len(placed) == 3
    time.sleep(1.1)  # the window ends at the last whole second

    synced = api.operator.post(f"/api/v1/channel-accounts/{account['id']}/sync")

    assert synced.status_code == 200, synced.text
    report = synced.json()
    assert report["status"] == "synced", report
    assert report["created"] == 3
    seen = api.viewer.get(f"/api/v1/channel-accounts/{account['id']}").json()
    assert seen["orders"] == 3
    assert seen["last_error"] is None or "could not be read" not in seen["last_error"]
    assert seen["rate_limits"] == [], "Shopify paces by query cost, not by token buckets"
    assert seen["sustainable_orders_per_hour"] is None

    again = api.operator.post(f"/api/v1/channel-accounts/{account['id']}/sync").json()
    assert again["created"] == 0
    assert again["shown_late"] == 0, "the overlap's repeats are not changes shown late"
    assert api.viewer.get(f"/api/v1/channel-accounts/{account['id']}").json()["orders"] == 3
