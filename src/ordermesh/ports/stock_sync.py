"""Stock sync ports: the push queue the core keeps, and the senders channels implement.

The queue holds one row per listing: the latest figure to send, the figure the channel last
confirmed, and the state of its push. Writing a figure replaces any unsent one, so a channel
that was down catches up with the latest figure per listing, not with the history."""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ordermesh.domain.availability import (
    BufferOverride,
    Explanation,
    InFlightDemand,
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
    demand: Mapping[tuple[str, str], InFlightDemand] = field(default_factory=dict)
    """Per listing of an account whose pushes are absolute (no compare-and-set): its recent
    sales and the account's import lag, for the in-flight margin."""
    pending: Mapping[str, int] = field(default_factory=dict)
    """Per stocked SKU (bundles exploded into their components): units of merchant-fulfilled
    orders still pending on their channel, which hold no reservation yet."""


@dataclass(frozen=True, slots=True)
class Figure:
    """A listing's newly computed quantity, to be queued for its channel."""

    channel_account: str
    channel_sku: str
    sku: str
    quantity: int
    low_stock_threshold: int


@dataclass(frozen=True, slots=True)
class ChannelSale:
    """Units a channel sold of one of its listings, which it took off that listing itself."""

    channel_account: str
    channel_sku: str
    quantity: int
    purchased_at: datetime


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

    def note_channel_sales(self, sales: Sequence[ChannelSale]) -> None:
        """Lower each listing's confirmed figure by a sale the channel made after that figure
        was confirmed (never below 0), as the channel lowered what it shows. A figure
        confirmed after the sale is left as it is."""
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
    overtaking: bool = False
    """An urgent figure sent while a slower push of the same listing (Amazon's listings feed)
    is still in flight. The slower one may land after it with its older figure, so when it
    settles the listing's figure goes out again if it differs."""


@dataclass(frozen=True, slots=True)
class PushResult:
    channel_sku: str
    outcome: PushOutcome
    error: str = ""
    channel_quantity: int | None = None
    """What the channel showed when it refused a compare-and-set (a RETRY because the quantity
    changed on the channel's side since it was last confirmed): the next push should compare
    against this, once the change that caused it (usually a sale not yet imported) is known."""
    shown_after: int | None = None
    """What the channel showed for the listing when read back after this push was applied: set
    for a bulk push that an urgent figure overtook, so that its settling knows which of the two
    figures the channel kept instead of assuming the worse one."""


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
    retrying: int = 0
    """Listings whose push has failed three times or more in a row and is waiting to retry."""


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

    def claim(
        self,
        channel_account: str,
        limit: int,
        *,
        urgent_only: bool = False,
        bulk_only: bool = False,
    ) -> list[Push]:
        """Due pushes of an account, urgent first, then oldest; marked in flight under a lease.
        `urgent_only` / `bulk_only` claim only the urgent / only the other ones, so that two
        lanes of one account never take the same push. An urgent claim also overtakes a
        listing whose figure fell low while a bulk push of it is in flight (`Push.overtaking`):
        a listing going to 0 does not wait out a feed."""
        ...

    def settle(self, pushes: Sequence[Push], results: Mapping[str, PushResult]) -> None:
        """Record what the channel said. A listing whose figure changed while in flight is
        made due again with its newer figure."""
        ...

    def overtaken(self, channel_account: str, channel_skus: Sequence[str]) -> list[str]:
        """Those of these listings whose bulk push is still in flight and was overtaken by an
        urgent figure: the channel may show either figure once the bulk push lands."""
        ...

    def status(self, channel_account: str | None = None) -> list[QueueStatus]: ...
    def explain(self, channel_account: str, channel_sku: str) -> ListingFigure | None: ...
    def listings_of(self, sku: str) -> list[ListingFigure]:
        """Every listing of a SKU, and of the bundles made of it, explained."""
        ...

    def expected(self, channel_account: str) -> list[Expected]:
        """Listings whose latest figure the channel has confirmed: what it should show now.
        Listings with a push waiting or in flight are left out (that push will set them)."""
        ...

    def record_drift(
        self,
        channel_account: str,
        drifts: Sequence[Drift],
        *,
        checked: int,
        error: str | None,
        heal: Collection[str],
    ) -> int:
        """Log what a reconciliation found and make due again the pushes of the listings in
        `heal` whose figure has not moved since they were read; returns how many."""
        ...

    def drift_report(self, channel_account: str | None = None, limit: int = 100) -> DriftReport: ...

    def seen_drift(self, channel_account: str, drifts: Sequence[Drift]) -> set[str]:
        """The listings among these already found showing the same wrong figure before."""
        ...


@dataclass(frozen=True, slots=True)
class Expected:
    channel_sku: str
    sku: str
    quantity: int
    """The figure the channel confirmed last, which it should still show."""


@dataclass(frozen=True, slots=True)
class Drift:
    """A listing showing on its channel something other than the figure it confirmed."""

    channel_sku: str
    sku: str
    ours: int
    theirs: int | None
    """None: the channel shows no quantity for the listing at all."""
    found_at: datetime | None = None
    channel_account: str = ""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    channel_account: str
    checked_at: datetime
    checked: int
    drifted: int
    error: str | None


@dataclass(frozen=True, slots=True)
class DriftReport:
    runs: tuple[Reconciliation, ...]
    """The last reconciliation of each account."""
    recent: tuple[Drift, ...]
    """The latest drift found, newest first."""


@dataclass(frozen=True, slots=True)
class ListedQuantity:
    """What a channel shows for one listing right now, as read back for reconciliation."""

    channel_sku: str
    quantity: int | None
    """None: the channel has no quantity for it (not listed, or not merchant-fulfilled)."""


class ListingReader(Protocol):
    """A channel's way of reading back the quantities it shows (implemented by each channel
    connector), so that reconciliation never depends on "push only on change" alone."""

    def listed_quantities(self, channel_skus: Sequence[str]) -> Sequence[ListedQuantity]:
        """One entry per SKU asked for. Raises ChannelError when the channel cannot be read."""
        ...
