"""Group commit: the API's write queue hands the commands that waited together to the bus as
one transaction on SQLite. Each command still succeeds or fails on its own, nothing is answered
before the commit, and the stock never oversells."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import text

from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from ordermesh.domain.errors import UnknownSkus
from ordermesh.ports.storage import WriteGroup
from tests.builders.catalogue import BERLIN, a_location, a_product, stock


@pytest.fixture
def sqlite_om(sqlite_url: str):
    app = bootstrap(Settings(database_url=sqlite_url, env="test", worker=False), migrate=False)
    try:
        yield app
    finally:
        app.close()


def _order(sku: str, quantity: int = 1) -> c.CreateOrder:
    return c.CreateOrder((c.NewLine(sku, quantity),), BERLIN, actor="test")


def _count(om: Ordermesh, sql: str) -> int:
    with om.db.reader.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


class CountingGroups:
    """The real write groups, counted: how many units each group ran."""

    def __init__(self, om: Ordermesh, *, fail_commits: int = 0) -> None:
        assert om.bus.group_factory is not None
        self.real = om.bus.group_factory
        self.sizes: list[int] = []
        self.fail_commits = fail_commits
        om.bus.group_factory = self

    def __call__(self) -> WriteGroup:
        return _Counted(self, self.real())


class _Counted:
    def __init__(self, counter: CountingGroups, real: WriteGroup) -> None:
        self.counter, self.real, self.units = counter, real, 0

    def __enter__(self) -> _Counted:
        self.real.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.counter.sizes.append(self.units)
        self.real.__exit__(*exc)

    def unit(self):
        self.units += 1
        return self.real.unit()

    def commit(self) -> None:
        if self.counter.fail_commits:
            self.counter.fail_commits -= 1
            raise OSError("disk I/O error (simulated)")
        self.real.commit()


def test_orders_handled_together_are_each_kept_and_a_bad_one_is_refused_alone(sqlite_om):
    om = sqlite_om
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 10)
    events_before = _count(om, "SELECT count(*) FROM outbox")
    groups = CountingGroups(om)

    outcomes = om.bus.handle_together(
        [_order("MUG-1"), _order("NO-SUCH-SKU"), _order("MUG-1", 2), _order("MUG-1")]
    )

    assert groups.sizes == [4]
    assert [o.error is None for o in outcomes] == [True, False, True, True]
    assert isinstance(outcomes[1].error, UnknownSkus)
    assert [o.result.status for o in outcomes if o.error is None] == ["allocated"] * 3
    assert _count(om, "SELECT count(*) FROM orders") == 3
    assert _count(om, "SELECT count(*) FROM order_lines WHERE sku = 'NO-SUCH-SKU'") == 0
    [level] = om.queries.stock_levels(sku="MUG-1").items
    assert (level["on_hand"], level["reserved"]) == (10, 4)
    assert om.queries.ledger_totals("MUG-1", "WH1") == (10, 4)
    # Each kept order's events went to the outbox with it; the refused one wrote none.
    assert _count(om, "SELECT count(*) FROM outbox") > events_before
    assert _count(om, "SELECT count(*) FROM outbox WHERE payload LIKE '%NO-SUCH-SKU%'") == 0


def test_a_group_whose_commit_fails_runs_its_orders_again_one_by_one(sqlite_om):
    om = sqlite_om
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 10)
    CountingGroups(om, fail_commits=1)

    outcomes = om.bus.handle_together([_order("MUG-1") for _ in range(3)])

    assert [o.error for o in outcomes] == [None, None, None]
    # Nothing of the failed group was kept: each order exists once, reserved once.
    assert _count(om, "SELECT count(*) FROM orders") == 3
    assert om.queries.ledger_totals("MUG-1", "WH1") == (10, 3)


def test_orders_queued_behind_a_slow_write_share_a_commit_and_are_answered_after_it(sqlite_om):
    om = sqlite_om
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 100)
    groups = CountingGroups(om)
    release = threading.Event()
    # Holds the write thread so that the orders below queue up behind it.
    blocker = om.writes.submit(release.wait, 10)
    seen_committed: list[bool] = []

    def on_answer(future: Future[Any]) -> None:
        # Read on a connection of its own: an answer must never come before the commit.
        with om.db.reader.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM orders WHERE id = :id"), {"id": future.result().order_id}
            ).scalar_one()
        seen_committed.append(found == 1)

    futures = [om.writes.submit_command(_order("MUG-1")) for _ in range(20)]
    for future in futures:
        future.add_done_callback(on_answer)
    release.set()
    blocker.result(timeout=10)
    statuses = [f.result(timeout=30).status for f in futures]
    deadline = time.monotonic() + 10
    while len(seen_committed) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)  # the last callbacks run on the write thread just after the answers

    assert statuses == ["allocated"] * 20
    assert seen_committed == [True] * 20
    assert sum(groups.sizes) == 20
    assert max(groups.sizes) > 1
    assert om.queries.ledger_totals("MUG-1", "WH1") == (100, 20)


def test_writes_submitted_in_between_commands_run_in_their_turn(sqlite_om):
    om = sqlite_om
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 5)
    release = threading.Event()
    order: list[str] = []
    blocker = om.writes.submit(release.wait, 10)
    first = om.writes.submit_command(_order("MUG-1"))
    first.add_done_callback(lambda _: order.append("first order"))
    between = om.writes.submit(
        lambda: (
            order.append("receipt")
            or om.handle(c.ReceiveStock("MUG-1", "WH1", 5, reference="between"))
        )
    )
    second = om.writes.submit_command(_order("MUG-1", 9))
    second.add_done_callback(lambda _: order.append("second order"))
    release.set()
    blocker.result(timeout=10)

    assert first.result(timeout=10).status == "allocated"
    between.result(timeout=10)
    # The second order could only be filled because the receipt ran before it.
    assert second.result(timeout=10).status == "allocated"
    assert order == ["first order", "receipt", "second order"]


def test_sixteen_api_writers_racing_for_the_last_ten_mugs_never_oversell(om):
    a_location(om, "WH1")
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 10)
    barrier = threading.Barrier(16)
    futures: list[Future[Any]] = []
    lock = threading.Lock()

    def buyer() -> None:
        barrier.wait(timeout=30)
        future = om.writes.submit_command(_order("MUG-1"))
        with lock:
            futures.append(future)

    threads = [threading.Thread(target=buyer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = Counter(f.result(timeout=60).status for f in futures)
    assert statuses == {"allocated": 10, "backordered": 6}
    [level] = om.queries.stock_levels(sku="MUG-1").items
    assert (level["on_hand"], level["reserved"], level["available"]) == (10, 10, 0)
    assert om.queries.ledger_totals("MUG-1", "WH1") == (10, 10)
