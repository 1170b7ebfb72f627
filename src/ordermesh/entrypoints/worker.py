"""The in-process worker: delivers the outbox and runs periodic sweeps.

`ordermesh serve` starts it in a thread on the embedded runtime. It polls, and is also woken
right after any commit that wrote events, so deliveries normally leave within milliseconds;
the poll is only the safety net for wake-ups that never came (another process committed)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.commands import AllocateBackorders

log = logging.getLogger(__name__)

BACKORDER_SWEEP_SECONDS = 60.0
PURGE_SECONDS = 3600.0


class Worker:
    def __init__(self, om: Ordermesh, *, poll_seconds: float | None = None) -> None:
        self.om = om
        self.poll_seconds = poll_seconds or om.settings.outbox_poll_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ordermesh-worker", daemon=True)
        self.delivered = 0

    def start(self) -> Callable[[], None]:
        self._thread.start()
        return self.stop

    def stop(self) -> None:
        self._stop.set()
        self.om.wakeup.wake()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        next_sweep = time.monotonic() + BACKORDER_SWEEP_SECONDS
        next_purge = time.monotonic() + PURGE_SECONDS
        while not self._stop.is_set():
            try:
                delivered = self.om.dispatcher.run_once()
                self.delivered += delivered
                now = time.monotonic()
                if now >= next_sweep:
                    # Stock that arrived through another process, or a follow-up that failed,
                    # still reaches the orders waiting for it.
                    self.om.handle(AllocateBackorders(actor="ordermesh"))
                    next_sweep = now + BACKORDER_SWEEP_SECONDS
                if now >= next_purge:
                    self.om.dispatcher.purge_delivered(timedelta(days=7))
                    next_purge = now + PURGE_SECONDS
            except Exception:
                log.exception("worker cycle failed; retrying after the poll interval")
                delivered = 0
            if delivered:
                continue  # more may be due: keep draining before sleeping
            self.om.wakeup.event.wait(self.poll_seconds)
            self.om.wakeup.event.clear()


def start_worker(om: Ordermesh) -> Callable[[], None]:
    """Start the worker thread; returns the function that stops it."""
    return Worker(om).start()
