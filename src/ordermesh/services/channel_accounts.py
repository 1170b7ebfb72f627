"""Channel accounts as a seller manages them: connect one, look at its health, rename it,
change its settings, rotate its credentials, pause and resume it.

Credentials are write-only: a view says which are set, never what they are. A view gathers
what a person needs to judge an account: sync state, orders brought in, the rate-limit budget
left per operation and how far the stock pushes to it are behind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ordermesh.domain.errors import ValidationFailed
from ordermesh.ports.channel_accounts import ChannelAccountStore, ChannelRules, RateLimitLevels
from ordermesh.ports.channels import AccountStatus, ChannelAccount
from ordermesh.ports.clock import Clock
from ordermesh.ports.stock_sync import QueueStatus

FIRST_SYNC_DAYS = 7
"""How far back a new account's first sync reads when the seller does not say."""

SustainableRate = Callable[[ChannelAccount], float | None]
"""Orders per hour an account can bring in under its channel's usage plan, if known."""


class StatusConflict(ValidationFailed):
    """The change asked for does not fit the account's status (resuming an account whose
    seller must authorise ordermesh again, say)."""

    code = "status-conflict"
    field = "status"


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What a PATCH may change. None leaves a part as it is."""

    name: str | None = None
    settings: Mapping[str, Any] | None = None
    """Merged over the current settings; a key set to None is removed."""
    secrets: Mapping[str, str] | None = None
    """Replaces the credentials named (a rotation); the others are kept."""
    status: str | None = None
    """`paused` or `active` (resume a paused account)."""
    reauthorised: bool = False
    """The seller authorised ordermesh again: the account leaves `needs_reauthorisation`."""


def _merged(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _seconds(age: timedelta | None) -> float | None:
    return round(age.total_seconds(), 1) if age is not None else None


def _queue(status: QueueStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    return {
        "depth": status.depth,
        "urgent": status.urgent,
        "in_flight": status.in_flight,
        "oldest_pending_age_seconds": _seconds(status.oldest_pending_age),
        "sent": status.sent,
        "failed_attempts": status.failed_attempts,
        "rejected": status.rejected,
        "last_error": status.last_error,
        "last_sent_at": status.last_sent_at,
    }


class ChannelAccountDesk:
    def __init__(
        self,
        store: ChannelAccountStore,
        rules: ChannelRules,
        budgets: RateLimitLevels,
        queue_status: Callable[[str | None], list[QueueStatus]],
        clock: Clock,
        *,
        sustainable_rate: SustainableRate | None = None,
    ) -> None:
        self.store, self.rules, self.budgets = store, rules, budgets
        self.queue_status, self.clock = queue_status, clock
        self.sustainable_rate = sustainable_rate

    def add(
        self,
        *,
        channel: str,
        name: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
        sync_from: datetime | None = None,
    ) -> dict[str, Any]:
        """Check, then store a new account (credentials sealed); its first sync reads from
        `sync_from` (default: a week back)."""
        self.rules.check(channel, settings, secrets)
        if sync_from is not None and sync_from > self.clock.now():
            raise ValidationFailed("sync_from cannot be in the future", field="sync_from")
        account = self.store.register(
            channel=channel,
            name=name,
            settings=settings,
            secrets=secrets,
            sync_from=sync_from or self.clock.now() - timedelta(days=FIRST_SYNC_DAYS),
        )
        return self.view(account.id)

    def change(self, account_id: str, change: AccountChange) -> dict[str, Any]:
        account = self.store.get(account_id)
        settings = secrets = None
        if change.settings is not None or change.secrets is not None:
            settings = _merged(account.settings, change.settings or {})
            secrets = {**account.secrets, **(change.secrets or {})}
            self.rules.check(account.channel, settings, secrets)
            if change.secrets is None:
                secrets = None
        status = self._status_after(account, change)
        self.store.change(
            account_id, name=change.name, settings=settings, secrets=secrets, status=status
        )
        return self.view(account_id)

    @staticmethod
    def _status_after(account: ChannelAccount, change: AccountChange) -> str | None:
        if change.status not in (None, AccountStatus.ACTIVE, AccountStatus.PAUSED):
            raise ValidationFailed(
                f"status must be {AccountStatus.ACTIVE} or {AccountStatus.PAUSED}", field="status"
            )
        lost = account.status == AccountStatus.NEEDS_REAUTHORISATION
        if change.status == AccountStatus.PAUSED:
            return AccountStatus.PAUSED
        if change.reauthorised or (lost and change.secrets):
            # New credentials are what re-authorising produces: the account syncs again.
            return AccountStatus.ACTIVE
        if change.status == AccountStatus.ACTIVE:
            if lost:
                raise StatusConflict(
                    "the seller must authorise ordermesh again first: send the new credentials "
                    "in `secrets`, or `reauthorised: true` once they are in place"
                )
            return AccountStatus.ACTIVE
        return None

    def view(self, account_id: str) -> dict[str, Any]:
        account = self.store.get(account_id)
        return self._view(account, self.store.orders_by_account(), self._queues())

    def views(self) -> list[dict[str, Any]]:
        orders, queues = self.store.orders_by_account(), self._queues()
        return [self._view(self.store.get(row["id"]), orders, queues) for row in self.store.list()]

    def _queues(self) -> dict[str, QueueStatus]:
        return {q.channel_account: q for q in self.queue_status(None)}

    def _view(
        self, account: ChannelAccount, orders: Mapping[str, int], queues: Mapping[str, QueueStatus]
    ) -> dict[str, Any]:
        names = self.rules.secret_names(account.channel)
        secrets = {n: "set" if account.secrets.get(n) else "not set" for n in names}
        secrets.update({n: "set" for n in account.secrets if n not in secrets})
        prefix = self.rules.rate_limit_prefix(account)
        rate = self.sustainable_rate(account) if self.sustainable_rate is not None else None
        return {
            "id": account.id,
            "channel": account.channel,
            "name": account.name,
            "status": account.status,
            "status_reason": account.status_reason,
            "settings": dict(account.settings),
            "secrets": secrets,
            "cursor": account.cursor,
            "marketplace_cursor": account.marketplace_cursor,
            "last_sync_at": account.last_sync_at,
            "last_error": account.last_error,
            "orders": orders.get(account.id, 0),
            "sustainable_orders_per_hour": rate,
            "rate_limits": self.budgets.levels(prefix) if prefix else [],
            "push_queue": _queue(queues.get(account.id)),
        }
