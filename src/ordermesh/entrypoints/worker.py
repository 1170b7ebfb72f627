"""The in-process worker: delivers the outbox and runs the periodic jobs.

`ordermesh serve` starts it on the embedded runtime. Two threads, so that a channel sync
waiting minutes for Amazon's rate limit never delays a webhook or a stock push:
- the dispatcher polls the outbox and is also woken right after any commit that wrote
  events, so deliveries normally leave within milliseconds; the poll is only the safety net
  for wake-ups that never came (another process committed);
- the scheduler pulls changed orders from every active channel account, applies Shopify
  webhooks that were stored but not yet applied, retries backorders, and purges old rows."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.commands import AllocateBackorders, RecomputeListings, SyncChannel

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    every: float
    run: Callable[[], object]
    due: float = 0.0


class Worker:
    def __init__(self, om: Ordermesh, *, poll_seconds: float | None = None) -> None:
        self.om = om
        self.poll_seconds = poll_seconds or om.settings.outbox_poll_seconds
        self._stop = threading.Event()
        self.delivered = 0
        self.jobs = [
            Job("channel sync", om.settings.channel_sync_seconds, self._sync_channels),
            Job("shopify webhooks", 30.0, om.shopify_webhooks.process_pending),
            # Stock that arrived through another process, or a follow-up that failed, still
            # reaches the orders waiting for it.
            Job("backorders", 60.0, lambda: om.handle(AllocateBackorders(actor="ordermesh"))),
            # The figures are recomputed on every stock change; this heals a recompute lost
            # to a crash after commit and gives a new listing its first figure.
            Job("stock figures", 300.0, lambda: om.handle(RecomputeListings())),
            Job("purge", 3600.0, self._purge),
        ]
        self._threads = [
            threading.Thread(target=self._dispatch, name="ordermesh-outbox", daemon=True),
            threading.Thread(target=self._schedule, name="ordermesh-scheduler", daemon=True),
        ]

    def start(self) -> Callable[[], None]:
        now = time.monotonic()
        for job in self.jobs:
            job.due = now + min(job.every, 5.0)
        for thread in self._threads:
            thread.start()
        return self.stop

    def stop(self) -> None:
        self._stop.set()
        self.om.wakeup.wake()
        for thread in self._threads:
            thread.join(timeout=10)

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.om.dispatcher.run_once()
                self.delivered += delivered
            except Exception:
                log.exception("outbox dispatch failed; retrying after the poll interval")
                delivered = 0
            if delivered:
                continue  # more may be due: keep draining before sleeping
            self.om.wakeup.event.wait(self.poll_seconds)
            self.om.wakeup.event.clear()

    def _schedule(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for job in self.jobs:
                if now < job.due or self._stop.is_set():
                    continue
                try:
                    job.run()
                except Exception:
                    log.exception("periodic job %r failed; it runs again next time", job.name)
                job.due = time.monotonic() + job.every
            self._stop.wait(1.0)

    def _sync_channels(self) -> None:
        for account in self.om.channel_adapters.accounts.list():
            if self._stop.is_set():
                return
            if account["status"] != "active":
                continue
            # One failing account is recorded on that account and never stops the others.
            report = self.om.channels.sync(SyncChannel(account["id"]))
            if report.error:
                log.warning("channel %s: %s", account["name"], report.error)

    def _purge(self) -> None:
        self.om.dispatcher.purge_delivered(timedelta(days=7))
        self.om.idempotency.purge(timedelta(hours=24))


def start_worker(om: Ordermesh) -> Callable[[], None]:
    """Start the worker threads; returns the function that stops them."""
    return Worker(om).start()
