"""The operations team's day in the dashboard, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ordermesh.domain import commands as c
from tests.browser.conftest import PASSWORD, Shop, log_in, screenshot

pytestmark = pytest.mark.browser


def test_staff_sign_in_and_see_what_needs_them_on_the_overview(page, shop: Shop) -> None:
    page.goto(shop.url)
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    screenshot(page, "login-refused")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    at_risk = page.locator("section", has=page.get_by_role("heading", name=re.compile("At risk")))
    expect(at_risk.get_by_role("link", name="WEB-1001")).to_be_visible()
    expect(at_risk.locator("time[data-countdown]").first).to_have_text(re.compile(r"^in 2 h"))
    backorders = page.locator(
        "section", has=page.get_by_role("heading", name=re.compile("Backorders"))
    )
    expect(backorders.get_by_role("link", name="WEB-1003")).to_be_visible()
    low = page.locator("section", has=page.get_by_role("heading", name=re.compile("Low and out")))
    expect(low.get_by_role("link", name="MUG-2")).to_be_visible()
    # Chart.js drew the 90-day chart from the packaged script, not a CDN.
    expect(page.locator("#orders-chart")).to_be_visible()
    expect(page.locator("#cover-chart")).to_be_visible()
    assert page.evaluate("typeof Chart !== 'undefined' && typeof htmx !== 'undefined'")
    screenshot(page, "overview")
    screenshot(page, "overview-phone", phone=True)


def test_the_overview_refreshes_itself_and_keeps_the_channel_filter(page, shop: Shop) -> None:
    log_in(page, shop, "olga", "/?channel=manual&hours=4")
    with page.expect_request(re.compile(r"/overview/panels\?channel=manual&hours=4")):
        page.evaluate("htmx.trigger('#panels', 'refresh')")  # rather than wait 15 s
    expect(page.get_by_label("Channel", exact=True)).to_have_value("manual")
    expect(page.get_by_label("At risk within")).to_have_value("4")


def test_the_page_is_keyboard_first(page, shop: Shop) -> None:
    log_in(page, shop, "olga", "/orders")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    # Every form control on the page has a label a screen reader can announce.
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
           .filter(el => !el.labels.length && !el.getAttribute('aria-label')).length"""
    )
    assert unlabelled == 0


def test_the_orders_list_refreshes_with_its_filters_but_not_over_a_selection(
    page, shop: Shop
) -> None:
    log_in(page, shop, "olga", "/orders?status=allocated&sku=TEE-1")
    rows = page.locator("table.orders tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("WEB-1002")
    with page.expect_request(re.compile(r"/orders/rows\?status=allocated&sku=TEE-1&sort=newest")):
        page.evaluate("htmx.trigger('#orders-table', 'refresh')")
    expect(rows).to_have_count(1)

    page.get_by_label("Tick order WEB-1002").check()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/orders/rows" in r.url else None)
    page.evaluate("htmx.trigger('#orders-table', 'refresh')")
    page.wait_for_timeout(300)
    assert requests == []
    expect(page.get_by_label("Tick order WEB-1002")).to_be_checked()


def test_find_an_order_by_id_hold_it_release_it_and_read_its_history(page, shop: Shop) -> None:
    log_in(page, shop, "olga", "/orders")
    page.get_by_label("Order id or buyer").fill("WEB-1002")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"q=WEB-1002"))
    rows = page.locator("table.orders tbody tr")
    expect(rows).to_have_count(1)
    screenshot(page, "orders-search")
    screenshot(page, "orders-search-phone", phone=True)
    rows.get_by_role("link", name="WEB-1002").click()

    expect(page.get_by_role("heading", name=re.compile("Order WEB-1002"))).to_be_visible()
    page.get_by_label("Reason for the hold").fill("address looks wrong")
    page.get_by_role("button", name="Hold order").click()
    expect(page.get_by_role("status")).to_contain_text("Held")
    expect(page.locator("#holds")).to_contain_text("address looks wrong")

    page.get_by_label("Why release it (optional)").fill("buyer confirmed the address")
    page.get_by_role("button", name="Release hold").click()
    expect(page.get_by_role("status")).to_contain_text("Hold released")
    history = page.locator("#history")
    expect(history).to_contain_text("address looks wrong")
    expect(history).to_contain_text("buyer confirmed the address")
    expect(history).to_contain_text("user:olga")
    expect(page.locator("#holds")).to_have_count(0)
    screenshot(page, "order")
    screenshot(page, "order-phone", phone=True)


