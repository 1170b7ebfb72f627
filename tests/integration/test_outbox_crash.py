"""A crash between commit and delivery loses nothing and, seen from the receiver, sends
nothing twice: delivery is at least once under a stable Idempotency-Key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import insert, select

from ordermesh.adapters.db import tables as t

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


class Receiver:
    """An ERP's webhook endpoint that honours Idempotency-Key, as ordermesh asks receivers to."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.applied: dict[str, dict] = {}
        self.kill_on_first: int | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                receiver.requests.append((key, body))
                if receiver.kill_on_first is not None:
                    # The sender dies while we hold its request: it never learns we got it.
                    os.kill(receiver.kill_on_first, signal.SIGKILL)
                    receiver.kill_on_first = None
                    return
                receiver.applied.setdefault(key, body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _run(code: str, url: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC, ORDERMESH_DATABASE_URL=url)
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env)


PLACE_ORDER_THEN_DIE = """
    import os
    from ordermesh.bootstrap import bootstrap
    from ordermesh.config import Settings
    from ordermesh.domain import commands as c
    from ordermesh.domain.orders import Address
    om = bootstrap(Settings(env="test", worker=False), migrate=False)
    om.handle(c.CreateOrder((c.NewLine("MUG-1", 1),), Address("Ann", "1 Road", "Berlin", "10115", "DE")))
    os._exit(9)  # committed; the outbox was never dispatched
"""

DISPATCH = """
    from datetime import timedelta
    from ordermesh.adapters.db.outbox import OutboxDispatcher
    from ordermesh.bootstrap import bootstrap
    from ordermesh.config import Settings
    om = bootstrap(Settings(env="test", worker=False), migrate=False)
    dispatcher = OutboxDispatcher(om.db, om.clock, lease=timedelta(seconds=0))
    while dispatcher.run_once():
        pass
"""


def test_events_committed_before_a_crash_reach_the_receiver_exactly_once(
    om, database_url, receiver
):
    from tests.builders.catalogue import a_location, a_product, stock

    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 5)
    om.dispatcher.run_once()  # the set-up's own events are not what this test is about
    with om.db.writer.begin() as conn:
        conn.execute(
            insert(t.webhook_endpoints).values(
                id="wh_erp",
                url=receiver.url,
                secret="s3cret",
                event_types=["OrderPlaced"],
                active=True,
                created_at=om.clock.now(),
            )
        )

    placer = _run(PLACE_ORDER_THEN_DIE, database_url)
    assert placer.wait(timeout=60) == 9
    assert receiver.requests == []

    # The dispatcher is killed while the receiver holds its request, before it can mark the
    # message delivered: the receiver has the event, ordermesh does not know it.
    first = _run(DISPATCH, database_url)
    receiver.kill_on_first = first.pid
    assert first.wait(timeout=60) == -signal.SIGKILL
    assert len(receiver.requests) == 1
    assert receiver.applied == {}

    # After a restart the message goes again, with the same key; the receiver applies it once.
    second = _run(DISPATCH, database_url)
    assert second.wait(timeout=60) == 0
    keys = [key for key, _ in receiver.requests]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert len(receiver.applied) == 1
    [event] = receiver.applied.values()
    assert event["type"] == "OrderPlaced"
    with om.db.reader.connect() as conn:
        statuses = (
            conn.execute(
                select(t.outbox.c.status).where(t.outbox.c.destination == "webhook:wh_erp")
            )
            .scalars()
            .all()
        )
    assert statuses == ["delivered"]
