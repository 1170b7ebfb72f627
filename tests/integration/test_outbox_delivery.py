"""Webhook delivery: signed, retried with backoff when the receiver fails, failed visibly."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, insert, select

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.outbox import OutboxDispatcher, backoff
from ordermesh.domain import commands as c
from tests.builders.catalogue import a_location, a_product, an_order, stock


class FlakyReceiver:
    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.received: list[tuple[dict, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), json.loads(body)))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    r = FlakyReceiver([500, 503])
    yield r
    r.server.shutdown()


def _subscribe(om, url: str, endpoint_id: str = "wh_1") -> None:
    with om.db.writer.begin() as conn:
        conn.execute(
            insert(t.webhook_endpoints).values(
                id=endpoint_id,
                url=url,
                secret="topsecret",
                event_types=["OrderCancelled"],
                active=True,
                created_at=om.clock.now(),
            )
        )


def _webhook_rows(om):
    with om.db.reader.connect() as conn:
        return conn.execute(
            select(t.outbox.c.status, t.outbox.c.attempts, t.outbox.c.last_error).where(
                t.outbox.c.destination.like("webhook:%")
            )
        ).all()


def test_a_failing_receiver_gets_retries_then_the_signed_event(om, receiver):
    from ordermesh.domain import commands as c

    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 3)
    _subscribe(om, receiver.url)
    order = an_order(om, ("MUG-1", 1))
    om.handle(c.CancelOrder(order.order_id, "buyer asked"))
    dispatcher = OutboxDispatcher(om.db, om.clock, lease=timedelta(0))

    dispatcher.run_once()  # events become one message per subscribed webhook
    dispatcher.run_once()  # first try: 500
    [(status, attempts, error)] = _webhook_rows(om)
    assert (status, attempts) == ("pending", 1)
    assert "answered 500" in error

    # Backoff put it in the future; pretend that time has come.
    with om.db.writer.begin() as conn:
        conn.execute(t.outbox.update().values(available_at=om.clock.now() - timedelta(seconds=1)))
    dispatcher.run_once()  # 503
    with om.db.writer.begin() as conn:
        conn.execute(t.outbox.update().values(available_at=om.clock.now() - timedelta(seconds=1)))
    dispatcher.run_once()  # 200
    assert [row[0] for row in _webhook_rows(om)] == ["delivered"]

    headers, body = receiver.received[-1]
    assert body["type"] == "OrderCancelled"
    assert body["data"]["order_id"] == order.order_id
    expected = hmac.new(
        b"topsecret", json.dumps(body, separators=(",", ":")).encode(), hashlib.sha256
    )
    assert headers["X-Ordermesh-Signature"] == f"sha256={expected.hexdigest()}"
    assert len({h["Idempotency-Key"] for h, _ in receiver.received}) == 1


def test_a_message_whose_endpoint_was_removed_fails_at_once_and_stays_visible(om):
    from ordermesh.domain import commands as c

    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 1)
    _subscribe(om, "http://127.0.0.1:9/", endpoint_id="wh_gone")
    order = an_order(om, ("MUG-1", 1))
    om.handle(c.CancelOrder(order.order_id, "test"))
    om.dispatcher.run_once()  # fan-out: one message for wh_gone
    with om.db.writer.begin() as conn:
        conn.execute(t.webhook_endpoints.update().values(active=False))

    om.dispatcher.run_once()

    [(status, attempts, error)] = _webhook_rows(om)
    assert (status, attempts) == ("failed", 1)
    assert "no longer exists or is inactive" in error
    assert om.queries.outbox_status()["counts"]["failed"] == 1


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    first = [backoff(1).total_seconds() for _ in range(50)]
    tenth = [backoff(10).total_seconds() for _ in range(50)]
    assert all(1 <= s <= 2 for s in first)
    assert all(512 <= s <= 1024 for s in tenth)
    assert len(set(first)) > 1
    assert backoff(40).total_seconds() <= 3600


def _statuses(om):
    with om.db.reader.connect() as conn:
        return dict(
            conn.execute(
                select(t.outbox.c.status, func.count())
                .where(t.outbox.c.destination == "events")
                .group_by(t.outbox.c.status)
            ).all()
        )


def test_events_nobody_subscribed_to_are_done_in_one_run_and_never_sent_later(om, receiver):
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 5)
    order_id = an_order(om, ("MUG-1", 1)).order_id
    pending = _statuses(om)["pending"]
    dispatcher = OutboxDispatcher(om.db, om.clock, events_batch=pending)

    assert dispatcher.run_once() == pending
    assert _statuses(om) == {"delivered": pending}
    assert _webhook_rows(om) == []

    # A subscriber who joins later gets what happens from then on, not the old events.
    _subscribe(om, receiver.url)
    om.handle(c.CancelOrder(order_id, reason="buyer asked"))
    dispatcher.run_once()  # fan-out
    receiver.answers.clear()
    dispatcher.run_once()  # delivery
    assert [body["type"] for _, body in receiver.received] == ["OrderCancelled"]


def test_an_orders_events_are_one_outbox_row_and_reach_a_subscriber_one_by_one(om, receiver):
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 5)
    _subscribe(om, receiver.url)
    with om.db.writer.begin() as conn:
        conn.execute(t.webhook_endpoints.update().values(event_types=[]))  # every event
    receiver.answers.clear()
    rows_before = sum(_statuses(om).values())

    order_id = an_order(om, ("MUG-1", 2)).order_id

    assert sum(_statuses(om).values()) == rows_before + 1
    om.dispatcher.run_once()  # fan-out of every row so far
    om.dispatcher.run_once()  # delivery
    mine = [(h, b) for h, b in receiver.received if b["data"].get("order_id") == order_id]
    types = [b["type"] for _, b in mine]
    assert types == ["OrderPlaced", "OrderAllocated", "OrderStatusChanged"]
    ids = [b["id"] for _, b in mine]
    assert len(set(ids)) == len(ids)
    assert [h["Idempotency-Key"] for h, _ in mine] == [f"{i}:wh_1" for i in ids]
    assert all(b["occurred_at"] == mine[0][1]["occurred_at"] for _, b in mine)


def test_an_event_row_written_one_per_event_is_still_delivered_under_its_own_key(om, receiver):
    _subscribe(om, receiver.url)
    receiver.answers.clear()
    event = {
        "type": "OrderCancelled",
        "occurred_at": "2026-01-05T10:00:00+00:00",
        "data": {"order_id": "ord_old", "reason": "buyer asked"},
    }
    with om.db.writer.begin() as conn:
        conn.execute(
            insert(t.outbox).values(
                topic="OrderCancelled",
                destination="events",
                idempotency_key="evt_old",
                payload=event,
                status="pending",
                attempts=0,
                created_at=om.clock.now(),
                available_at=om.clock.now(),
            )
        )

    om.dispatcher.run_once()
    om.dispatcher.run_once()

    [(headers, body)] = receiver.received
    assert body == dict(event, id="evt_old")
    assert headers["Idempotency-Key"] == "evt_old:wh_1"
