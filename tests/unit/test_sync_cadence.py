"""When the worker syncs an account next: pages filled within the usage plan and a maximum
lag, a deep read now and then, and the fixed interval for channels without a usage plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ordermesh.domain import commands as c
from ordermesh.ports.marketplace import OrderCapacity
from ordermesh.services.handlers.channels import SyncReport
from ordermesh.services.sync_cadence import SyncCadence, next_wait

SEARCH_ORDERS = OrderCapacity("searchOrders", 0.0056, 20, 100)
"""Amazon's searchOrders: one request per 178.6 s sustained, 100 orders a page."""
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def wait(rate: float, **options: float) -> float:
    return next_wait(
        rate,
        SEARCH_ORDERS,
        overlap=options.get("overlap", 30.0),
        base=60.0,
        max_lag=600.0,
        took=options.get("took", 0.0),
    )


def test_an_account_too_quiet_to_fill_a_page_is_synced_at_the_maximum_lag():
    assert wait(0.0) == 600.0
    assert wait(0.1) == 600.0, "63 orders in 10 minutes: one partial page, as late as allowed"
    assert wait(0.1, took=20.0) == 580.0


def test_a_busy_account_is_synced_when_its_orders_fill_whole_pages_within_the_plan():
    # 1,800 orders an hour: three pages fit in 10 minutes; the bucket refills three tokens
    # in 536 s, by when 283 orders (3 pages) have changed.
    assert wait(0.5) == pytest.approx(3 / 0.0056)
    assert 0.5 * (wait(0.5) + 30) <= 300
    # 720 an hour: one page fits in 10 minutes; 90 orders in 420 s plus the overlap.
    assert wait(0.2) == pytest.approx(420.0)


def test_the_pages_are_as_many_as_the_maximum_lag_fills_to_the_fill_not_whole_pages():
    # 540 FBA orders an hour, read at most every 30 minutes: 274 orders fit, three pages
    # filled 0.9 each (before: two, since three whole pages do not fit).
    span = next_wait(0.15, SEARCH_ORDERS, overlap=30.0, base=60.0, max_lag=1800.0)
    assert span == pytest.approx(0.9 * 300 / 0.15 - 30)
    assert span <= 1800.0


def test_an_account_beyond_its_usage_plan_gets_full_pages_and_waits_for_tokens():
    # 2,340 changes an hour against 2,016 sustainable: raising the wait to the bucket's
    # refill would only add a partial page.
    assert wait(0.65) == pytest.approx(0.9 * 400 / 0.65 - 30)
    assert wait(0.65) < 4 / 0.0056


def test_however_busy_the_account_the_wait_fills_pages_within_the_maximum_lag():
    busy = wait(50.0)
    assert busy <= 600.0
    assert busy > 600.0 - 0.9 * 100 / 50.0, "within one page's time of the maximum lag"
    assert 50.0 * (busy + 30) / (0.9 * 100) == pytest.approx(round(50.0 * (busy + 30) / 90))
    assert next_wait(50.0, SEARCH_ORDERS, overlap=30.0, base=60.0, max_lag=60.0) == 60.0, (
        "never more often than the base interval"
    )


class Syncs:
    overlap = timedelta(seconds=30)

    def __init__(self, clock: list[datetime]) -> None:
        self.clock = clock
        self.overlaps: list[timedelta | None] = []
        self.status = "synced"
        self.fetched = 0
        self.late = 0
        """Changes each sync finds the channel showed late."""

        self.marketplace_fetched = 0
        self.marketplace_asked: list[bool] = []
        """Whether each sync read the FBA orders."""
        self.marketplace_until: datetime | None = None
        self.marketplace_windows: list[timedelta] = []

    def sync(
        self,
        cmd: c.SyncChannel,
        *,
        overlap: timedelta | None = None,
        marketplace_span: timedelta | None = None,
    ) -> SyncReport:
        self.overlaps.append(overlap)
        until = self.clock[0] - timedelta(seconds=150)
        since = until - timedelta(seconds=600) - (overlap or self.overlap)
        report = SyncReport(
            cmd.account, self.status, since, until, fetched=self.fetched, late=self.late
        )
        # The trailing read: the span asked for, once it lies 90 minutes behind.
        behind = until - timedelta(minutes=90)
        start = self.marketplace_until or behind - timedelta(seconds=600)
        end = behind if marketplace_span is None else start + marketplace_span
        self.marketplace_asked.append(end <= behind)
        if end <= behind:
            report.marketplace_since, report.marketplace_until = start, end
            # `marketplace_fetched` trailing orders every 600 s
            report.marketplace_fetched = round(
                self.marketplace_fetched * (end - start).total_seconds() / 600
            )
            report.fetched += report.marketplace_fetched
            self.marketplace_until = end
            self.marketplace_windows.append(end - start)
        return report


class Clock:
    def __init__(self, at: list[datetime]) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at[0]


