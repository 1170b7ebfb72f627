"""When to sync each channel account next, and how far back each sync reads.

A channel whose order search has a tight usage plan (Amazon's searchOrders: one request per
~3 minutes, 100 orders a page) pays a request per page, full or not, and a sync reads again
what its overlap covers. Syncing such an account every minute spends most requests on nearly
empty pages; so the account is synced when the orders expected since its last sync (from its
recent rate) fill whole pages, never more often than its search bucket sustains, and never
later than `max_lag`, which bounds how late an order is imported (the in-flight-demand margin
of stock sync grows with that lag).

Each sync's overlap is small (`ChannelSync.overlap`: the settle time already keeps the
window clear of Amazon's two-minute eventual consistency), and it is also the watch for
Amazon running late: a change it brings in that ordermesh did not have was shown later than
the settle time (`SyncReport.late`). The next sync then reads back `deep_overlap` instead (a
deep read), so that changes shown later still, around the same time, are brought in too; no
more often than once per `deep_overlap`, which a deep read covers. Once every `deep_every`
a deep read runs unasked, for late changes that no overlap saw. A deep read costs
`deep_overlap` of orders read again (about 0.1 request per 1,000 orders once a day, 0.6
every four hours); the inbox makes everything it reads twice a no-op.

Where marketplace-fulfilled orders are read apart, behind the rest (Amazon FBA:
`MARKETPLACE_TRAIL` in handlers/channels.py), that read follows the same rule on its own rate,
within `marketplace_max_lag`: it asks nothing of the seller, so it waits for fuller pages. It
trails, so its window need not end now: the cadence hands the sync the span that fills its
pages, and the sync reads that span as soon as it lies wholly behind the trail, whichever
merchant turn that falls on.

Channels without a usage plan on their order search (Shopify, whose webhooks bring most
changes) keep the fixed `base` interval."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ordermesh.domain import commands as c
from ordermesh.ports.clock import Clock
from ordermesh.ports.marketplace import OrderCapacity
from ordermesh.services.handlers.channels import SyncReport

MAX_LAG = timedelta(minutes=10)
"""Longest wait between two syncs of an account with orders flowing."""
PAGE_FILL = 0.9
"""Share of the pages' room the expected orders should fill: arrivals are random, and one
order past a page's end costs a whole request."""
RATE_WEIGHT = 0.7
"""Weight of the newest sync in the account's running order rate."""
DEEP_EVERY = timedelta(hours=24)
"""The deep read unasked: a blind sample of `deep_overlap` (a late change outside it is not
caught), so it is rare; Amazon running late is answered by the overlap's watch instead."""
DEEP_OVERLAP = timedelta(minutes=20)
MARKETPLACE_MAX_LAG = timedelta(minutes=60)
"""Longest wait between two reads of the marketplace-fulfilled orders read apart. They wait
on nothing, so their reads wait for pages well filled: at 450 FBA orders an hour, an hour
makes five pages where 30 minutes made two, and 0.2 fewer requests per 1,000 orders in all
(bench/amazon.py), for FBA orders coming in about 15 minutes later."""
QUIET_MARKETPLACE_LAG = timedelta(hours=2)
"""The most it grows to while reads find none (twice the window that found none, each
time): a seller who does not use FBA should not spend a tenth of the search's usage plan
on empty pages."""


class Syncs(Protocol):
    overlap: timedelta

    def sync(
        self,
        cmd: c.SyncChannel,
        *,
        overlap: timedelta | None = None,
        marketplace_span: timedelta | None = None,
    ) -> SyncReport: ...


@dataclass
class _Pace:
    rate: float | None = None
    """Changed orders per second of window, over the last syncs."""
    last_deep: datetime | None = None
    late_seen: bool = False
    """The last syncs brought in changes the channel showed late: a deep read is due."""
    next_wait: float = 0.0
    marketplace_rate: float | None = None
    """The same, of the marketplace-fulfilled orders read apart."""
    marketplace_span: timedelta | None = None
    """The window of those to read next (None: all there is, before their first read)."""


@dataclass(frozen=True, slots=True)
class Turn:
    report: SyncReport
    wait: float
    """Seconds until this account's next sync."""
    deep: bool


