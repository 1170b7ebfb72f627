"""Channel sync: pull what changed on a channel account into ordermesh, window by window.

Not a message-bus handler: a sync is many transactions (one ImportOrders per page) around
slow calls to the channel, and must hold no database transaction while it waits on the
network. It reaches the channel only through the ChannelConnector port."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ordermesh.domain import commands as c
from ordermesh.domain.errors import DomainError
from ordermesh.domain.orders import FulfilledBy
from ordermesh.ports.channels import (
    AccountStatus,
    ChannelAccount,
    ChannelAccounts,
    ChannelConnector,
    ChannelError,
    ConnectorFactory,
    NeedsReauthorisation,
    OrderVersion,
    Unreadable,
    source_of,
)
from ordermesh.ports.clock import Clock
from ordermesh.services.handlers.orders import ImportResult

log = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=30)
"""Each window starts this long before the cursor. Windows end SETTLE before now, past
Amazon's two-minute eventual consistency, so a change is missed only when it shows up later
than SETTLE + OVERLAP (3 minutes) after it happened; the inbox makes repeats no-ops. Every
page re-read costs a request against a usage plan of one per three minutes, so the overlap is
kept small and a periodic deep read (services/sync_cadence.py) reaches further back."""
SETTLE = timedelta(minutes=2, seconds=30)
"""Windows end this long before now. Amazon refuses a `lastUpdatedBefore` closer than two
minutes to the request; the rest is a margin for clock skew."""
MARKETPLACE_TRAIL = timedelta(minutes=90)
"""Where the channel can search by who fulfils an order (Amazon's `fulfilledBy`), the orders
the marketplace fulfils itself (FBA) are read apart, this far behind the seller's own.
Amazon shipping an FBA order is a second change of it; read once its last change is this
old, an order Amazon shipped within the trail costs one read of the search's scarce usage
plan instead of two (one shipped later is read twice, as before). The price is time: such an
order comes in its ship time plus the trail after it was placed, and up to the cadence's
`MARKETPLACE_MAX_LAG` more (about 3 hours when Amazon ships within the hour). They ask
nothing of the seller and move none of the stock ordermesh pushes to channels: Amazon ships
them from its own network, whose figures the FBA inventory sync counts. ORDER_CHANGE
notifications, where set up, bring them at once. An account setting (`TRAIL_SETTING`,
seconds, 0 to read them with the rest) replaces it."""
TRAIL_SETTING = "marketplace_orders_trail_seconds"


@dataclass
class SyncReport:
    account: str
    status: str
    """synced, skipped (needs reauthorisation or paused), failed, or needs_reauthorisation."""
    since: datetime | None = None
    until: datetime | None = None
    pages: int = 0
    fetched: int = 0
    """Orders read, both reads together when marketplace-fulfilled ones are read apart."""
    imported: ImportResult = field(default_factory=ImportResult)
    unreadable: list[str] = field(default_factory=list)
    """`order id: reason` for each order the connector could not translate."""
    error: str | None = None
    cursor: datetime | None = None
    marketplace_since: datetime | None = None
    """The window of the marketplace-fulfilled orders read apart this time (None: not read)."""
    marketplace_until: datetime | None = None
    marketplace_fetched: int = 0
    marketplace_cursor: datetime | None = None
    late: int = 0
    """Changes first brought in by a window's overlap: they happened before the last window
    ended, and the channel showed them only after it was read (later than the settle time).
    The cadence answers with a deep read."""


@dataclass(frozen=True, slots=True)
class _Read:
    fulfilled_by: FulfilledBy | None
    """None: every order, whoever fulfils it."""
    since: datetime
    until: datetime
    seen_until: datetime
    """Where the last read of these orders ended: a change from before it that is new to
    ordermesh came late."""


SETTLE_SETTING = "sync_settle_seconds"
"""An account setting that replaces SETTLE for that account: a channel (or a sandbox) that
shows changes at once may be read closer to now. Amazon itself needs the default."""


def _seconds_of(settings: Mapping[str, Any], name: str, default: timedelta) -> timedelta:
    value = settings.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    return default


def started_report(account: ChannelAccount) -> SyncReport:
    """The report of a read of the account's orders before it starts: skipped, with the
    reason as its error when the account is not active (paused, lost authorisation)."""
    report = SyncReport(account.id, "skipped", cursor=account.cursor)
    if account.status != AccountStatus.ACTIVE:
        report.error = account.status_reason or f"account is {account.status}"
    return report


def imports(source: str, versions: Iterable[OrderVersion]) -> c.ImportOrders:
    """One ImportOrders for a page of the channel's order snapshots, each kept in the inbox
    under its own key."""
    return c.ImportOrders(
        tuple(c.ImportOrder(v.order, source=source, key=v.key, payload=v.payload) for v in versions)
    )


def not_imported(unreadable: Iterable[Unreadable], imported: ImportResult) -> list[str]:
    """`order id: reason` for each order that could not be read, then each the core refused."""
    return [f"{u.channel_order_id}: {u.reason}" for u in unreadable] + [
        f"{order_id}: {reason}" for order_id, reason in imported.rejected.items()
    ]


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
        marketplace_trail: timedelta = MARKETPLACE_TRAIL,
    ) -> None:
        self.accounts, self.connectors, self.handle = accounts, connectors, handle
        self.clock, self.overlap, self.settle = clock, overlap, settle
        self.marketplace_trail = marketplace_trail

    def sync(
        self,
        cmd: c.SyncChannel,
        *,
        overlap: timedelta | None = None,
        marketplace_span: timedelta | None = None,
    ) -> SyncReport:
        """Import every order the channel changed between the cursor (less the overlap) and
        now (less the settle time). The cursor moves only once the whole window is in, so a
        failed window is read again next time: nothing is skipped, nothing doubled. `overlap`
        replaces the usual one for this sync (a deep read reaches further back).

        Where marketplace-fulfilled orders are read apart (`MARKETPLACE_TRAIL`), they are
        read from their own cursor up to the trail behind this window's end; given a
        `marketplace_span` (the cadence's, sized to fill pages), only a window that long,
        once it lies wholly behind the trail, or all there is when that is two spans or more
        (catching up)."""
        account = self.accounts.get(cmd.account)
        report = started_report(account)
        if report.error:
            return report
        now = self.clock.now()
        until = (now - _seconds_of(account.settings, SETTLE_SETTING, self.settle)).replace(
            microsecond=0
        )
        back = self.overlap if overlap is None else overlap
        source = source_of(account.id, account.channel)
        unreadable: list[Unreadable] = []
        try:
            connector = self.connectors(account)
            reads, marketplace_to = self._reads(account, connector, until, back, marketplace_span)
            report.since, report.until = reads[0].since, reads[0].until
            if all(read.since >= read.until for read in reads):
                report.status = "synced"
                return report
            for read in reads:
                if read.fulfilled_by is FulfilledBy.MARKETPLACE:
                    report.marketplace_since, report.marketplace_until = read.since, read.until
                if read.since >= read.until:
                    continue
                pages = connector.changed_orders(
                    read.since, read.until, fulfilled_by=read.fulfilled_by
                )
                for page in pages:
                    report.pages += 1
                    fetched = len(page.orders) + len(page.unreadable)
                    report.fetched += fetched
                    if read.fulfilled_by is FulfilledBy.MARKETPLACE:
                        report.marketplace_fetched += fetched
                    unreadable.extend(page.unreadable)
                    late: list[OrderVersion] = []
                    rest: list[OrderVersion] = []
                    for version in page.orders:
                        before = version.order.updated_at < read.seen_until
                        (late if before else rest).append(version)
                    if late:
                        # Imported on their own, to tell the ones new to ordermesh from the
                        # repeats the overlap is there to make.
                        came_late = self.handle(imports(source, late))
                        report.late += came_late.created + came_late.updated
                        report.imported += came_late
                    if rest:
                        report.imported += self.handle(imports(source, rest))
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
        report.unreadable = not_imported(unreadable, report.imported)
        if report.late:
            log.warning(
                "channel account %s showed %d order change(s) later than the settle time (%s)",
                account.id,
                report.late,
                _seconds_of(account.settings, SETTLE_SETTING, self.settle),
            )
        self.accounts.record_success(
            account.id, cursor=until, at=now, marketplace_cursor=marketplace_to
        )
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
        report.marketplace_cursor = marketplace_to
        return report

    def _reads(
        self,
        account: ChannelAccount,
        connector: ChannelConnector,
        until: datetime,
        back: timedelta,
        span: timedelta | None,
    ) -> tuple[list[_Read], datetime | None]:
        """This sync's reads, the first one the merchant's (or everyone's), and where the
        marketplace-fulfilled orders' cursor stands after them (None: not read apart)."""
        trail = _seconds_of(account.settings, TRAIL_SETTING, self.marketplace_trail)
        mark = account.marketplace_cursor
        if not (connector.reads_by_fulfilment and trail > timedelta(0)):
            # Read together; from the trailing cursor too if they were read apart until now.
            start = min(account.cursor or until, mark or until)
            seen = start if account.cursor or mark else start - back
            read = _Read(None, start - back, until, seen)
            return [read], (until if mark is not None else None)
        start = account.cursor or until
        seen = start if account.cursor else start - back  # nothing read yet: nothing late
        reads = [_Read(FulfilledBy.MERCHANT, start - back, until, seen)]
        # Up to the merchant cursor everything is in: the trailing read starts there the
        # first time, and stays put (recorded, so that no window is ever skipped) until due.
        mark = mark or account.cursor or until
        behind = until - trail
        # Whole seconds, as the window's end goes on the wire: a cursor between two seconds
        # would count the change at the second before it as one shown late.
        end = (
            behind
            if span is None or behind - mark >= 2 * span
            else (mark + span).replace(microsecond=0)
        )
        if mark < end <= behind:
            # The usual overlap, even on a deep read: the deep overlap is there for changes
            # Amazon shows late, and a window this far behind was visible in full when read.
            reads.append(_Read(FulfilledBy.MARKETPLACE, mark - self.overlap, end, mark))
            mark = end
        return reads, mark
