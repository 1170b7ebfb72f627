"""The unit of work and the repositories the services use. Implemented in adapters/db."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol

from ordermesh.domain.catalogue import ChannelListing, Product
from ordermesh.domain.events import Event
from ordermesh.domain.inventory import Location, LocationKind, Movement, StockLevel
from ordermesh.domain.orders import Allocation, Order

StockKey = tuple[str, str]


class ConcurrencyConflict(Exception):
    """Another transaction changed what this one read; the command may be retried from scratch."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A side effect for one destination outside ordermesh (`channel:<account id>`, …),
    written with the change that causes it and delivered after commit, at least once; the
    receiver recognises a repeat by the idempotency key."""

    destination: str
    topic: str
    idempotency_key: str
    payload: Mapping[str, Any]


class CatalogueRepository(Protocol):
    def get(self, sku: str) -> Product | None: ...
    def upsert(self, products: Sequence[Product]) -> tuple[int, int]:
        """Returns (created, updated)."""
        ...

    def known(self, skus: Collection[str]) -> dict[str, dict[str, int]]:
        """For each SKU that exists: its bundle components ({} for an ordinary product)."""
        ...

    def listings(self, channel_account: str, channel_skus: Collection[str]) -> dict[str, str]:
        """channel SKU → our SKU for the listings that exist."""
        ...

    def upsert_listing(self, listing: ChannelListing) -> None: ...


class LocationRepository(Protocol):
    def get(self, code: str) -> Location | None: ...
    def add(self, location: Location) -> None: ...
    def kinds(self) -> dict[str, LocationKind]: ...


class StockRepository(Protocol):
    def lock(self, keys: Sequence[StockKey]) -> dict[StockKey, StockLevel]:
        """Levels for these keys, locked against concurrent writers until commit, in a fixed
        order so that two transactions cannot deadlock. Missing levels start at zero."""
        ...

    def save(self, levels: Iterable[StockLevel], movements: Sequence[Movement], actor: str) -> None:
        """Write locked levels and their ledger rows."""
        ...

    def available(self, skus: Collection[str]) -> dict[StockKey, int]:
        """on_hand − reserved for every location holding these SKUs (no lock)."""
        ...

    def reserve(self, amounts: Mapping[StockKey, int]) -> list[StockKey]:
        """Guarded reservation per key. All or nothing: returns the keys whose guard failed
        (someone else took the stock) after undoing the ones that passed. A storage may
        instead check a small reservation at commit: a shortage then fails the commit with
        ConcurrencyConflict, and the command is run again from fresh figures."""
        ...

    def release(self, amounts: Mapping[StockKey, int]) -> None: ...
    def ship(self, amounts: Mapping[StockKey, int]) -> None: ...
    def record(self, movements: Sequence[Movement], actor: str) -> None:
        """Ledger rows for movements applied by reserve/release/ship."""
        ...


class OrderRepository(Protocol):
    def add(self, orders: Sequence[Order]) -> None: ...
    def get(self, order_id: str) -> Order | None: ...
    def by_channel_ids(
        self, channel_account: str, channel_order_ids: Collection[str]
    ) -> dict[str, Order]: ...
    def save(self, orders: Iterable[Order]) -> None:
        """Persist status, holds, allocations and new history; refuse (ConcurrencyConflict) if
        another transaction saved the same order since it was read."""
        ...

    def backordered(self, skus: Collection[str], limit: int) -> list[Order]:
        """Backordered orders wanting any of these SKUs (all if empty), oldest first."""
        ...

    def seen(self) -> Iterable[Order]: ...
    def allocations_of(self, order_ids: Collection[str]) -> dict[str, list[Allocation]]: ...


class InboxRepository(Protocol):
    def store(
        self, items: Sequence[tuple[str, str, str]], received_at: datetime
    ) -> set[tuple[str, str]]:
        """Store (source, key, payload) rows; returns the (source, key) pairs that were already there."""
        ...

    def mark_processed(
        self, keys: Iterable[tuple[str, str]], at: datetime, error: str | None = None
    ) -> None: ...


class UnitOfWork(Protocol):
    catalogue: CatalogueRepository
    locations: LocationRepository
    stock: StockRepository
    orders: OrderRepository
    inbox: InboxRepository

    def __enter__(self) -> UnitOfWork: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None:
        """Write collected events to the outbox and commit, atomically."""
        ...

    def rollback(self) -> None: ...
    def publish(self, event: Event) -> None:
        """An event to write to the outbox with this transaction (aggregates' events are collected too)."""
        ...

    def send(self, message: OutboxMessage) -> None:
        """A message to write to the outbox with this transaction, for its one destination."""
        ...

    def committed_events(self) -> list[Event]:
        """Events of the last commit, for in-process handlers."""
        ...


class GroupAborted(Exception):
    """The storage undid a whole write group (not only the command that failed): each of its
    commands must run again on its own."""


class WriteGroup(Protocol):
    """Several commands' units of work in one transaction, each undone alone if it fails,
    committed together: one commit (and, on SQLite, one write of the shared pages) for all.
    A unit's `commit` only keeps its work for the group's `commit`; nothing is durable, and no
    event may leave, before that."""

    def __enter__(self) -> WriteGroup: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def unit(self) -> UnitOfWork:
        """The next command's unit of work (raises GroupAborted from its exit if a failure
        undid the whole group)."""
        ...

    def commit(self) -> None: ...
