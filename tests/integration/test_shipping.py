"""Shipping an order and confirming it to its channel through the outbox, on SQLite and
PostgreSQL: stock leaves as shipped, the confirmation is written with the shipment, and the
channel's answer (or refusal) ends up on the order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from ordermesh.adapters.db import tables as t
from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.errors import IllegalTransition, ValidationFailed
from ordermesh.domain.shipments import ShipLine
from ordermesh.ports.channels import AccountStatus, ChannelAccount, NeedsReauthorisation
from ordermesh.ports.shipping import ShipmentNotice, ShippedLine
from tests.builders.catalogue import a_location, a_product, an_order, stock
from tests.builders.ordermesh import ManualClock, an_ordermesh
from tests.builders.shipping import T0, a_channel_order, a_test_store


@dataclass
class Shipping:
    """A channel order of 3 mugs, stock for it, and the shop's store; a day after it came in."""

    om: Ordermesh
    clock: ManualClock
    store: Any
    account: ChannelAccount
    order_id: str


@pytest.fixture
def shipping(database_url: str) -> Iterator[Shipping]:
    clock = ManualClock(T0 + timedelta(days=1))
    with an_ordermesh(database_url, clock) as om:
        a_location(om, "WH1")
        a_product(om, "MUG-1")
        stock(om, "MUG-1", 3)
        account, store = a_test_store(om)
        yield Shipping(om, clock, store, account, a_channel_order(om, account.id))


@pytest.fixture
def shop(om):
    a_location(om, "WH1")
    a_location(om, "WH2")
    a_product(om, "MUG-1")
    a_product(om, "TEE-1")
    stock(om, "MUG-1", 10)
    stock(om, "TEE-1", 4)
    account, store = a_test_store(om)
    om.shop_account, om.store = account, store
    return om


def _outbox(om, topic="shipment.confirm"):
    o = t.outbox.c
    with om.db.reader.connect() as conn:
        return conn.execute(select(t.outbox).where(o.topic == topic).order_by(o.id)).all()


def _level(om, sku, location="WH1"):
    [level] = [lv for lv in om.queries.stock_levels(sku=sku).items if lv["location"] == location]
    return level["on_hand"], level["reserved"]


def _deliver(om):
    """Run the dispatcher, then make every retry due at once."""
    om.dispatcher.run_once()


def test_shipping_books_the_stock_out_and_writes_one_confirmation_for_the_channel(shop):
    order_id = a_channel_order(shop, shop.shop_account.id, lines=(("MUG-1", 2), ("TEE-1", 1)))
    shipped = shop.handle(
        c.ShipOrder(order_id, carrier="UPS", tracking_number="1Z999AA10123456784", actor="ops")
    )
    assert shipped.order_status == "shipped"
    assert shipped.confirmation == "pending"
    assert _level(shop, "MUG-1") == (8, 0)
    assert _level(shop, "TEE-1") == (3, 0)
    moves = shop.queries.movements(sku="MUG-1").items
    assert any(m["kind"] == "shipment" and m["on_hand_delta"] == -2 for m in moves)

    [row] = _outbox(shop)
    assert row.destination == f"channel:{shop.shop_account.id}"
    assert row.idempotency_key == shipped.shipment_id
    assert row.payload["tracking_number"] == "1Z999AA10123456784"
    assert row.payload["channel_order_id"] == "TS-1001"
    assert [(ln["sku"], ln["quantity"], ln["channel_line_id"]) for ln in row.payload["lines"]] == [
        ("MUG-1", 2, "TS-1001-item-1"),
        ("TEE-1", 1, "TS-1001-item-2"),
    ]

    detail = shop.queries.get_order(order_id)
    [shipment] = detail["shipments"]
    assert shipment["confirmation"] == "pending"
    assert shipment["tracking_number"] == "1Z999AA10123456784"
    assert detail["allocations"] == []


def test_the_channel_confirms_and_the_order_shows_it_with_the_channels_reference(shop):
    order_id = a_channel_order(shop, shop.shop_account.id)
    shipped = shop.handle(c.ShipOrder(order_id, carrier="DHL", tracking_number="JD0123"))
    _deliver(shop)
    [notice] = shop.store.calls
    assert notice.shipment_id == shipped.shipment_id
    assert notice.channel_order_id == "TS-1001"
    assert notice.carrier == "DHL"
    assert notice.lines[0].channel_line_id == "TS-1001-item-1"
    detail = shop.queries.get_order(order_id)
    [shipment] = detail["shipments"]
    assert shipment["confirmation"] == "confirmed"
    assert shipment["channel_reference"] == f"F-{shipped.shipment_id}"
    assert detail["history"][-1]["action"] == "shipment_confirmed"
    assert [r.status for r in _outbox(shop)] == ["delivered"]


