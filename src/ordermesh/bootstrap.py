"""Wiring: the one place that knows which concrete adapters back the ports."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ordermesh.adapters.channels import ChannelAdapters, channel_adapters
from ordermesh.adapters.channels.shopify import ShopifyWebhooks, webhook_receiver
from ordermesh.adapters.db.apikeys import SqlApiKeys
from ordermesh.adapters.db.engine import Database, connect
from ordermesh.adapters.db.idempotency import SqlIdempotencyStore
from ordermesh.adapters.db.migrate import upgrade
from ordermesh.adapters.db.outbox import OutboxDispatcher
from ordermesh.adapters.db.queries import SqlQueries
from ordermesh.adapters.db.stock_sync import SqlPushQueue
from ordermesh.adapters.db.uow import SqlAlchemyUnitOfWork
from ordermesh.adapters.db.users import SqlUsers
from ordermesh.config import Settings
from ordermesh.domain.commands import Command
from ordermesh.domain.fulfilment import AllocationPolicy, MostStockFirst
from ordermesh.ports.clock import Clock, SystemClock
from ordermesh.services.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from ordermesh.services.handlers.channels import ChannelSync
from ordermesh.services.handlers.stock_sync import StockSync
from ordermesh.services.messagebus import Deps, MessageBus


class DispatcherWakeup:
    """Wakes the in-process dispatcher thread right after a commit that wrote events."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def wake(self) -> None:
        self.event.set()


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
    writes: ThreadPoolExecutor = field(repr=False)
    """Where commands run when called from async code. One thread on SQLite: writes are
    serialized deliberately, in arrival order, instead of fighting over SQLite's lock."""
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
    stock_sync: StockSync = field(repr=False)
    """The stock push queue: `drain_pushes`, `status` per channel account, `explain` a listing."""

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

    def uow() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(db, clock, wakeup)

    bus = MessageBus(uow, deps, COMMAND_HANDLERS, EVENT_HANDLERS)
    writers = 1 if db.is_sqlite else settings.db_pool_size
    channels = channel_adapters(db, clock, settings.secret_key)
    return Ordermesh(
        settings=settings,
        db=db,
        clock=clock,
        bus=bus,
        queries=SqlQueries(db, clock),
        api_keys=SqlApiKeys(db, clock),
        dispatcher=OutboxDispatcher(db, clock),
        wakeup=wakeup,
        writes=ThreadPoolExecutor(max_workers=writers, thread_name_prefix="ordermesh-write"),
        reads=ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2, thread_name_prefix="ordermesh-read"
        ),
        idempotency=SqlIdempotencyStore(db, clock),
        users=SqlUsers(db, clock),
        stock_sync=StockSync(SqlPushQueue(db, clock)),
        channels=ChannelSync(channels.accounts, channels.connectors, bus.handle, clock),
        channel_adapters=channels,
        shopify_webhooks=webhook_receiver(
            db=db, accounts=channels.accounts, uow=uow, handle=bus.handle, clock=clock
        ),
    )