def test_bulk_cancel_confirms_and_reports_each_order(page, shop: Shop) -> None:
    log_in(page, shop, "olga", "/orders")
    page.get_by_label("Tick order WEB-1001").check()
    page.get_by_label("Tick order WEB-1003").check()
    page.get_by_label("Action").select_option("cancel")
    page.get_by_label("Reason (kept in each order's history)").fill("buyer asked")
    questions: list[str] = []

    def answer(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.get_by_role("button", name="Apply to ticked orders").click()
    expect(page.get_by_role("heading", name=re.compile("result per order"))).to_be_visible()
    assert questions == ["Apply this action to the ticked orders?"]
    results = page.locator("#bulk-results tbody tr")
    expect(results).to_have_count(2)
    expect(results.filter(has_text="WEB-1001")).to_contain_text("cancelled")
    screenshot(page, "bulk-result")

    # Cancelling again: each order says why it was refused, none is silently skipped.
    page.goto(f"{shop.url}/orders?status=cancelled")
    page.get_by_label("Tick every order on this page").check()
    page.get_by_label("Action").select_option("cancel")
    page.get_by_role("button", name="Apply to ticked orders").click()
    expect(page.locator("#bulk-results tr.failed")).to_have_count(2)


def test_receiving_stock_raises_available_on_the_inventory_page(page, shop: Shop) -> None:
    shop.om.handle(c.UpsertListing("shopify-main", "mug-red", "MUG-1"))
    shop.om.handle(c.ConfigureStockSync("shopify-main", buffer_units=2))
    log_in(page, shop, "olga", "/inventory?sku=MUG-1")
    level = page.locator('#levels tr[data-sku="MUG-1"][data-location="WH1"] td.available')
    expect(level).to_have_text("1")  # 3 on hand, 2 reserved for WEB-1001
    listing = page.locator('#listings tr[data-channel-sku="mug-red"]')
    expect(listing.locator("td.ats")).to_have_text("0")
    expect(listing.locator("td.explain")).to_contain_text("1 of 1 held back as a buffer")

    form = page.locator("#form-receive")
    form.get_by_label("Location").select_option("WH1")
    form.get_by_label("Units received").fill("a dozen")
    form.get_by_role("button", name="Receive stock").click()
    expect(page.locator("#receive-quantity-error")).to_contain_text("whole number")
    expect(page.locator("#form-receive").get_by_label("Units received")).to_have_attribute(
        "aria-invalid", "true"
    )
    screenshot(page, "inventory-error")

    form = page.locator("#form-receive")
    form.get_by_label("Units received").fill("12")
    form.get_by_role("button", name="Receive stock").click()
    expect(page.get_by_role("status")).to_contain_text("available")
    expect(level).to_have_text("13")
    expect(listing.locator("td.ats")).to_have_text("11")
    expect(listing.locator("td.explain")).to_contain_text("2 of 13 held back as a buffer")
    expect(listing.locator("td.push")).to_contain_text("Waiting to be sent: 11")
    screenshot(page, "inventory")
    screenshot(page, "inventory-phone", phone=True)

    page.get_by_role("link", name="Movement ledger →").click()
    expect(page.locator("table")).to_contain_text("user:olga")
    screenshot(page, "movements")


def test_a_count_file_with_one_bad_row_lands_the_good_rows(page, shop: Shop) -> None:
    log_in(page, shop, "olga", "/inventory")
    counts = b"sku,location,quantity\nMUG-1,WH1,20\nMUG-2,WH1,lots\nTEE-1,WH1,7\n"
    page.get_by_label("CSV file").set_input_files(
        {"name": "counts.csv", "mimeType": "text/csv", "buffer": counts}
    )
    page.get_by_role("button", name="Import").click()
    report = page.locator("#import-report")
    expect(report).to_contain_text("2 row(s) applied")
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors).to_contain_text("3")
    expect(errors).to_contain_text("quantity must be a whole number")
    expect(page.locator('#levels tr[data-sku="MUG-1"] td.available')).to_have_text("18")
    expect(page.locator('#levels tr[data-sku="TEE-1"] td.available')).to_have_text("6")
    screenshot(page, "inventory-import")


def test_a_viewer_sees_no_actions_and_is_refused_a_post(page, shop: Shop) -> None:
    log_in(page, shop, "victor", "/orders")
    expect(page.locator("table.orders tbody tr")).to_have_count(3)
    expect(page.get_by_role("button", name="Apply to ticked orders")).to_have_count(0)
    expect(page.locator('input[name="order_ids"]')).to_have_count(0)
    screenshot(page, "orders-viewer")

    token = page.locator('input[name="csrf_token"]').first.input_value()
    order_id = shop.orders["WEB-1002"]
    refused = page.request.post(
        f"{shop.url}/orders/bulk",
        form={"csrf_token": token, "action": "hold", "order_ids": order_id, "reason": "x"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert shop.om.queries.get_order(order_id)["holds"] == []

    page.goto(f"{shop.url}/orders/{order_id}")
    expect(page.get_by_role("button", name="Hold order")).to_have_count(0)
    page.goto(f"{shop.url}/inventory")
    expect(page.get_by_role("button", name="Receive stock")).to_have_count(0)


def test_products_and_channels_say_what_to_do_next(page, shop: Shop) -> None:
    log_in(page, shop, "alice", "/products")
    expect(page.get_by_role("cell", name="MUG-1", exact=True)).to_be_visible()
    screenshot(page, "products")
    page.get_by_role("link", name="Channels").click()
    expect(page.locator(".empty").first).to_contain_text("No channel is connected yet")
    screenshot(page, "channels")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.goto(f"{shop.url}/orders")
    expect(page).to_have_url(re.compile(r"/login"))


def test_an_admin_adds_a_login_and_an_operator_cannot(page, shop: Shop) -> None:
    log_in(page, shop, "alice", "/users")
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Password (at least 10 characters)").fill("short")
    page.get_by_label("operator: works orders and stock").check()
    page.get_by_role("button", name="Add login").click()
    expect(page.locator("#user-password-error")).to_contain_text("at least 10 characters")
    expect(page.get_by_label("Username")).to_have_value("nina")

    page.get_by_label("Password (at least 10 characters)").fill(PASSWORD)
    page.get_by_role("button", name="Add login").click()
    expect(page.get_by_role("status")).to_contain_text("nina can now sign in as operator")
    expect(page.locator("#users")).to_contain_text("nina")
    screenshot(page, "users")

    page.get_by_role("button", name="Sign out").click()
    log_in(page, shop, "nina", "/orders")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    assert page.request.get(f"{shop.url}/users").status == 403
