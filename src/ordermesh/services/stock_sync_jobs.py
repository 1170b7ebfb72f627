"""What keeps every channel showing ordermesh's figures: a push round per channel account,
reconciliation against what the channels show, and the health of each account's queue.

The worker (or a benchmark) decides how to wait between rounds; this module decides what a
round does: how many pushes a channel takes in one call, when Amazon's bulk goes out, how
long to back off from a channel that is down, and when an account counts as behind."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from ordermesh.domain.errors import DomainError, NotFound
from ordermesh.ports.channels import AccountStatus, ChannelAccount, ChannelError, ConnectorFactory
from ordermesh.ports.clock import Clock
from ordermesh.ports.stock_sync import ListingPushSender, ListingReader, QueueStatus
from ordermesh.services.handlers.stock_sync import Drained, Reconciled, StockSync

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PushPlan:
    """How one channel takes its pushes."""

    batch: int
    """Listings per call to the sender."""
    bulk_every: timedelta | None = None
    """Non-urgent pushes go out together at most this often; urgent ones go at once, in
    batches of `urgent_batch`. None: everything goes at once."""
    urgent_batch: int = 0


PUSH_PLANS: Mapping[str, PushPlan] = {
    # inventorySetQuantities takes up to 250 quantities per call and costs the same 10-odd
    # points for one as for 250. Sent as fast as changes came, the pushes alone spent the
    # whole cost bucket (restore 100/s) on calls of a few quantities each, and order imports,
    # confirmations and reconciliation waited behind them; gathered for a second, the rest
    # costs a tenth of that. Urgent ones (a listing falling low) still go at once.
    "shopify": PushPlan(batch=250, bulk_every=timedelta(seconds=1), urgent_batch=250),
    # Urgent listings are patched one by one (patchListingsItem: 5/s, burst 10); the rest go in
    # one JSON_LISTINGS_FEED, and createFeed refills one call per two minutes. An urgent batch
    # is no larger than what the connector patches in one call (StockPushLimits
    # .patches_per_call), or the rest of it would wait for a feed.
    "amazon": PushPlan(batch=10_000, bulk_every=timedelta(minutes=2), urgent_batch=5),
}
DEFAULT_PLAN = PushPlan(batch=100)

ALL, URGENT, BULK = "all", "urgent", "bulk"
"""Push lanes. A channel with a bulk path (Amazon's feeds, whose cycle takes from half a
minute to many) gets two lanes, each its own loop: `urgent` claims only urgent pushes and
patches them at once, `bulk` only the others, so a feed in flight never holds back a listing
going to 0. Other channels have one lane, `all`, urgent first. A listing in flight is claimed
again only once its push settles, and a figure that changed meanwhile goes out then, in the
lane its urgency says; the one exception is a listing inside a feed in flight whose figure
falls low, which `urgent` patches at once (the queue's `claim` overtakes the feed)."""


def lanes_of(plan: PushPlan) -> tuple[str, ...]:
    return (URGENT, BULK) if plan.bulk_every is not None and plan.urgent_batch else (ALL,)


MAX_BACKOFF = 60.0
"""Longest pause before trying a channel that is down again (its pushes wait in the queue)."""
RECONNECT_EVERY = timedelta(minutes=5)
"""A push loop builds its connector again this often, so a changed setting takes effect."""


class AccountDirectory(Protocol):
    def list(self) -> list[dict[str, Any]]:
        """Accounts without credentials: at least `id`, `name`, `channel`, `status`."""
        ...

    def get(self, account_id: str) -> ChannelAccount: ...


@dataclass(frozen=True, slots=True)
class PushRound:
    drained: Drained
    wait: float | None
    """0: go again at once; None: nothing due, wait to be woken (or poll); > 0: seconds until
    something is due (Amazon's next bulk), or the backoff from a failing channel."""
    backoff: bool = False
    """The wait is a backoff from a failure: new pushes should not cut it short."""
    active: bool = True
    """False once the account is paused, removed or needs reauthorisation."""


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    channel_account: str
    name: str
    channel: str
    queue: QueueStatus
    behind: bool
    reason: str | None
    rate_limits: list[dict[str, Any]]
    consecutive_failures: int


@dataclass
class _Loop:
    account: ChannelAccount | None = None
    connector: object | None = None
    built_at: datetime | None = None
    failures: int = 0
    last_bulk: datetime | None = None


@dataclass
class _Alert:
    behind: bool = False
    reason: str | None = None


def _empty_queue(account_id: str) -> QueueStatus:
    return QueueStatus(account_id, 0, 0, None, 0, 0, 0, 0, None, None)


@dataclass
class StockSyncJobs:
    stock_sync: StockSync
    accounts: AccountDirectory
    connectors: ConnectorFactory
    clock: Clock
    behind_after: timedelta = timedelta(minutes=2)
    """An account whose oldest waiting push is older than this is behind."""
    rate_limits: Callable[[ChannelAccount], list[dict[str, Any]]] | None = None
    plans: Mapping[str, PushPlan] = field(default_factory=lambda: dict(PUSH_PLANS))
    _loops: dict[tuple[str, str], _Loop] = field(default_factory=dict, repr=False)
    _alerts: dict[str, _Alert] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def resolve(self, account: str) -> str:
        """An account's id from its id or its name (listings carry the id)."""
        for row in self.accounts.list():
            if account in (row["id"], row.get("name")):
                return str(row["id"])
        return account

    def active_accounts(self) -> list[str]:
        return [a["id"] for a in self.accounts.list() if a["status"] == AccountStatus.ACTIVE]

    def push_lanes(self) -> list[tuple[str, str]]:
        """(account id, lane) of every push loop the active accounts need."""
        return [
            (row["id"], lane)
            for row in self.accounts.list()
            if row["status"] == AccountStatus.ACTIVE
            for lane in lanes_of(self.plans.get(row.get("channel", ""), DEFAULT_PLAN))
        ]

    def _loop(self, account_id: str, lane: str = ALL) -> _Loop:
        with self._lock:
            return self._loops.setdefault((account_id, lane), _Loop())

    def _failures(self, account_id: str) -> int:
        with self._lock:
            return max(
                (loop.failures for (a, _), loop in self._loops.items() if a == account_id),
                default=0,
            )

    def _connector(self, loop: _Loop, account_id: str) -> tuple[ChannelAccount, object]:
        now = self.clock.now()
        stale = loop.built_at is None or now - loop.built_at >= RECONNECT_EVERY
        if loop.account is None or loop.connector is None or stale:
            loop.account = self.accounts.get(account_id)
            loop.connector = (
                self.connectors(loop.account)
                if loop.account.status == AccountStatus.ACTIVE
                else None
            )
            loop.built_at = now
        return loop.account, loop.connector

    def push_round(self, account_id: str, lane: str = ALL) -> PushRound:
        """Send one batch of the account's due pushes in `lane` with the lane's connector."""
        loop = self._loop(account_id, lane)
        try:
            account, connector = self._connector(loop, account_id)
        except NotFound:
            return PushRound(Drained(0, 0, 0, 0), None, active=False)
        except (ChannelError, DomainError) as exc:
            return self._failed(loop, f"{type(exc).__name__}: {exc}")
        if connector is None:
            return PushRound(Drained(0, 0, 0, 0), None, active=False)
        if not callable(getattr(connector, "send", None)):
            return self._failed(loop, f"the {account.channel} connector cannot push stock")
        plan = self.plans.get(account.channel, DEFAULT_PLAN)
        now = self.clock.now()
        bulk_wait = 0.0
        if plan.bulk_every is not None and loop.last_bulk is not None:
            bulk_wait = (loop.last_bulk + plan.bulk_every - now).total_seconds()
        if lane == BULK and bulk_wait > 0:
            return PushRound(Drained(0, 0, 0, 0), bulk_wait)
        urgent_only = lane == URGENT or (lane == ALL and bulk_wait > 0)
        size = plan.urgent_batch if urgent_only else plan.batch
        drained = self.stock_sync.drain_pushes(
            account_id,
            cast(ListingPushSender, connector),
            size,
            urgent_only=urgent_only,
            bulk_only=lane == BULK,
        )
        if drained.error is not None:
            return self._failed(loop, drained.error, drained)
        if drained.claimed:
            loop.failures = 0  # an idle round proves nothing: the queue may be backing off
        if drained.claimed > drained.urgent:
            loop.last_bulk = now
        if drained.claimed:
            return PushRound(drained, 0.0)
        return PushRound(drained, bulk_wait if lane == ALL and urgent_only else None)

    def _failed(self, loop: _Loop, error: str, drained: Drained | None = None) -> PushRound:
        loop.failures += 1
        loop.connector = None  # built again next time: the failure may be its state
        wait = min(2.0 ** (loop.failures - 1), MAX_BACKOFF)
        return PushRound(drained or Drained(0, 0, 0, 0, error), wait, backoff=True)

    def reconcile(self, account_id: str) -> Reconciled:
        """Compare what the account's channel shows with what it confirmed, and heal drift."""
        account = self.accounts.get(account_id)
        try:
            connector = self.connectors(account)
        except (ChannelError, DomainError) as exc:
            return Reconciled(0, 0, 0, f"{type(exc).__name__}: {exc}")
        if not callable(getattr(connector, "listed_quantities", None)):
            return Reconciled(0, 0, 0, f"the {account.channel} connector cannot read stock")
        return self.stock_sync.reconcile(account_id, cast(ListingReader, connector))

    def reconcile_all(self) -> dict[str, Reconciled]:
        return {account: self.reconcile(account) for account in self.active_accounts()}

    def health(self) -> list[ChannelHealth]:
        """Every account's queue, rate-limit budget and whether it is behind. The moment an
        account falls behind, and the moment it catches up, is logged once."""
        queues = {q.channel_account: q for q in self.stock_sync.status()}
        found: list[ChannelHealth] = []
        for row in self.accounts.list():
            account_id = row["id"]
            queue = queues.get(account_id) or _empty_queue(account_id)
            failures = self._failures(account_id)
            reason = self._behind(queue, failures)
            budget: list[dict[str, Any]] = []
            if self.rate_limits is not None:
                try:
                    budget = self.rate_limits(self.accounts.get(account_id))
                except Exception:
                    log.exception("could not read the rate-limit budget of %s", account_id)
            found.append(
                ChannelHealth(
                    account_id,
                    row.get("name", account_id),
                    row.get("channel", ""),
                    queue,
                    reason is not None,
                    reason,
                    budget,
                    failures,
                )
            )
            self._alert(account_id, row.get("name", account_id), reason)
        return found

    def _behind(self, queue: QueueStatus, failures: int) -> str | None:
        age = queue.oldest_pending_age
        if age is not None and age > self.behind_after:
            return (
                f"the oldest waiting push is {int(age.total_seconds())} s old "
                f"(more than {int(self.behind_after.total_seconds())} s)"
            )
        if queue.retrying:
            return f"{queue.retrying} push(es) failed three times or more in a row"
        if failures >= 3:
            return f"the last {failures} push rounds failed: {queue.last_error or 'no answer'}"
        return None

    def _alert(self, account_id: str, name: str, reason: str | None) -> None:
        with self._lock:
            alert = self._alerts.setdefault(account_id, _Alert())
            was, alert.behind, alert.reason = alert.behind, reason is not None, reason
        if reason is not None and not was:
            log.warning("stock sync to %s is behind: %s", name, reason)
        elif reason is None and was:
            log.info("stock sync to %s has caught up", name)
