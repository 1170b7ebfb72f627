"""The worker's channel syncs run one thread per account, beside the periodic jobs: an
account whose sync waits minutes for Amazon's next token delays neither the other accounts
nor the scheduler's jobs, a job reading whole channels delays none of the quick ones, and
stopping the worker stops them all."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ordermesh.bootstrap import Ordermesh
from ordermesh.entrypoints.worker import Job, Worker
from ordermesh.services.handlers.channels import SyncReport
from ordermesh.services.sync_cadence import Turn
from tests.builders.catalogue import a_location, a_product, stock
from tests.builders.ordermesh import ManualClock, an_ordermesh
from tests.integration.test_stock_sync_jobs import (
    Channels,
    listed,
    sold_on_amazon_in_the_hour_before_its_last_sync,
)


class Cadence:
    """Stands in for `om.sync_cadence`: the slow account's sync holds until released."""

    def __init__(self, slow: str) -> None:
        self.slow = slow
        self.release = threading.Event()
        self.turns: dict[str, int] = {}
        self.lock = threading.Lock()

    def turn(self, account_id: str, actor: str = "ordermesh") -> Turn:
        with self.lock:
            self.turns[account_id] = self.turns.get(account_id, 0) + 1
        if account_id == self.slow:
            self.release.wait(30)  # waiting for a rate-limit token
        return Turn(SyncReport(account_id, "synced"), 0.05, deep=False)


def _account(om: Ordermesh, channel: str, name: str) -> str:
    return om.channel_adapters.accounts.register(
        channel=channel,
        name=name,
        settings={},
        secrets={"token": "x"},
        sync_from=datetime(2026, 11, 23, tzinfo=UTC),
    ).id


def test_a_sync_waiting_for_a_token_holds_back_neither_other_accounts_nor_periodic_jobs(om):
    slow = _account(om, "amazon", "Amazon US")
    quick = _account(om, "shopify", "Shop")
    cadence = Cadence(slow)
    om.sync_cadence = cadence  # type: ignore[assignment]
    ran = threading.Event()
    worker = Worker(om)
    worker.jobs = [Job("a periodic job", 0.05, ran.set)]
    stop = worker.start()
    try:
        deadline = time.monotonic() + 10
        while cadence.turns.get(quick, 0) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cadence.turns.get(quick, 0) >= 5, "the other account syncs at its own pace"
        assert cadence.turns[slow] == 1, "still waiting for its token"
        assert ran.wait(5), "the scheduler's jobs run meanwhile"
    finally:
        cadence.release.set()
        started = time.monotonic()
        stop()
    assert time.monotonic() - started < 5
    assert not any(t.is_alive() for t in worker._syncers.values()), "every sync thread stopped"


def test_a_job_reading_whole_channels_holds_back_none_of_the_quick_periodic_jobs(om):
    reading = threading.Event()
    release = threading.Event()

    def reconcile() -> None:  # a reconciliation reading every listing of a busy channel
        reading.set()
        release.wait(30)

    ran = threading.Event()
    worker = Worker(om)
    worker.jobs = [
        Job("stock reconciliation", 0.05, reconcile, reads_channels=True),
        Job("stock push loops", 0.05, ran.set),
    ]
    stop = worker.start()
    try:
        assert reading.wait(10)
        ran.clear()
        assert ran.wait(5), "the quick jobs run while the channels are read"
    finally:
        release.set()
        stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def om_at(database_url: str, clock: ManualClock) -> Iterator[Ordermesh]:
    with an_ordermesh(database_url, clock, channel_sync_seconds=60) as app:
        a_location(app, "WH1")
        yield app


def test_amazon_holds_back_what_it_may_sell_until_the_sync_the_cadence_plans(om_at, clock):
    om = om_at
    channels = Channels(om)
    amazon, _ = channels.add("amazon", "Amazon DE")
    a_product(om, "MUG")
    on_amazon = listed(om, "MUG", amazon)
    stock(om, "MUG", 100)
    sold_on_amazon_in_the_hour_before_its_last_sync(om, clock, amazon, on_amazon)
    clock.advance(minutes=4)
    stock(om, "MUG", 1)
    assert om.stock_sync.explain(amazon, on_amazon).explanation.margin == 1, "4 + 1 min"

    # The cadence stretched this account's syncs: the next one is 11 minutes away.
    om.in_flight_demand.planned_wait = lambda account: 660.0 if account == amazon else 0.0
    stock(om, "MUG", 1)
    assert om.stock_sync.explain(amazon, on_amazon).explanation.margin == 3, "12/h × 15 min"


def _stock_cover_first_run_in(om: Ordermesh) -> float:
    """Seconds from a worker's start to its first stock-cover snapshot."""
    worker = Worker(om)
    worker.start()
    try:
        job = next(job for job in worker.jobs if job.name == "stock cover")
        return job.due - time.monotonic()
    finally:
        worker.stop()


def test_a_restart_takes_the_stock_cover_again_only_once_the_last_one_is_due(
    database_url: str,
) -> None:
    # Every process of a deploy restarts; each one reading every stock level again, seconds
    # of a core beside the API's writes, for a snapshot a minute old, is work for nothing.
    clock = ManualClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    with an_ordermesh(database_url, clock) as om:
        assert _stock_cover_first_run_in(om) <= 5.0

        om.queries.figures.snapshot_cover()
        clock.advance(minutes=1)
        # Taken a minute ago, due every five: four minutes from now.
        assert 230 <= _stock_cover_first_run_in(om) <= 240

        clock.advance(minutes=10)
        assert _stock_cover_first_run_in(om) <= 5.0


def test_a_job_whose_last_result_cannot_be_read_still_runs_soon_after_a_start(
    database_url: str,
) -> None:
    # The database answering badly as the process starts must not put a job off, nor keep
    # the worker from starting.
    def unreadable() -> datetime | None:
        raise RuntimeError("the snapshot table cannot be read")

    with an_ordermesh(database_url) as om:
        worker = Worker(om)
        worker.jobs = [Job("a snapshot", 300.0, lambda: None, last_ran=unreadable)]
        worker.start()
        try:
            assert worker.jobs[0].due - time.monotonic() <= 5.0
        finally:
            worker.stop()