class SyncCadence:
    def __init__(
        self,
        syncs: Syncs,
        capacity: Callable[[str], OrderCapacity | None],
        clock: Clock,
        *,
        base: timedelta,
        max_lag: timedelta = MAX_LAG,
        fill: float = PAGE_FILL,
        deep_every: timedelta = DEEP_EVERY,
        deep_overlap: timedelta = DEEP_OVERLAP,
        marketplace_max_lag: timedelta = MARKETPLACE_MAX_LAG,
    ) -> None:
        self.syncs, self.capacity, self.clock = syncs, capacity, clock
        self.base, self.max_lag, self.fill = base, max_lag, fill
        self.deep_every, self.deep_overlap = deep_every, deep_overlap
        self.marketplace_max_lag = marketplace_max_lag
        self._paces: dict[str, _Pace] = {}
        self._lock = threading.Lock()

    def _pace(self, account_id: str) -> _Pace:
        with self._lock:
            return self._paces.setdefault(account_id, _Pace())

    def turn(self, account_id: str, actor: str = "ordermesh") -> Turn:
        """Sync the account once (a deep read when one is due) and say when to come back."""
        pace = self._pace(account_id)
        now = self.clock.now()
        if pace.last_deep is None:
            pace.last_deep = now  # the first sync reads from the cursor as it stands
        since_deep = now - pace.last_deep
        deep = since_deep >= self.deep_every or (pace.late_seen and since_deep >= self.deep_overlap)
        report = self.syncs.sync(
            c.SyncChannel(account_id, actor=actor),
            overlap=self.deep_overlap if deep else None,
            marketplace_span=pace.marketplace_span,
        )
        if report.status == "synced":
            if deep:
                # What it found late is what it is for; only a later overlap's find asks again.
                pace.last_deep, pace.late_seen = now, False
            elif report.late:
                pace.late_seen = True
        took = (self.clock.now() - now).total_seconds()
        capacity = self.capacity(account_id)
        pace.next_wait = self._next_wait(pace, report, capacity, took)
        if report.status == "synced" and report.marketplace_until is not None:
            pace.marketplace_span = self._marketplace_span(pace, report, capacity)
        return Turn(report, pace.next_wait, deep)

    def planned_wait(self, account_id: str) -> float:
        """The wait planned after the account's last sync (0 before its first)."""
        return self._pace(account_id).next_wait

    def _next_wait(
        self, pace: _Pace, report: SyncReport, capacity: OrderCapacity | None, took: float
    ) -> float:
        base = self.base.total_seconds()
        if capacity is None or report.status != "synced":
            # A failed window is read again from the same cursor; the client has backed off.
            return base
        pace.rate = _running_rate(
            pace.rate, report.since, report.until, report.fetched - report.marketplace_fetched
        )
        return next_wait(
            pace.rate or 0.0,
            capacity,
            overlap=self.syncs.overlap.total_seconds(),
            base=base,
            max_lag=self.max_lag.total_seconds(),
            fill=self.fill,
            took=took,
        )

    def _marketplace_span(
        self, pace: _Pace, report: SyncReport, capacity: OrderCapacity | None
    ) -> timedelta | None:
        """How much of the marketplace-fulfilled orders' time the next read of them covers
        (None: all there is, for a channel without a usage plan)."""
        if capacity is None:
            return None
        pace.marketplace_rate = _running_rate(
            pace.marketplace_rate,
            report.marketplace_since,
            report.marketplace_until,
            report.marketplace_fetched,
        )
        lag = self.marketplace_max_lag
        since, until = report.marketplace_since, report.marketplace_until
        if report.marketplace_fetched == 0 and since is not None and until is not None:
            lag = min(max(2 * (until - since), lag), QUIET_MARKETPLACE_LAG)
        span = next_wait(
            pace.marketplace_rate or 0.0,
            capacity,
            overlap=self.syncs.overlap.total_seconds(),
            base=self.base.total_seconds(),
            max_lag=lag.total_seconds(),
            fill=self.fill,
        )
        return timedelta(seconds=span)


def _running_rate(
    rate: float | None, since: datetime | None, until: datetime | None, fetched: int
) -> float | None:
    """The running rate of changes per second with a window's own folded in (a window under
    a minute says too little to count)."""
    if since is None or until is None:
        return rate
    window = (until - since).total_seconds()
    if window < 60:
        return rate
    seen = fetched / window
    return seen if rate is None else RATE_WEIGHT * seen + (1 - RATE_WEIGHT) * rate


def next_wait(
    rate: float,
    capacity: OrderCapacity,
    *,
    overlap: float,
    base: float,
    max_lag: float,
    fill: float = PAGE_FILL,
    took: float = 0.0,
) -> float:
    """Seconds to wait before the next sync of an account changing `rate` orders a second.

    The next window runs from this sync's start (less the overlap) to the next one's: `took`
    (this sync's own time, waits for tokens included) plus the wait. The wait is chosen so
    that the changes expected in that window fill `fill` of as many pages as can be filled
    that far within `max_lag`. An account too quiet to fill one page within `max_lag` is synced at
    `max_lag`: the fewest requests that keep the lag bounded.

    The wait is then raised to what the search bucket takes to refill those pages, so that
    syncs do not drain it, as long as the changes expected by then still fit those pages.
    When they do not (the account changes about as many orders as its usage plan sustains,
    or more: the order-rate warning says so), it is not raised, since syncing later would
    only add a partial page: the sync waits for tokens between pages, in its own thread, and
    the lag grows until the volume drops."""
    page = max(capacity.page_size, 1)
    if rate <= 0:
        return max(max_lag - took, base)
    # As many pages as the changes expected within max_lag fill to `fill`: counting whole
    # pages' room instead would, at 2.7 pages' worth, settle for two pages filled 0.9 each.
    pages = math.floor(rate * (max_lag + overlap) / (fill * page))
    if pages == 0:
        return max(max_lag - took, base)
    filled = fill * pages * page / rate - overlap - took
    rps = capacity.requests_per_second
    refilled = pages / rps - took if rps > 0 else 0.0
    if refilled > filled and rate * (refilled + took + overlap) <= pages * page:
        return max(refilled, base)
    return max(filled, base)
