"""Channel sync: pull what changed on a channel account into ordermesh, window by window.

Not a message-bus handler: a sync is many transactions (one ImportOrders per page) around
slow calls to the channel, and must hold no database transaction while it waits on the
network. It reaches the channel only through the ChannelConnector port."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ordermesh.domain import commands as c
from ordermesh.domain.errors import DomainError
from ordermesh.ports.channels import (
    AccountStatus,
    ChannelAccounts,
    ChannelError,
    ConnectorFactory,
    NeedsReauthorisation,
    Unreadable,
)
from ordermesh.ports.clock import Clock
from ordermesh.services.handlers.orders import ImportResult

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=5)
"""Each window starts this long before the cursor: a change the channel made visible late
(Amazon's searches lag by up to two minutes) is still seen; the inbox makes repeats no-ops."""
SETTLE = timedelta(minutes=2, seconds=30)
"""Windows end this long before now. Amazon refuses a `lastUpdatedBefore` closer than two
minutes to the request; the rest is a margin for clock skew."""


@dataclass
class SyncReport:
    account: str
    status: str
    """synced, skipped (needs reauthorisation or paused), failed, or needs_reauthorisation."""
    since: datetime | None = None
    until: datetime | None = None
    pages: int = 0
    fetched: int = 0
    imported: ImportResult = field(default_factory=ImportResult)
    unreadable: list[str] = field(default_factory=list)
    """`order id: reason` for each order the connector could not translate."""
    error: str | None = None
    cursor: datetime | None = None


def source_of(account_id: str, channel: str) -> str:
    """Inbox source of an account's order payloads."""
    return f"{channel}:{account_id}"


def _describe(unreadable: list[Unreadable]) -> list[str]:
    return [f"{u.channel_order_id}: {u.reason}" for u in unreadable]


class ChannelSync:
    def __init__(
        self,
        accounts: ChannelAccounts,
        connectors: ConnectorFactory,
        handle: Callable[[c.Command], Any],
        clock: Clock,
        *,
        overlap: timedelta = OVERLAP,
        settle: timedelta = SETTLE,
    ) -> None:
        self.accounts, self.connectors, self.handle = accounts, connectors, handle
        self.clock, self.overlap, self.settle = clock, overlap, settle

    def sync(self, cmd: c.SyncChannel) -> SyncReport:
        """Import every order the channel changed between the cursor (less the overlap) and
        now (less the settle time). The cursor moves only once the whole window is in, so a
        failed window is read again next time: nothing is skipped, nothing doubled."""
        account = self.accounts.get(cmd.account)
        report = SyncReport(account.id, "skipped", cursor=account.cursor)
        if account.status != AccountStatus.ACTIVE:
            report.error = account.status_reason or f"account is {account.status}"
            return report
        now = self.clock.now()
        until = (now - self.settle).replace(microsecond=0)
        since = (account.cursor or until) - self.overlap
        report.since, report.until = since, until
        if since >= until:
            report.status = "synced"
            return report
        source = source_of(account.id, account.channel)
        unreadable: list[Unreadable] = []
        try:
            connector = self.connectors(account)
            for page in connector.changed_orders(since, until):
                report.pages += 1
                report.fetched += len(page.orders) + len(page.unreadable)
                unreadable.extend(page.unreadable)
                if page.orders:
                    batch = c.ImportOrders(
                        tuple(
                            c.ImportOrder(v.order, source=source, key=v.key, payload=v.payload)
                            for v in page.orders
                        )
                    )
                    report.imported += self.handle(batch)
        except NeedsReauthorisation as lost:
            self.accounts.mark_needs_reauthorisation(account.id, reason=str(lost), at=now)
            report.status, report.error = AccountStatus.NEEDS_REAUTHORISATION, str(lost)
            log.warning("channel account %s needs reauthorisation: %s", account.id, lost)
            return report
        except (ChannelError, DomainError) as failed:
            # DomainError: the core refused a page (a snapshot it cannot accept). The window
            # is kept so that a fix (a mapping, a product) lets the next sync bring it in.
            error = f"{type(failed).__name__}: {failed}"
            self.accounts.record_failure(account.id, error=error, at=now)
            report.status, report.error = "failed", error
            log.warning("sync of channel account %s failed: %s", account.id, error)
            return report
        report.unreadable = _describe(unreadable) + [
            f"{order_id}: {reason}" for order_id, reason in report.imported.rejected.items()
        ]
        self.accounts.record_success(account.id, cursor=until, at=now)
        if report.unreadable:
            # The window is done (retrying would not make these readable), but a person must
            # see them: they stay as the account's last error until the next clean sync.
            self.accounts.record_failure(
                account.id,
                error=f"{len(report.unreadable)} order(s) could not be read or were refused: "
                + "; ".join(report.unreadable[:20]),
                at=now,
            )
        report.status, report.cursor = "synced", until
        return report
