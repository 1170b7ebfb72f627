"""Back-fill: a channel account's older orders, for a range before the incremental sync's
window, through the channel's bulk path (Amazon's order report) instead of paging the
incremental search at its usage plan for hours.

Every order still goes through the inbox and ImportOrders. A back-filled snapshot only ever
brings an order in or moves it to a newer version: one ordermesh already holds at the same
or a newer version is left alone, because a report says less than the incremental feed
(no address, no Prime flag) and must not overwrite it. Run twice, it imports nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ordermesh.domain import commands as c
from ordermesh.domain.errors import DomainError, ValidationFailed
from ordermesh.ports.channels import (
    AccountStatus,
    ChannelAccounts,
    ChannelError,
    NeedsReauthorisation,
    OrderVersion,
    Unreadable,
    source_of,
)
from ordermesh.ports.clock import Clock
from ordermesh.ports.marketplace import BackfillProgress, OrderBackfill, OrderVersions
from ordermesh.services.handlers.channels import (
    OVERLAP,
    SETTLE,
    SyncReport,
    imports,
    not_imported,
    started_report,
)

log = logging.getLogger(__name__)


def backfill_until(cursor: datetime | None, now: datetime) -> datetime:
    """Where the incremental sync's reach begins: the back-fill stops there."""
    return (cursor - OVERLAP) if cursor is not None else now - SETTLE


class ChannelBackfill:
    def __init__(
        self,
        accounts: ChannelAccounts,
        backfills: Callable[[Any], object],
        versions: OrderVersions,
        handle: Callable[[c.Command], Any],
        clock: Clock,
    ) -> None:
        self.accounts, self.backfills, self.versions = accounts, backfills, versions
        self.handle, self.clock = handle, clock

    def note(self, account_id: str) -> str | None:
        """What back-filled orders of this account lack, to tell the seller."""
        try:
            reader = self.backfills(self.accounts.get(account_id))
        except ChannelError:
            return None
        return reader.backfill_note if isinstance(reader, OrderBackfill) else None

    def backfill(
        self,
        account_id: str,
        since: datetime,
        until: datetime | None = None,
        progress: Callable[[BackfillProgress], None] | None = None,
    ) -> SyncReport:
        """Import the orders placed in [since, until); until defaults to the start of the
        incremental window. The cursor is not moved: the incremental sync goes on as before."""
        account = self.accounts.get(account_id)
        report = started_report(account)
        if report.error:
            return report
        now = self.clock.now()
        end = min(until or backfill_until(account.cursor, now), now)
        report.since, report.until = since, end
        if since >= end:
            report.status = "synced"
            return report
        source = source_of(account.id, account.channel)
        unreadable: list[Unreadable] = []
        try:
            reader = self.backfills(account)
            if not isinstance(reader, OrderBackfill):
                raise ValidationFailed(
                    f"{account.channel} accounts have no back-fill; their sync reads any range",
                    field="since",
                )
            for page in reader.orders_placed_between(since, end, progress):
                report.pages += 1
                report.fetched += len(page.orders) + len(page.unreadable)
                unreadable.extend(page.unreadable)
                fresh = self._newer_than_ours(account.id, page.orders)
                report.imported.unchanged += len(page.orders) - len(fresh)
                if fresh:
                    report.imported += self.handle(imports(source, fresh))
        except NeedsReauthorisation as lost:
            self.accounts.mark_needs_reauthorisation(account.id, reason=str(lost), at=now)
            report.status, report.error = AccountStatus.NEEDS_REAUTHORISATION, str(lost)
            return report
        except (ChannelError, DomainError) as failed:
            error = f"back-fill: {type(failed).__name__}: {failed}"
            self.accounts.record_failure(account.id, error=error, at=now)
            report.status, report.error = "failed", error
            log.warning("back-fill of channel account %s failed: %s", account.id, error)
            return report
        report.unreadable = not_imported(unreadable, report.imported)
        if report.unreadable:
            self.accounts.record_failure(
                account.id,
                error=f"back-fill: {len(report.unreadable)} order(s) could not be read or were "
                "refused: " + "; ".join(report.unreadable[:20]),
                at=now,
            )
        report.status = "synced"
        return report

    def _newer_than_ours(
        self, account_id: str, versions: tuple[OrderVersion, ...]
    ) -> list[OrderVersion]:
        if not versions:
            return []
        ours = self.versions.order_versions(
            account_id, {v.order.channel_order_id for v in versions}
        )
        return [
            v
            for v in versions
            if (held := ours.get(v.order.channel_order_id)) is None or v.order.updated_at > held
        ]
