"""The unit of work: one database transaction, its repositories, and its events → outbox."""

from __future__ import annotations

import sqlite3
from types import TracebackType
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from ordermesh.adapters.db.engine import Database
from ordermesh.adapters.db.outbox import write_events, write_messages
from ordermesh.adapters.db.repositories import (
    Driver,
    SqlCatalogueRepository,
    SqlInboxRepository,
    SqlLocationRepository,
    SqlOrderRepository,
    SqlStockRepository,
)
from ordermesh.adapters.db.stock_sync import InFlightDemandReader, SqlStockSyncRepository
from ordermesh.domain.events import Event
from ordermesh.ports.clock import Clock
from ordermesh.ports.jobs import NoWakeup, Wakeup
from ordermesh.ports.storage import ConcurrencyConflict, GroupAborted, OutboxMessage

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
    def __init__(
        self,
        db: Database,
        clock: Clock,
        wakeup: Wakeup | None = None,
        *,
        demand: InFlightDemandReader | None = None,
        group: SqlWriteGroup | None = None,
    ) -> None:
        self.db, self.clock = db, clock
        self.group = group
        # In a group, a commit only marks that a wake is due; the group wakes after its commit.
        self.wakeup = group or wakeup or NoWakeup()
        self.demand = demand
        self._published: list[Event] = []
        self._committed: list[Event] = []
        self._outgoing: list[OutboxMessage] = []

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        if self.group is not None:
            self.conn = self.group.conn
            self.tx = _Savepoint(self.group.cursor)
        else:
            self.conn, self.tx = _begin_writing(self.db)
        self.driver = Driver(self.conn, defer=True)
        self.catalogue = SqlCatalogueRepository(self.conn, self.clock, self.driver)
        self.locations = SqlLocationRepository(self.conn, self.clock, self.driver)
        self.stock = SqlStockRepository(self.conn, self.clock, self.driver)
        self.orders = SqlOrderRepository(self.conn, self.clock, self.driver)
        self.inbox = SqlInboxRepository(self.conn, self.clock, self.driver)
        self.stock_sync = SqlStockSyncRepository(
            self.conn, self.clock, self.driver, demand=self.demand
        )
        self._published = []
        self._committed = []
        self._outgoing = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.group is not None:
            self._leave_group(exc)
        else:
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

    def _leave_group(self, exc: BaseException | None) -> None:
        assert self.group is not None
        self.driver.discard()
        try:
            if self.tx.is_active:
                self.tx.rollback()
        except Exception as failed:
            raise GroupAborted(f"could not undo one command alone: {failed}") from exc
        if not self.group.dbapi.in_transaction:
            # Some failures (a full disk, an I/O error) make SQLite roll the whole
            # transaction back: the commands before this one are gone too.
            raise GroupAborted(f"SQLite rolled the whole group back: {exc}") from exc

    def publish(self, event: Event) -> None:
        self._published.append(event)

    def send(self, message: OutboxMessage) -> None:
        self._outgoing.append(message)

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
        outgoing, self._outgoing = self._outgoing, []
        write_messages(self.driver, outgoing, self.clock.now())
        self.driver.flush(commit=True)
        self.tx.commit()
        self._committed = events
        # Pushes made due wake the push loops as events wake the dispatcher.
        if events or outgoing or self.stock_sync.due:
            self.wakeup.wake()

    def rollback(self) -> None:
        self.driver.discard()
        self.tx.rollback()

    def committed_events(self) -> list[Event]:
        return self._committed


class _Savepoint:
    """One command's part of a group transaction: kept by `commit`, undone alone by `rollback`.
    Sent on the driver's cursor, like BEGIN (see engine.py): SQLAlchemy's nested transactions
    would cost more than the savepoint itself."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        cursor.execute("SAVEPOINT command")
        self.is_active = True

    def commit(self) -> None:
        self.is_active = False
        self.cursor.execute("RELEASE command")

    def rollback(self) -> None:
        self.is_active = False
        self.cursor.execute("ROLLBACK TO command")
        self.cursor.execute("RELEASE command")


class SqlWriteGroup:
    """Several commands in one SQLite transaction (see ports.storage.WriteGroup).

    SQLite has one writer at a time, so commands queue for it anyway; run back to back in one
    transaction they share its BEGIN and COMMIT, and the pages they all touch (indexes of
    orders, ledger, outbox) are written to the WAL once per group instead of once per command."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        wakeup: Wakeup | None = None,
        *,
        demand: InFlightDemandReader | None = None,
    ) -> None:
        if not db.is_sqlite:
            # On PostgreSQL a unit's commit sends COMMIT with its last writes (Driver.flush).
            raise ValueError("write groups are for SQLite")
        self.db, self.clock, self.demand = db, clock, demand
        self.wakeup = wakeup or NoWakeup()
        self._wake = False

    def __enter__(self) -> SqlWriteGroup:
        self.conn, self.tx = _begin_writing(self.db)
        self.dbapi: Any = self.conn.connection.driver_connection
        self.cursor = self.dbapi.cursor()
        self._wake = False
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.tx.is_active:
                self.tx.rollback()
        finally:
            self.conn.close()
            if self.db.write_lock is not None:
                self.db.write_lock.release()

    def unit(self) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.db, self.clock, demand=self.demand, group=self)

    def wake(self) -> None:
        self._wake = True

    def commit(self) -> None:
        self.tx.commit()
        if self._wake:
            self.wakeup.wake()


def _begin_writing(db: Database) -> tuple[Connection, Any]:
    """Take the process's write lock (SQLite), then a writer connection in a transaction;
    the lock is given back if the connection or the transaction cannot be had."""
    lock = db.write_lock
    if lock is not None:
        lock.acquire()
    try:
        conn = db.writer.connect()
        return conn, conn.begin()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
