"""Stock sync ports: the push queue the core keeps, and the senders channels implement.

The queue holds one row per listing: the latest figure to send, the figure the channel last
confirmed, and the state of its push. Writing a figure replaces any unsent one, so a channel
that was down catches up with the latest figure per listing, not with the history."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ordermesh.domain.availability import (
    BufferOverride,
    Explanation,
    Level,
    Listing,
    StockPolicy,
)
from ordermesh.domain.inventory import LocationKind
from ordermesh.ports.storage import UnitOfWork


@dataclass(frozen=True, slots=True)
class StockPicture:
    """What available-to-sell needs for some listings, read in one transaction."""

    listings: tuple[Listing, ...]
    policies: Mapping[str, StockPolicy]
    overrides: Mapping[tuple[str, str], BufferOverride]
    kinds: Mapping[str, LocationKind]
    levels: Mapping[str, Sequence[Level]]
    bundles: Mapping[str, Mapping[str, int]]
    low_stock: Mapping[str, int]
    """Low-stock threshold per SKU: a push falling to it or below is urgent."""


@dataclass(frozen=True, slots=True)
class Figure:
    """A listing's newly computed quantity, to be queued for its channel."""

    channel_account: str
    channel_sku: str
    sku: str
    quantity: int
    low_stock_threshold: int


class StockSyncRepository(Protocol):
    """The stock-sync tables, inside a unit of work."""

    def picture(self, skus: Collection[str]) -> StockPicture:
        """Every listing whose figure depends on these SKUs (bundles containing them too;
        all listings if empty), with the stock and configuration that decide it. Locks the
        listings' queue rows first, so concurrent recomputations of a listing queue up and the
        later one reads the later stock."""
        ...

    def queue(self, figures: Sequence[Figure]) -> int:
        """Write each figure as the listing's latest; returns how many pushes it made due."""
        ...

    def configure(self, policy: StockPolicy) -> None: ...
    def set_buffer(self, channel_account: str, sku: str, override: BufferOverride | None) -> None:
        """A SKU's own buffer on an account; None goes back to the account's."""
        ...


class StockSyncUnitOfWork(UnitOfWork, Protocol):
    stock_sync: StockSyncRepository


class PushOutcome(enum.StrEnum):
    SENT = "sent"
    """The channel accepted the figure."""
    RETRY = "retry"
    """A passing failure (throttled, timeout, channel down): send the latest figure later."""
    REJECTED = "rejected"
    """The channel refused this listing for good (unknown SKU, bad value): a person must look."""


@dataclass(frozen=True, slots=True)
class Push:
    """One listing's figure, claimed for sending."""

    channel_account: str
    channel_sku: str
    sku: str
    quantity: int
    confirmed: int | None
    """What the channel last confirmed, for a compare-and-set where the channel offers one."""
    urgent: bool
    attempts: int


@dataclass(frozen=True, slots=True)
class PushResult:
    channel_sku: str
    outcome: PushOutcome
    error: str = ""


class ListingPushSender(Protocol):
    """A channel's way of setting listed quantities (implemented by each channel connector)."""

    def send(self, batch: Sequence[Push]) -> Sequence[PushResult]:
        """Set these quantities on the channel. One result per listing; a listing without a
        result is retried. Raising means the whole batch failed and will be retried."""
        ...


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """How far behind a channel account is."""

    channel_account: str
    depth: int
    """Listings with a figure waiting to be sent (or in flight)."""
    urgent: int
    oldest_pending_age: timedelta | None
    in_flight: int
    sent: int
    """Pushes the channel has confirmed, ever."""
    failed_attempts: int
    """Pushes that failed and were (or will be) retried, ever."""
    rejected: int
    """Listings the channel refused for good, until a new figure is written."""
    last_error: str | None
    last_sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class ListingFigure:
    """A listing's figure explained, with where its push stands."""

    explanation: Explanation
    queued: int | None
    """The latest figure in the push queue (None: never queued)."""
    confirmed: int | None
    status: str | None
    urgent: bool
    last_error: str | None


class PushQueue(Protocol):
    """The push queue outside any unit of work: claimed and settled in short transactions,
    so a slow channel never holds the database."""

    def claim(self, channel_account: str, limit: int) -> list[Push]:
        """Due pushes of an account, urgent first, then oldest; marked in flight under a lease."""
        ...

    def settle(self, pushes: Sequence[Push], results: Mapping[str, PushResult]) -> None:
        """Record what the channel said. A listing whose figure changed while in flight is
        made due again with its newer figure."""
        ...

    def status(self, channel_account: str | None = None) -> list[QueueStatus]: ...
    def explain(self, channel_account: str, channel_sku: str) -> ListingFigure | None: ...
