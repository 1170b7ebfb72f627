"""Wiring: the one place that knows which concrete adapters back the ports."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ordermesh.adapters.channels import ChannelAdapters, channel_adapters
from ordermesh.adapters.channels.amazon.notifications import AmazonNotifications
from ordermesh.adapters.channels.shipments import ShipmentConfirmationDeliverer
from ordermesh.adapters.channels.shopify import ShopifyWebhooks, webhook_receiver
from ordermesh.adapters.db.apikeys import SqlApiKeys
from ordermesh.adapters.db.engine import Database, connect
from ordermesh.adapters.db.idempotency import SqlIdempotencyStore
from ordermesh.adapters.db.migrate import upgrade
from ordermesh.adapters.db.outbox import OutboxDispatcher
from ordermesh.adapters.db.queries import SqlQueries
from ordermesh.adapters.db.stock_sync import InFlightDemandReader, SqlPushQueue
from ordermesh.adapters.db.uow import SqlAlchemyUnitOfWork, SqlWriteGroup
from ordermesh.adapters.db.users import SqlUsers
from ordermesh.config import Settings
from ordermesh.domain.commands import Command
from ordermesh.domain.fulfilment import AllocationPolicy, MostStockFirst
from ordermesh.ports.channels import ChannelAccount
from ordermesh.ports.clock import Clock, SystemClock
from ordermesh.ports.shipping import CHANNEL_DESTINATION
from ordermesh.services.channel_accounts import ChannelAccountDesk
from ordermesh.services.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from ordermesh.services.handlers.channels import ChannelSync
from ordermesh.services.handlers.stock_sync import StockSync
from ordermesh.services.marketplace_inbound import MarketplaceInbound, marketplace_inbound
from ordermesh.services.messagebus import Deps, MessageBus, WriteQueue
from ordermesh.services.stock_sync_jobs import StockSyncJobs
from ordermesh.services.sync_cadence import SyncCadence


class DispatcherWakeup:
    """Wakes the in-process dispatcher thread right after a commit that wrote events, and the
    stock push loops (each listening on its own event) after one that made pushes due."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._listeners: tuple[threading.Event, ...] = ()
        self._lock = threading.Lock()

    def listen(self) -> threading.Event:
        """An event of its own that every wake from now on sets."""
        event = threading.Event()
        with self._lock:
            self._listeners = (*self._listeners, event)
        return event

    def forget(self, event: threading.Event) -> None:
        with self._lock:
            self._listeners = tuple(e for e in self._listeners if e is not event)

    def wake(self) -> None:
        self.event.set()
        for listener in self._listeners:
            listener.set()