def test_a_refusal_is_shown_on_the_order_with_the_channels_words_and_not_retried(shop):
    order_id = a_channel_order(shop, shop.shop_account.id)
    shop.store.refuse_with = "Tracking number JD0123 is not valid for carrier DHL"
    shop.handle(c.ShipOrder(order_id, carrier="DHL", tracking_number="JD0123"))
    _deliver(shop)
    detail = shop.queries.get_order(order_id)
    [shipment] = detail["shipments"]
    assert shipment["confirmation"] == "rejected"
    assert shipment["channel_message"] == shop.store.refuse_with
    assert shop.store.refuse_with in detail["history"][-1]["reason"]
    [row] = _outbox(shop)
    assert row.status == "failed"
    assert shop.store.refuse_with in row.last_error
    _deliver(shop)
    assert len(shop.store.calls) == 1


def test_a_passing_channel_failure_is_retried_with_backoff_until_it_is_confirmed(shipping):
    om, clock, store, order_id = shipping.om, shipping.clock, shipping.store, shipping.order_id
    om.handle(c.ShipOrder(order_id, carrier="UPS", tracking_number="1Z1"))
    store.fail_next = 2
    om.dispatcher.run_once()
    [row] = _outbox(om)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "503" in row.last_error
    assert row.available_at > clock.now()
    om.dispatcher.run_once()  # not due yet: nothing is sent
    assert len(store.calls) == 1
    [waiting] = om.queries.get_order(order_id)["shipments"]
    assert waiting["confirmation"] == "pending"
    assert waiting["delivery"]["attempts"] == 1
    assert "503" in waiting["delivery"]["last_error"]
    assert waiting["delivery"]["next_attempt_at"] > clock.now()
    for _ in range(2):
        clock.at += timedelta(hours=2)
        om.dispatcher.run_once()
    assert len(store.calls) == 3
    [row] = _outbox(om)
    assert row.status == "delivered"
    [shipment] = om.queries.get_order(order_id)["shipments"]
    assert shipment["confirmation"] == "confirmed"


def test_an_account_waiting_for_authorisation_keeps_its_confirmations_for_later(shipping):
    om, clock, store, order_id = shipping.om, shipping.clock, shipping.store, shipping.order_id
    account = shipping.account
    om.handle(c.ShipOrder(order_id, carrier="UPS", tracking_number="1Z1"))
    om.channel_adapters.accounts.mark_needs_reauthorisation(
        account.id, reason="invalid_grant", at=clock.now()
    )
    for _ in range(30):  # far more tries than a message is allowed: none is used up
        clock.at += timedelta(hours=1)
        om.dispatcher.run_once()
    [row] = _outbox(om)
    assert row.status == "pending"
    assert row.attempts == 0
    assert "needs_reauthorisation" in row.last_error
    assert store.calls == []
    om.channel_adapters.accounts.update_credentials(account.id, {"token": "new"})
    assert om.channel_adapters.accounts.get(account.id).status == AccountStatus.ACTIVE
    clock.at += timedelta(hours=1)
    om.dispatcher.run_once()
    [shipment] = om.queries.get_order(order_id)["shipments"]
    assert shipment["confirmation"] == "confirmed"


def test_a_confirmation_delivered_twice_after_a_crash_is_confirmed_once(shipping):
    """The worker dies after the channel accepted but before the outbox row was marked: the
    lease runs out, the message goes again, and the channel (keyed by shipment id) has it
    once; the order records one confirmation."""
    om, clock, store, order_id = shipping.om, shipping.clock, shipping.store, shipping.order_id
    shipped = om.handle(c.ShipOrder(order_id, carrier="UPS", tracking_number="1Z1"))
    [message] = [m for m in om.dispatcher.claim() if m.topic == "shipment.confirm"]
    deliverer = om.dispatcher._deliverer_for(message.destination)
    deliverer.deliver(message)  # …and the process dies before marking it delivered
    om.dispatcher.run_once()
    assert len(store.calls) == 1  # still leased to the dead worker
    clock.at += om.dispatcher.lease + timedelta(seconds=1)
    om.dispatcher.run_once()
    assert len(store.calls) == 2
    assert list(store.fulfilments) == [shipped.shipment_id]
    detail = om.queries.get_order(order_id)
    assert [h["action"] for h in detail["history"]].count("shipment_confirmed") == 1
    assert [r.status for r in _outbox(om)] == ["delivered"]


def test_a_partial_shipment_then_the_rest_each_get_their_own_confirmation(shop):
    order_id = a_channel_order(shop, shop.shop_account.id, lines=(("MUG-1", 3),))
    first = shop.handle(c.ShipOrder(order_id, "UPS", "1ZA", lines=(ShipLine(1, sku="MUG-1"),)))
    assert first.order_status == "partially_shipped"
    assert _level(shop, "MUG-1") == (9, 2)
    second = shop.handle(c.ShipOrder(order_id, "UPS", "1ZB"))
    assert second.order_status == "shipped"
    assert second.lines == [(1, "MUG-1", 2)]
    assert _level(shop, "MUG-1") == (7, 0)
    assert [r.idempotency_key for r in _outbox(shop)] == [first.shipment_id, second.shipment_id]
    _deliver(shop)
    assert sorted(n.tracking_number for n in shop.store.calls) == ["1ZA", "1ZB"]
    over = pytest.raises(IllegalTransition)
    with over:
        shop.handle(c.ShipOrder(order_id, "UPS", "1ZC"))


