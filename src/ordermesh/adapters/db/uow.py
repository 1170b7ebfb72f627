"""The unit of work: one database transaction, its repositories, and its events → outbox."""

from __future__ import annotations

import sqlite3
from types import TracebackType

import psycopg
from sqlalchemy.exc import DBAPIError

from ordermesh.adapters.db.engine import Database
from ordermesh.adapters.db.outbox import write_events
from ordermesh.adapters.db.repositories import (
    Driver,
    SqlCatalogueRepository,
    SqlInboxRepository,
    SqlLocationRepository,
    SqlOrderRepository,
    SqlStockRepository,
)
from ordermesh.adapters.db.stock_sync import SqlStockSyncRepository
from ordermesh.domain.events import Event
from ordermesh.ports.clock import Clock
from ordermesh.ports.jobs import NoWakeup, Wakeup
from ordermesh.ports.storage import ConcurrencyConflict

# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}


def is_retryable(exc: BaseException) -> bool:
    # The hot statements run on the driver's cursor (repositories.Driver), so its errors
    # arrive unwrapped as well as wrapped in SQLAlchemy's DBAPIError.
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if not isinstance(orig, sqlite3.Error | psycopg.Error):
        return False
    if getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(orig)


class SqlAlchemyUnitOfWork:
    def __init__(self, db: Database, clock: Clock, wakeup: Wakeup | None = None) -> None:
        self.db, self.clock = db, clock
        self.wakeup = wakeup or NoWakeup()
        self._published: list[Event] = []
        self._committed: list[Event] = []

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        lock = self.db.write_lock
        if lock is not None:
            lock.acquire()
        try:
            self.conn = self.db.writer.connect()
            self.tx = self.conn.begin()
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        self.driver = Driver(self.conn, defer=True)
        self.catalogue = SqlCatalogueRepository(self.conn, self.clock, self.driver)
        self.locations = SqlLocationRepository(self.conn, self.clock, self.driver)
        self.stock = SqlStockRepository(self.conn, self.clock, self.driver)
        self.orders = SqlOrderRepository(self.conn, self.clock, self.driver)
        self.inbox = SqlInboxRepository(self.conn, self.clock, self.driver)
        self.stock_sync = SqlStockSyncRepository(self.conn, self.clock, self.driver)
        self._published = []
        self._committed = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.driver.discard()
            if self.tx.is_active:
                self.tx.rollback()
        finally:
            self.conn.close()
            if self.db.write_lock is not None:
                self.db.write_lock.release()
        if exc is not None and is_retryable(exc):
            raise ConcurrencyConflict(str(exc)) from exc

    def publish(self, event: Event) -> None:
        self._published.append(event)

    def _collect(self) -> list[Event]:
        collected = list(self._published)
        self._published.clear()
        for order in self.orders.seen():
            collected.extend(order.events)
            order.events.clear()
        return collected

    def commit(self) -> None:
        events = self._collect()
        write_events(self.conn, events, self.clock.now(), self.driver)
        self.driver.flush(commit=True)
        self.tx.commit()
        self._committed = events
        if events:
            self.wakeup.wake()

    def rollback(self) -> None:
        self.driver.discard()
        self.tx.rollback()

    def committed_events(self) -> list[Event]:
        return self._committed
