"""The in-process worker: delivers the outbox and runs the periodic jobs.

`ordermesh serve` starts it on the embedded runtime. Two threads, and one channel-sync thread
per active account, so that a channel sync waiting minutes for Amazon's rate limit never
delays a webhook, a stock push, a periodic job or another account's sync:
- the dispatcher polls the outbox and is also woken right after any commit that wrote
  events, so deliveries normally leave within milliseconds; the poll is only the safety net
  for wake-ups that never came (another process committed);
- the scheduler applies Shopify webhooks that were stored but not yet applied, retries
  backorders, purges old rows, watches the push queues' health, and starts the loops; the
  jobs that read whole channels (stock reconciliation, FBA inventory, account health: minutes
  under load, waiting on the channels' budgets) run on a scheduler thread of their own, so
  that a dead loop is restarted and an alert raised without waiting behind them.
Each account's sync thread pulls its changed orders at the cadence `om.sync_cadence` sets
(Amazon's: when the expected orders fill pages, within its usage plan and a maximum lag).
One stock-push thread per active channel account and lane drains that account's push queue,
woken like the dispatcher by every commit that made a push due, so a slow channel never holds
back another, and Amazon's urgent patches never wait behind a feed in flight."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.commands import AllocateBackorders, RecomputeListings
from ordermesh.domain.errors import DomainError
from ordermesh.ports.channels import ChannelError
from ordermesh.services.stock_sync_jobs import BULK

log = logging.getLogger(__name__)
DISPATCH_GATHER_SECONDS = 0.05


@dataclass
class Job:
    name: str
    every: float
    run: Callable[[], object]
    due: float = 0.0
    reads_channels: bool = False
    """Reads whole channels: runs on the channel-reads scheduler thread."""
    last_ran: Callable[[], datetime | None] | None = None
    """When the job last made the result it keeps (a snapshot): a start waits until that is
    due again instead of making it anew."""


class Worker:
    def __init__(self, om: Ordermesh, *, poll_seconds: float | None = None) -> None:
        self.om = om
        self.poll_seconds = poll_seconds or om.settings.outbox_poll_seconds
        self._stop = threading.Event()
        self.delivered = 0
        self.jobs = [
            Job("channel sync loops", 15.0, self._start_sync_loops),
            Job("shopify webhooks", 30.0, om.shopify_webhooks.process_pending),
            Job("amazon notifications", 30.0, om.amazon_notifications.process_pending),
            # Stock that arrived through another process, or a follow-up that failed, still
            # reaches the orders waiting for it.
            Job("backorders", 60.0, lambda: om.handle(AllocateBackorders(actor="ordermesh"))),
            # The figures are recomputed on every stock change; this heals a recompute lost
            # to a crash after commit and gives a new listing its first figure.
            Job("stock figures", 300.0, lambda: om.handle(RecomputeListings())),
            Job("stock push loops", 15.0, self._start_push_loops),
            Job("stock sync health", 15.0, om.stock_sync_jobs.health),
            Job(
                "stock reconciliation",
                om.settings.stock_reconcile_seconds,
                self._reconcile,
                reads_channels=True,
            ),
            # Amazon refreshes FBA figures about every 30 minutes; health reports daily.
            Job("FBA inventory", 1800.0, self._pull_network_stock, reads_channels=True),
            Job("account health", 6 * 3600.0, self._fetch_account_health, reads_channels=True),
            # Logs a warning when an account's order volume nears what its usage plan reads.
            Job("order rate", 900.0, self._check_order_rates),
            Job("purge", 3600.0, self._purge),
            # The overview's rollups fold in only the orders created since the last run.
            Job("dashboard figures", 60.0, om.queries.figures.refresh),
            # Seconds of reading every stock level: a restart (every process of a deploy) does
            # not take it again while the last one is fresh.
            Job(
                "stock cover",
                300.0,
                om.queries.figures.snapshot_cover,
                last_ran=om.queries.figures.cover_taken_at,
            ),
        ]
        self._threads = [
            threading.Thread(target=self._dispatch, name="ordermesh-outbox", daemon=True),
            threading.Thread(
                target=self._schedule, args=(False,), name="ordermesh-scheduler", daemon=True
            ),
            threading.Thread(
                target=self._schedule, args=(True,), name="ordermesh-channel-reads", daemon=True
            ),
        ]
        self._pushers: dict[str, threading.Thread] = {}
        self._syncers: dict[str, threading.Thread] = {}

    def start(self) -> Callable[[], None]:
        now = time.monotonic()
        for job in self.jobs:
            job.due = now + self._first_wait(job)
        for thread in self._threads:
            thread.start()
        self._start_push_loops()
        self._start_sync_loops()
        return self.stop

    def _first_wait(self, job: Job) -> float:
        """Seconds from the start to a job's first run: a moment, or until its last result is
        due again."""
        soon = min(job.every, 5.0)
        if job.last_ran is None:
            return soon
        try:
            made = job.last_ran()
        except Exception:
            log.exception("could not tell when %r last ran; running it soon", job.name)
            return soon
        if made is None:
            return soon
        age = (self.om.clock.now() - made).total_seconds()
        # Never later than one period: a result stamped ahead of this clock is not trusted.
        return min(job.every, max(soon, job.every - age))

    def stop(self) -> None:
        """Stop every thread. A sync holds no transaction while it waits on the channel, so
        one still waiting for a rate-limit token when the patience runs out is left to die
        with the process (its window is read again by the next start)."""
        self._stop.set()
        self.om.wakeup.wake()
        threads = [*self._threads, *self._pushers.values(), *self._syncers.values()]
        deadline = time.monotonic() + 10
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.om.dispatcher.run_once()
                self.delivered += delivered
            except Exception:
                log.exception("outbox dispatch failed; retrying after the poll interval")
                delivered = 0
            if self.om.dispatcher.behind:
                continue  # a backlog: drain it at full speed
            if delivered:
                # Under load every commit wakes us. A moment's pause lets the next commits'
                # events gather, so that one claim (a write transaction, queued with the API's
                # writes on SQLite) delivers many, instead of one claim per command.
                self._stop.wait(DISPATCH_GATHER_SECONDS)
                continue
            self.om.wakeup.event.wait(self.poll_seconds)
            self.om.wakeup.event.clear()

    def _schedule(self, reads_channels: bool) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for job in self.jobs:
                if job.reads_channels != reads_channels:
                    continue
                if now < job.due or self._stop.is_set():
                    continue
                try:
                    job.run()
                except Exception:
                    log.exception("periodic job %r failed; it runs again next time", job.name)
                job.due = time.monotonic() + job.every
            self._stop.wait(1.0)

    def _start_sync_loops(self) -> None:
        for account in self.om.channel_adapters.accounts.list():
            account_id = account["id"]
            running = self._syncers.get(account_id)
            if account["status"] != "active" or self._stop.is_set():
                continue
            if running is None or not running.is_alive():
                thread = threading.Thread(
                    target=self._sync,
                    args=(account_id, account.get("name", account_id)),
                    name=f"ordermesh-sync-{account_id}",
                    daemon=True,
                )
                self._syncers[account_id] = thread
                thread.start()

    def _sync(self, account_id: str, name: str) -> None:
        """Sync one account at its cadence until it stops being active. A failure is recorded
        on the account (and its window read again next time); it never touches the others."""
        while not self._stop.is_set():
            try:
                turn = self.om.sync_cadence.turn(account_id)
            except Exception:
                log.exception("channel sync of %s failed; trying again later", name)
                self._stop.wait(self.om.settings.channel_sync_seconds)
                continue
            if turn.report.status == "skipped":
                return  # paused, removed or needs reauthorisation: restarted when active
            if turn.report.error:
                log.warning("channel %s: %s", name, turn.report.error)
            self._stop.wait(turn.wait)

    def _start_push_loops(self) -> None:
        for account_id, lane in self.om.stock_sync_jobs.push_lanes():
            key = f"{account_id}/{lane}"
            running = self._pushers.get(key)
            if (running is None or not running.is_alive()) and not self._stop.is_set():
                thread = threading.Thread(
                    target=self._push,
                    args=(account_id, lane),
                    name=f"ordermesh-push-{key}",
                    daemon=True,
                )
                self._pushers[key] = thread
                thread.start()

    def _push(self, account_id: str, lane: str) -> None:
        """Drain one account's push queue until the account stops being active. The connector
        paces each call to the channel's rate limits; between rounds this thread sleeps until
        a commit makes a push due, a backoff ends, or the poll interval passes."""
        woken = self.om.wakeup.listen()
        try:
            while not self._stop.is_set():
                woken.clear()
                try:
                    round_ = self.om.stock_sync_jobs.push_round(account_id, lane)
                except Exception:
                    log.exception("stock push round for %s failed", account_id)
                    self._stop.wait(self.poll_seconds)
                    continue
                if not round_.active:
                    return
                if round_.drained.error:
                    log.warning("stock push to %s: %s", account_id, round_.drained.error)
                if lane == BULK and round_.drained.claimed:
                    # A settled feed may have made urgent corrections due (figures that
                    # overtook it): the urgent lane should not wait for its poll to send them.
                    self.om.wakeup.wake()
                if round_.wait == 0:
                    continue
                if round_.backoff:
                    self._stop.wait(round_.wait)
                else:
                    woken.wait(min(round_.wait or self.poll_seconds, self.poll_seconds))
        finally:
            self.om.wakeup.forget(woken)

    def _reconcile(self) -> None:
        for account_id, result in self.om.stock_sync_jobs.reconcile_all().items():
            if result.error:
                log.warning("stock reconciliation of %s: %s", account_id, result.error)

    def _pull_network_stock(self) -> None:
        for account in self.om.channel_adapters.accounts.list("amazon"):
            if self._stop.is_set():
                return
            if account["status"] != "active":
                continue
            report = self.om.marketplace.network_stock.pull(account["id"])
            if report.error:
                log.warning("FBA inventory of %s: %s", account["name"], report.error)

    def _check_order_rates(self) -> None:
        for account in self.om.channel_adapters.accounts.list("amazon"):
            if account["status"] == "active":
                self.om.marketplace.standing.order_rate(account["id"])

    def _fetch_account_health(self) -> None:
        for account in self.om.channel_adapters.accounts.list("amazon"):
            if self._stop.is_set():
                return
            if account["status"] != "active":
                continue
            try:
                self.om.marketplace.standing.fetch_health(account["id"])
            except (ChannelError, DomainError) as failed:
                # One account's failure is logged; the others are still asked.
                log.warning("account health of %s: %s", account["name"], failed)

    def _purge(self) -> None:
        self.om.dispatcher.purge_delivered(timedelta(days=7))
        self.om.idempotency.purge(timedelta(hours=24))


def start_worker(om: Ordermesh) -> Callable[[], None]:
    """Start the worker threads; returns the function that stops them."""
    return Worker(om).start()