def _deep_reading(syncs: Syncs, at: list[datetime], **options: timedelta) -> SyncCadence:
    """Amazon's cadence reading 20 minutes back on a deep read."""
    return SyncCadence(
        syncs,
        lambda _: SEARCH_ORDERS,
        Clock(at),
        base=timedelta(seconds=60),
        deep_overlap=timedelta(minutes=20),
        **options,
    )


def test_a_deep_read_every_few_hours_and_the_rate_learned_from_the_syncs():
    at = [T0]
    syncs = Syncs(at)
    cadence = _deep_reading(syncs, at, deep_every=timedelta(hours=4))
    syncs.fetched = 315  # 0.5 orders a second over the 630 s window
    turns = []
    for _ in range(30):
        turns.append(cadence.turn("A"))
        at[0] += timedelta(seconds=turns[-1].wait)
    assert turns[0].wait == pytest.approx(3 / 0.0056)
    deep = [n for n, t in enumerate(turns) if t.deep]
    assert len(deep) == 1
    assert at[0] - T0 > timedelta(hours=4)
    assert syncs.overlaps[deep[0]] == timedelta(minutes=20)
    assert syncs.overlaps.count(None) == 29


def test_a_change_the_overlap_finds_late_brings_a_deep_read_at_once_not_more_than_it_covers():
    at = [T0]
    syncs = Syncs(at)
    cadence = _deep_reading(syncs, at)
    syncs.fetched = 315

    def turn(after: float) -> bool:
        at[0] += timedelta(seconds=after)
        return cadence.turn("A").deep

    assert [turn(0), turn(540), turn(540)] == [False, False, False]
    syncs.late = 1  # Amazon starts showing changes late: every overlap finds one
    assert turn(540) is False, "the sync that finds it is an ordinary one"
    assert turn(540) is True, "the next reads back the deep overlap"
    assert turn(300) is False, "the same 20 minutes are not read twice"
    assert turn(900) is True
    syncs.late = 0
    assert turn(600) is False, "a deep read's own finds do not ask for another"
    assert [turn(600) for _ in range(10)] == [False] * 10, "the unasked one is a day apart"


def test_a_failed_sync_or_a_channel_without_a_usage_plan_keeps_the_base_interval():
    at = [T0]
    syncs = Syncs(at)
    plain = SyncCadence(syncs, lambda _: None, Clock(at), base=timedelta(seconds=60))
    syncs.fetched = 300
    assert plain.turn("shop").wait == 60.0
    amazon = SyncCadence(syncs, lambda _: SEARCH_ORDERS, Clock(at), base=timedelta(seconds=60))
    syncs.status = "failed"
    assert amazon.turn("A").wait == 60.0


def test_fba_orders_read_apart_wait_for_fuller_pages_and_do_not_count_in_the_merchant_rate():
    at = [T0]
    syncs = Syncs(at)
    cadence = SyncCadence(
        syncs,
        lambda _: SEARCH_ORDERS,
        Clock(at),
        base=timedelta(seconds=60),
        marketplace_max_lag=timedelta(minutes=30),
    )
    # 1,800 orders an hour, 30 % of them FBA: 210 merchant orders in each 630 s window,
    # 90 FBA orders every 600 s.
    syncs.fetched, syncs.marketplace_fetched = 210, 90
    waits = []
    for _ in range(24):
        waits.append(cadence.turn("A").wait)
        at[0] += timedelta(seconds=waits[-1])
    assert syncs.marketplace_asked[0], "the first sync reads them (their rate is unknown)"
    assert 4 <= sum(syncs.marketplace_asked) < 24 / 2, "read far less often than the rest"
    # The merchant orders alone set the merchant pace: 2 pages 90 % full.
    assert waits[-1] == pytest.approx(0.9 * 200 / (210 / 630) - 30)
    # Each FBA read after the first covers what fills 3 pages 90 % (270 at 0.15 a second)
    # within the 30 minutes, whichever merchant turn it falls on.
    spans = [w.total_seconds() for w in syncs.marketplace_windows[1:]]
    assert spans
    assert spans == pytest.approx([0.9 * 300 / 0.15 - 30] * len(spans), rel=0.01)


def test_a_seller_without_fba_orders_reads_them_apart_less_and_less_often_down_to_every_two_hours():
    at = [T0]
    syncs = Syncs(at)
    cadence = SyncCadence(syncs, lambda _: SEARCH_ORDERS, Clock(at), base=timedelta(seconds=60))
    syncs.fetched, syncs.marketplace_fetched = 210, 0
    for _ in range(60):
        at[0] += timedelta(seconds=cadence.turn("A").wait)
    spans = [w.total_seconds() for w in syncs.marketplace_windows]
    assert spans == sorted(spans), "each empty read is followed by a longer one"
    assert spans[-1] == 2 * 3600, "until one every two hours"
    assert len(spans) <= 8, "over about nine hours"