@dataclass
class Ordermesh:
    """A wired ordermesh: what entrypoints (API, CLI, worker) need and nothing more."""

    settings: Settings
    db: Database
    clock: Clock
    bus: MessageBus
    queries: SqlQueries
    api_keys: SqlApiKeys
    dispatcher: OutboxDispatcher
    wakeup: DispatcherWakeup
    writes: WriteQueue = field(repr=False)
    """Where commands run when called from async code. One thread on SQLite: writes are
    serialized deliberately, in arrival order, instead of fighting over SQLite's lock, and the
    commands waiting together share one transaction (`submit_command`)."""
    reads: ThreadPoolExecutor = field(repr=False)
    """Where the API runs its reads: as many threads as cores, so that dozens of concurrent
    requests queue here instead of convoying on the GIL in a large thread pool."""
    idempotency: SqlIdempotencyStore = field(repr=False)
    channels: ChannelSync = field(repr=False)
    """`channels.sync(SyncChannel(account))`: pull what changed on a channel account."""
    channel_adapters: ChannelAdapters = field(repr=False)
    """Channel accounts (`.accounts`) and connectors."""
    users: SqlUsers = field(repr=False)
    """Dashboard logins (argon2 passwords), with the roles API keys have."""
    shopify_webhooks: ShopifyWebhooks = field(repr=False)
    """What `POST /webhooks/shopify` hands deliveries to; `process_pending()` catches up."""
    amazon_notifications: AmazonNotifications = field(repr=False)
    """What `POST /webhooks/amazon/notifications` hands ORDER_CHANGE notifications to."""
    stock_sync: StockSync = field(repr=False)
    """The stock push queue: `drain_pushes`, `status` per channel account, `explain` a listing."""
    stock_sync_jobs: StockSyncJobs = field(repr=False)
    """`push_round(account)` with the account's connector, `reconcile(account)`, `health()`."""
    in_flight_demand: InFlightDemandReader = field(repr=False)
    """Amazon's in-flight margin; `.enabled = False` pushes plain figures (benchmarks)."""
    channel_accounts: ChannelAccountDesk = field(repr=False)
    """Connect, view (credentials only as set / not set), change, pause and resume accounts."""
    marketplace: MarketplaceInbound = field(repr=False)
    """Back-fill of older orders, FBA stock in, account health and sustainable order rate."""
    sync_cadence: SyncCadence = field(repr=False)
    """`turn(account)`: sync an account and say when to sync it next (the worker's cadence)."""

    def handle(self, command: Command) -> Any:
        return self.bus.handle(command)

    def migrate(self) -> None:
        """Bring the database to the newest schema (what `ordermesh db upgrade` does)."""
        upgrade(self.db)

    def close(self) -> None:
        self.writes.shutdown(wait=True)
        self.reads.shutdown(wait=True)
        self.channel_adapters.close()
        self.db.dispose()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    policy: AllocationPolicy | None = None,
    migrate: bool = True,
) -> Ordermesh:
    settings = settings or Settings()
    clock = clock or SystemClock()
    db = connect(settings.database_url, pool_size=settings.db_pool_size)
    if migrate:
        upgrade(db)
    wakeup = DispatcherWakeup()
    deps = Deps(clock=clock, policy=policy or MostStockFirst())

    # Amazon's figures hold back what it may have sold since the last import, which can
    # stand until the next sync brings those orders in.
    demand = InFlightDemandReader(
        clock, sync_interval=timedelta(seconds=settings.channel_sync_seconds)
    )

    def uow() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(db, clock, wakeup, demand=demand)

    def write_group() -> SqlWriteGroup:
        return SqlWriteGroup(db, clock, wakeup, demand=demand)

    bus = MessageBus(
        uow,
        deps,
        COMMAND_HANDLERS,
        EVENT_HANDLERS,
        group_factory=write_group if db.is_sqlite else None,
    )
    writers = 1 if db.is_sqlite else settings.db_pool_size
    channels = channel_adapters(db, clock, settings.secret_key)
    stock_sync = StockSync(SqlPushQueue(db, clock, demand=demand))

    marketplace = marketplace_inbound(
        channels.accounts, channels.inbound, channels.inbound.records, bus.handle, clock
    )

    def sustainable_rate(account: ChannelAccount) -> float | None:
        rate = marketplace.standing.order_rate(account.id)
        return round(rate.sustainable_per_hour) if rate is not None else None

    def order_capacity(account_id: str) -> Any:
        rate = marketplace.standing.order_rate(account_id)
        return rate.capacity if rate is not None else None

    channel_sync = ChannelSync(channels.accounts, channels.connectors, bus.handle, clock)
    sync_cadence = SyncCadence(
        channel_sync,
        order_capacity,
        clock,
        base=timedelta(seconds=settings.channel_sync_seconds),
        max_lag=timedelta(
            seconds=max(settings.channel_sync_max_lag_seconds, settings.channel_sync_seconds)
        ),
    )
    # The in-flight margin covers the orders Amazon takes until the next sync brings them in.
    demand.planned_wait = sync_cadence.planned_wait

    def rate_limits(account: ChannelAccount) -> list[dict[str, Any]]:
        prefix = channels.rate_limit_prefix(account)
        return channels.buckets.levels(prefix) if prefix else []

    return Ordermesh(
        settings=settings,
        db=db,
        clock=clock,
        bus=bus,
        queries=SqlQueries(db, clock),
        api_keys=SqlApiKeys(db, clock),
        dispatcher=OutboxDispatcher(
            db,
            clock,
            {
                CHANNEL_DESTINATION: ShipmentConfirmationDeliverer(
                    channels.accounts, channels.connectors, bus.handle, clock
                )
            },
        ),
        wakeup=wakeup,
        writes=WriteQueue(bus, threads=writers),
        reads=ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2, thread_name_prefix="ordermesh-read"
        ),
        idempotency=SqlIdempotencyStore(db, clock),
        users=SqlUsers(db, clock),
        stock_sync=stock_sync,
        in_flight_demand=demand,
        stock_sync_jobs=StockSyncJobs(
            stock_sync,
            channels.accounts,
            channels.connectors,
            clock,
            behind_after=timedelta(seconds=settings.stock_sync_behind_seconds),
            rate_limits=rate_limits,
        ),
        channel_accounts=ChannelAccountDesk(
            channels.accounts,
            channels,
            channels.buckets,
            stock_sync.status,
            clock,
            sustainable_rate=sustainable_rate,
        ),
        channels=channel_sync,
        channel_adapters=channels,
        marketplace=marketplace,
        shopify_webhooks=webhook_receiver(
            db=db, accounts=channels.accounts, uow=uow, handle=bus.handle, clock=clock
        ),
        amazon_notifications=AmazonNotifications(
            db=db,
            accounts=channels.accounts,
            uow=uow,
            handle=bus.handle,
            readers=channels.amazon,
            clock=clock,
        ),
        sync_cadence=sync_cadence,
    )