def test_a_manual_order_or_one_fulfilled_by_the_marketplace_tells_no_channel(shop):
    manual = an_order(shop, ("MUG-1", 1))
    done = shop.handle(c.ShipOrder(manual.order_id, "UPS", "1ZM"))
    assert done.confirmation == "not_required"
    a_location(shop, "FBA", kind="marketplace")
    stock(shop, "MUG-1", 5, location="FBA")
    fba = a_channel_order(shop, shop.shop_account.id, "TS-FBA", fulfilled_by="marketplace")
    done = shop.handle(c.ShipOrder(fba, "AMZN", "TBA1"))
    assert done.confirmation == "not_required"
    assert _outbox(shop) == []


def test_over_shipping_is_refused_and_changes_nothing(shop):
    order_id = a_channel_order(shop, shop.shop_account.id)
    with pytest.raises(ValidationFailed) as refused:
        shop.handle(c.ShipOrder(order_id, "UPS", "1Z", lines=(ShipLine(3, sku="MUG-1"),)))
    assert refused.value.field == "lines[0].quantity"
    assert _level(shop, "MUG-1") == (10, 2)
    detail = shop.queries.get_order(order_id)
    assert detail["status"] == "allocated"
    assert detail["shipments"] == []
    assert _outbox(shop) == []


def test_the_raw_payloads_the_channel_sent_for_an_order_can_be_read_back(shop):
    order_id = a_channel_order(shop, shop.shop_account.id, "TS-7")
    a_channel_order(shop, shop.shop_account.id, "TS-70")  # shares a prefix, not the order
    [payload] = shop.queries.channel_payloads(order_id)
    assert payload["payload"] == '{"id": "TS-7", "lines": 1}'
    assert payload["key"].startswith("TS-7@")


def test_the_channel_is_told_exactly_what_was_shipped(shop):
    """The contract with the connectors: the ShipmentNotice they receive."""
    order_id = a_channel_order(shop, shop.shop_account.id, lines=(("MUG-1", 3), ("TEE-1", 1)))
    shipped_at = datetime(2026, 11, 21, 16, 30, tzinfo=UTC)
    shipped = shop.handle(
        c.ShipOrder(
            order_id,
            carrier="Royal Mail",
            tracking_number="RM123456789GB",
            lines=(ShipLine(1, line_no=2), ShipLine(2, sku="MUG-1")),
            service="Tracked 24",
            tracking_url="https://track.example/RM123456789GB",
            shipped_at=shipped_at,
            notify_customer=False,
        )
    )
    _deliver(shop)
    [notice] = shop.store.calls
    assert notice == ShipmentNotice(
        shipment_id=shipped.shipment_id,
        order_id=order_id,
        channel_account=shop.shop_account.id,
        channel_order_id="TS-1001",
        marketplace=None,
        carrier="Royal Mail",
        tracking_number="RM123456789GB",
        shipped_at=shipped_at,
        lines=(
            ShippedLine("MUG-1", 2, "TS-1001-item-1"),
            ShippedLine("TEE-1", 1, "TS-1001-item-2"),
        ),
        service="Tracked 24",
        tracking_url="https://track.example/RM123456789GB",
        notify_customer=False,
    )


def test_a_connector_finding_the_authorisation_gone_parks_the_account_not_the_message(shop):
    order_id = a_channel_order(shop, shop.shop_account.id)
    shop.handle(c.ShipOrder(order_id, "UPS", "1Z"))

    def revoked(notice):
        raise NeedsReauthorisation("invalid_grant: the refresh token was revoked")

    shop.store.confirm_shipment = revoked
    _deliver(shop)
    account = shop.channel_adapters.accounts.get(shop.shop_account.id)
    assert account.status == AccountStatus.NEEDS_REAUTHORISATION
    [row] = _outbox(shop)
    assert (row.status, row.attempts) == ("pending", 0)
    assert "invalid_grant" in row.last_error


def test_cancelling_after_a_partial_shipment_gives_back_only_what_did_not_leave(shop):
    order_id = a_channel_order(shop, shop.shop_account.id, lines=(("MUG-1", 3),))
    shop.handle(c.ShipOrder(order_id, "UPS", "1ZA", lines=(ShipLine(1, line_no=1),)))
    shop.handle(c.CancelOrder(order_id, reason="buyer gave up on the rest"))
    assert _level(shop, "MUG-1") == (9, 0)
    detail = shop.queries.get_order(order_id)
    assert detail["status"] == "cancelled"
    assert [s["tracking_number"] for s in detail["shipments"]] == ["1ZA"]
