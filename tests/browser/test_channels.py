"""The Channels page in a real browser: connect a Shopify shop, sync it now, see its orders."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from ordermesh.entrypoints.cli.sandboxes import serve
from ordermesh.sandbox.shopify import ManualClock, SandboxConfig, create_app
from tests.browser.conftest import Shop, log_in, screenshot

pytestmark = pytest.mark.browser

TOKEN = "shpat_browser_test_token"
SECRET = "browser-test-app-secret"


@pytest.fixture
def sandbox_shop() -> Iterator[str]:
    """A sandboxed Shopify shop whose clock stands ten minutes back, so that the orders it
    takes are old enough for a sync's window (which ends a little before now)."""
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=10))
    config = SandboxConfig(access_token=TOKEN, webhook_secret=SECRET, clock=clock)
    served = serve("shopify", create_app(config))
    try:
        yield served.url
    finally:
        served.stop()


def test_an_admin_connects_a_shopify_shop_and_syncs_its_orders_now(
    page, shop: Shop, sandbox_shop: str
) -> None:
    placed = httpx.post(f"{sandbox_shop}/_sandbox/generate", json={"count": 3}).json()
    assert len(placed["order_ids"]) == 3

    log_in(page, shop, "alice", "/channels")
    page.get_by_role("link", name="Connect Shopify").click()
    expect(page.get_by_role("heading", name="Connect a Shopify account")).to_be_visible()
    page.get_by_label("Account name").fill("Our shop")
    page.get_by_label("Shop domain").fill("our shop")
    page.get_by_label("Admin API URL").fill(sandbox_shop)
    page.get_by_label("Admin API access token").fill(TOKEN)
    page.get_by_label("App client secret").fill(SECRET)
    page.get_by_role("button", name="Connect").click()

    domain = page.get_by_label("Shop domain")
    expect(domain).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-settings-shop_domain-error")).to_contain_text("myshopify.com")
    expect(page.get_by_label("Account name")).to_have_value("Our shop")
    screenshot(page, "channel-form-error")

    domain.fill("ordermesh-demo.myshopify.com")
    # Credentials are never sent back to the browser: they are typed again after a refusal.
    page.get_by_label("Admin API access token").fill(TOKEN)
    page.get_by_label("App client secret").fill(SECRET)
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status")).to_contain_text("Connected Our shop")

    row = page.locator("tr", has=page.get_by_text("Our shop"))
    expect(row.locator("td[data-label=Orders]")).to_have_text("0")
    row.get_by_role("button", name="Sync Our shop now").click()
    expect(row.get_by_role("status")).to_contain_text("3 new")
    expect(row.locator("td[data-label=Orders]")).to_have_text("3")
    expect(row).to_contain_text("succeeded")
    screenshot(page, "channels-synced")
    screenshot(page, "channels-synced-phone", phone=True)

    row.get_by_role("link", name="Edit Our shop").click()
    expect(page.get_by_label("Admin API access token")).to_have_value("")
    expect(page.get_by_label("Admin API access token")).to_have_attribute(
        "placeholder", re.compile("leave blank to keep")
    )
    page.get_by_label("Syncing").select_option("paused")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved Our shop")
    expect(page.locator("tr", has=page.get_by_text("Our shop"))).to_contain_text("paused")
    assert TOKEN not in page.content()


def test_a_viewer_sees_the_accounts_but_no_controls(page, shop: Shop, sandbox_shop: str) -> None:
    shop.om.channel_accounts.add(
        channel="shopify",
        name="Our shop",
        settings={"shop_domain": "ordermesh-demo.myshopify.com", "admin_url": sandbox_shop},
        secrets={"access_token": TOKEN, "webhook_secret": SECRET},
    )
    log_in(page, shop, "victor", "/channels")
    expect(page.get_by_text("Our shop")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Sync"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Connect|Edit"))).to_have_count(0)
    screenshot(page, "channels-viewer")
    page.goto(f"{shop.url}/channels/new?channel=amazon")
    expect(page.get_by_role("heading", name="Connect an Amazon account")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("viewer")
