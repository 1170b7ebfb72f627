"""Shopify webhooks into ordermesh: only genuine ones, each once, the newest state winning."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from ordermesh.adapters.channels.shopify.webhooks import signature
from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import Ordermesh
from tests.builders.catalogue import a_location, a_product, stock
from tests.unit.channels.shopify.payloads import webhook_order

from .conftest import DOMAIN, SECRET, Wired, serve, wire


@pytest.fixture
def wired(om: Ordermesh) -> Wired:
    a_location(om, "WH1")
    for sku in ("MUG-BLUE", "TEE-M"):
        a_product(om, sku)
        stock(om, sku, 10)
    return wire(om)


@pytest.fixture
def api(wired: Wired) -> Iterator[TestClient]:
    with TestClient(wired.app()) as client:
        yield client


def deliver(
    api: TestClient,
    topic: str,
    payload: dict[str, Any] | bytes,
    *,
    webhook_id: str | None = None,
    secret: str = SECRET,
    hmac: str | None = None,
    shop: str = DOMAIN,
) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-10",
    }
    signed = hmac if hmac is not None else signature(body, secret)
    if signed:
        headers["X-Shopify-Hmac-Sha256"] = signed
    response = api.post("/webhooks/shopify", content=body, headers=headers)
    applied(api.app.state.om)  # type: ignore[attr-defined]
    return response


def applied(om: Ordermesh, timeout: float = 10.0) -> None:
    """Wait until the deliveries answered so far are applied (that happens after the answer,
    on the write queue)."""
    deadline = time.monotonic() + timeout
    while not om.shopify_webhooks.idle:
        assert time.monotonic() < deadline, "webhooks still being applied"
        om.writes.submit(lambda: None).result(timeout=timeout)


def inbox_rows(om: Ordermesh) -> int:
    with om.db.reader.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.inbox)).scalar_one())


def test_a_genuine_order_webhook_becomes_an_allocated_order(wired: Wired, api: TestClient) -> None:
    response = deliver(api, "orders/create", webhook_order())

    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    order = wired.order("5678901234")
    assert order is not None
    assert order["status"] == "allocated"
    assert [(ln["sku"], ln["quantity"]) for ln in order["lines"]] == [("MUG-BLUE", 2), ("TEE-M", 1)]
    assert order["channel_account"] == wired.account.id


@pytest.mark.parametrize(
    ("why", "options"),
    [
        ("signed with another secret", {"secret": "not-the-app-secret"}),
        ("no signature at all", {"hmac": ""}),
        ("signature of another body", {"hmac": signature(b"{}", SECRET)}),
        ("a shop we do not know", {"shop": "someone-else.myshopify.com"}),
    ],
)
def test_a_forged_webhook_is_refused_and_nothing_is_stored(
    wired: Wired,
    api: TestClient,
    caplog: pytest.LogCaptureFixture,
    why: str,
    options: dict[str, Any],
) -> None:
    with caplog.at_level(logging.WARNING):
        response = deliver(api, "orders/create", webhook_order(), **options)

    assert response.status_code == 401, why
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 401
    assert "shopify webhook refused" in caplog.text
    assert inbox_rows(wired.om) == 0
    assert wired.orders() == {}


def test_a_body_changed_after_signing_is_refused(wired: Wired, api: TestClient) -> None:
    body = json.dumps(webhook_order()).encode()
    tampered = body.replace(b'"quantity": 2', b'"quantity": 20')
    response = deliver(api, "orders/create", tampered, hmac=signature(body, SECRET))
    assert response.status_code == 401
    assert wired.orders() == {}


def test_a_resent_webhook_makes_one_order(wired: Wired, api: TestClient) -> None:
    body = json.dumps(webhook_order()).encode()

    first = deliver(api, "orders/create", body, webhook_id="wh-1")
    again = deliver(api, "orders/create", body, webhook_id="wh-1")
    # Shopify may also raise the same change twice under two webhook ids.
    twin = deliver(api, "orders/updated", body, webhook_id="wh-2")

    assert (first.status_code, again.status_code, twin.status_code) == (200, 200, 200)
    assert again.json() == {"status": "duplicate"}
    assert len(wired.orders()) == 1
    order = wired.order("5678901234")
    assert order is not None
    assert sum(a["quantity"] for a in order["allocations"]) == 3


def test_an_update_that_overtakes_its_create_leaves_the_newer_state(
    wired: Wired, api: TestClient
) -> None:
    created = webhook_order()
    cancelled = webhook_order(
        updated_at="2026-01-05T04:10:00-05:00",
        cancelled_at="2026-01-05T04:10:00-05:00",
        cancel_reason="customer",
        financial_status="voided",
    )

    deliver(api, "orders/cancelled", cancelled)
    deliver(api, "orders/create", created)

    order = wired.order("5678901234")
    assert order is not None
    assert order["status"] == "cancelled"
    assert order["allocations"] == []


def test_an_unpaid_order_waits_and_is_allocated_once_paid(wired: Wired, api: TestClient) -> None:
    deliver(api, "orders/create", webhook_order(financial_status="pending"))
    waiting = wired.order("5678901234")
    assert waiting is not None
    assert waiting["status"] == "pending"
    assert waiting["allocations"] == []

    deliver(
        api,
        "orders/paid",
        webhook_order(financial_status="paid", updated_at="2026-01-05T05:00:00-05:00"),
    )
    paid = wired.order("5678901234")
    assert paid is not None
    assert paid["status"] == "allocated"


def test_an_uninstalled_app_marks_the_account_for_reauthorisation(
    wired: Wired, api: TestClient
) -> None:
    response = deliver(api, "app/uninstalled", {"id": 548380009, "domain": DOMAIN})

    assert response.status_code == 200
    account = wired.accounts.get(wired.account.id)
    assert account.status == "needs_reauthorisation"
    assert "uninstalled" in (account.status_reason or "")


def test_a_webhook_that_cannot_be_read_is_kept_with_its_reason(
    wired: Wired, api: TestClient
) -> None:
    response = deliver(api, "orders/create", {"id": 1, "note": "not an order"})

    assert response.status_code == 200
    with wired.om.db.reader.connect() as conn:
        row = conn.execute(select(t.inbox.c.processed_at, t.inbox.c.error)).one()
    assert row.processed_at is not None
    assert "unreadable" in row.error


def test_a_stored_webhook_never_applied_is_applied_by_the_worker(wired: Wired) -> None:
    body = json.dumps(webhook_order()).encode()
    receipt = wired.receiver.receive(
        {
            "X-Shopify-Shop-Domain": DOMAIN,
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": "wh-crash",
            "X-Shopify-Hmac-Sha256": signature(body, SECRET),
        },
        body,
    )
    assert receipt.accepted
    assert wired.orders() == {}  # the process stopped before applying it

    assert wired.receiver.process_pending() == 1
    assert wired.receiver.process_pending() == 0
    order = wired.order("5678901234")
    assert order is not None
    assert order["status"] == "allocated"


def test_a_burst_of_webhooks_from_many_connections_makes_each_order_once(wired: Wired) -> None:
    """Over real HTTP: deliveries that arrive together are stored and applied in groups; none
    is lost, none applied twice, resends included."""
    server, thread, base = serve(wired.app())
    bodies = {
        f"wh-{n}": json.dumps(webhook_order(id=7_000_000 + n, name=f"#B{n}")).encode()
        for n in range(40)
    }
    sends = [*bodies.items(), *list(bodies.items())[:10]]

    def send(item: tuple[str, bytes]) -> int:
        webhook_id, body = item
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": DOMAIN,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Hmac-Sha256": signature(body, SECRET),
        }
        with httpx.Client(base_url=base, timeout=10) as http:
            return http.post("/webhooks/shopify", content=body, headers=headers).status_code

    try:
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(send, sends))
        applied(wired.om)
    finally:
        server.should_exit = True
        thread.join(timeout=5)

    assert statuses == [200] * len(sends)
    orders = wired.orders()
    assert sorted(orders) == sorted(str(7_000_000 + n) for n in range(40))
    # 10 blue mugs in stock, 2 per order: the first five are allocated, the rest wait.
    statuses_seen = sorted(o["status"] for o in orders.values())
    assert statuses_seen == ["allocated"] * 5 + ["backordered"] * 35
    assert inbox_rows(wired.om) == 40 + 40  # each delivery once, each order version once
    with wired.om.db.reader.connect() as conn:
        unapplied = conn.execute(
            select(func.count())
            .select_from(t.inbox)
            .where(t.inbox.c.source.like("shopify-webhook:%"), t.inbox.c.processed_at.is_(None))
        ).scalar_one()
    assert unapplied == 0
