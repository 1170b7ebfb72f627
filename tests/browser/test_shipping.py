"""Shipping from the order page, in a real browser: the Ship form with its errors next to the
field, the shipment with its tracking and the channel's answer, and the raw channel payload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Shop, log_in, screenshot
from tests.builders.catalogue import stock
from tests.builders.shipping import a_channel_order, a_test_store

pytestmark = pytest.mark.browser


@pytest.fixture
def channel_order(shop: Shop):
    stock(shop.om, "MUG-2", 10)
    account, store = a_test_store(shop.om)
    order_id = a_channel_order(shop.om, account.id, "TS-1001", (("MUG-2", 3), ("TEE-1", 1)))
    return order_id, store


def test_an_operator_ships_part_of_an_order_and_sees_the_channel_refuse_it(
    page, shop: Shop, channel_order
) -> None:
    order_id, store = channel_order
    log_in(page, shop, "olga", f"/orders/{order_id}")
    expect(page.get_by_role("heading", name=re.compile("Order TS-1001"))).to_be_visible()
    expect(page.locator("#shipments-title ~ p.empty")).to_contain_text("Nothing has shipped yet")

    # The raw payload the channel sent, folded away until asked for.
    payload = page.locator("#latest-payload")
    expect(payload.locator("pre")).not_to_be_visible()
    payload.locator("summary").click()
    expect(payload.locator("pre")).to_contain_text('"id": "TS-1001"')

    form = page.locator("#ship-form")
    form.get_by_label("Carrier").fill("UPS")
    form.get_by_label(re.compile("Line 1 · MUG-2")).fill("5")
    form.get_by_role("button", name="Ship").click()
    expect(page.locator("#ship-tracking_number-error")).to_have_text("Tracking number is required.")
    expect(form.get_by_label("Tracking number")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_label("Carrier")).to_have_value("UPS")

    form.get_by_label("Tracking number").fill("1Z999AA10123456784")
    form.get_by_role("button", name="Ship").click()
    expect(page.locator("#ship-qty_1-error")).to_contain_text("5 to ship but only 3 left")
    screenshot(page, "order-ship-error")

    form.get_by_label("Tracking number").fill("1Z999AA10123456784")
    form.get_by_label(re.compile("Line 1 · MUG-2")).fill("2")
    form.get_by_label(re.compile("Line 2 · TEE-1")).fill("0")
    form.get_by_role("button", name="Ship").click()
    expect(page.get_by_role("status")).to_contain_text("Shipped 2 unit(s) with UPS")
    expect(page.locator("h1 .status")).to_have_text("partially shipped")
    row = page.locator("#shipments tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("1Z999AA10123456784")
    expect(row).to_contain_text("MUG-2 × 2")
    expect(row).to_contain_text("Waiting to be confirmed")
    expect(page.locator("#ship-form").get_by_label(re.compile("Line 1 · MUG-2"))).to_have_value("1")

    store.refuse_with = "The tracking number is not valid for carrier UPS"
    shop.om.dispatcher.run_once()
    page.reload()
    expect(row).to_contain_text("Refused by teststore")
    expect(row.locator(".channel-message")).to_have_text(store.refuse_with)
    expect(page.locator("#history")).to_contain_text(store.refuse_with)
    screenshot(page, "order-shipped-refused")
    screenshot(page, "order-shipped-refused-phone", phone=True)


def test_a_viewer_sees_shipments_but_no_ship_form_and_is_refused_a_post(
    page, shop: Shop, channel_order
) -> None:
    order_id, _ = channel_order
    log_in(page, shop, "victor", f"/orders/{order_id}")
    expect(page.get_by_role("heading", name="Shipments")).to_be_visible()
    expect(page.locator("#ship-form")).to_have_count(0)
    token = page.locator('input[name="csrf_token"]').first.input_value()
    refused = page.request.post(
        f"{shop.url}/orders/{order_id}/shipments",
        form={"csrf_token": token, "carrier": "UPS", "tracking_number": "1Z", "qty_1": "1"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert shop.om.queries.get_order(order_id)["shipments"] == []


def test_a_ship_form_without_the_sessions_token_is_refused(page, shop: Shop, channel_order) -> None:
    order_id, _ = channel_order
    log_in(page, shop, "olga", f"/orders/{order_id}")
    refused = page.request.post(
        f"{shop.url}/orders/{order_id}/shipments",
        form={"csrf_token": "forged", "carrier": "UPS", "tracking_number": "1Z", "qty_1": "1"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert shop.om.queries.get_order(order_id)["shipments"] == []
