"""What the core asks of a sales channel, and where it keeps each channel account's state.

A connector translates; it holds no business rules. The sync use case drives it through
`ChannelConnector` alone and never sees HTTP, tokens or rate limits."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ordermesh.domain.commands import ChannelOrder
from ordermesh.domain.orders import FulfilledBy


def source_of(account_id: str, channel: str) -> str:
    """Inbox source of an account's order versions, whichever way they came (poll, webhook,
    notification, back-fill): one source, so a version seen twice is stored once."""
    return f"{channel}:{account_id}"


class AccountStatus:
    ACTIVE = "active"
    NEEDS_REAUTHORISATION = "needs_reauthorisation"
    """The seller revoked (or never granted) our access: a person must authorise it again.
    Syncs skip the account until then, so a revoked token cannot become a crash loop."""
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class ChannelAccount:
    id: str
    channel: str
    name: str
    status: str
    settings: Mapping[str, Any]
    secrets: Mapping[str, str] = field(repr=False)
    cursor: datetime | None = None
    """Everything the channel changed before this moment has been imported (the
    merchant-fulfilled orders alone while `marketplace_cursor` is set)."""
    marketplace_cursor: datetime | None = None
    """Where the orders the marketplace fulfils itself are read apart (Amazon FBA): every
    change to those before this moment has been imported."""
    last_sync_at: datetime | None = None
    last_error: str | None = None
    status_reason: str | None = None


@dataclass(frozen=True, slots=True)
class OrderVersion:
    """One order as the channel showed it at one moment: the snapshot in our vocabulary, the
    raw payload for the inbox, and the key that makes the same version a no-op when seen again
    (an overlapping window, a duplicated page)."""

    order: ChannelOrder
    key: str
    payload: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An order the connector could not translate. Reported, never dropped in silence."""

    channel_order_id: str
    key: str
    payload: str
    reason: str


@dataclass(frozen=True, slots=True)
class ChangesPage:
    orders: tuple[OrderVersion, ...]
    unreadable: tuple[Unreadable, ...] = ()


class ChannelError(Exception):
    """The channel could not be read now; the same window is tried again next time."""


class NeedsReauthorisation(ChannelError):
    """The seller's authorisation is gone (LWA `invalid_grant`, a revoked app)."""


class ChannelConnector(Protocol):
    channel: str
    reads_by_fulfilment: bool
    """The channel can search its orders by who fulfils them (Amazon: `fulfilledBy`), so the
    sync may read marketplace-fulfilled orders apart from the seller's own."""

    def changed_orders(
        self, since: datetime, until: datetime, *, fulfilled_by: FulfilledBy | None = None
    ) -> Iterator[ChangesPage]:
        """Every order changed within [since, until], page by page, each page as it arrives;
        only those `fulfilled_by` that party when given (a connector that cannot read by
        fulfilment is never asked to).

        An order may appear more than once (the channel may repeat itself); callers dedupe by
        `OrderVersion.key`. Raises ChannelError (or NeedsReauthorisation) when the channel
        cannot be read; pages already yielded stay valid."""
        ...


class ChannelAccounts(Protocol):
    def get(self, account_id: str) -> ChannelAccount:
        """Raises NotFound for an unknown account."""
        ...

    def record_success(
        self,
        account_id: str,
        *,
        cursor: datetime,
        at: datetime,
        marketplace_cursor: datetime | None = None,
    ) -> None:
        """Cursors only move forward; `marketplace_cursor` None leaves that one as it is."""
        ...

    def record_failure(self, account_id: str, *, error: str, at: datetime) -> None:
        """The cursor stays where it was, so the failed window is read again next time."""
        ...

    def mark_needs_reauthorisation(self, account_id: str, *, reason: str, at: datetime) -> None: ...


class ConnectorFactory(Protocol):
    def __call__(self, account: ChannelAccount) -> ChannelConnector: ...
