"""Channel accounts in the `channel_accounts` table: settings in clear JSON, credentials
sealed, and the sync state (status, cursor, last error) the sync use case records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, literal, or_, select, update

from ordermesh.adapters.channels.credentials import CredentialBox, CredentialsUnreadable
from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.domain.errors import AlreadyExists, NotFound, ValidationFailed
from ordermesh.domain.ids import new_id
from ordermesh.ports.channels import AccountStatus, ChannelAccount
from ordermesh.ports.clock import Clock

_a = t.channel_accounts.c
_ERROR_LIMIT = 4000


class SqlChannelAccounts:
    def __init__(self, db: Database, clock: Clock, box: CredentialBox) -> None:
        self.db, self.clock, self.box = db, clock, box

    def _write(self, statement: Any) -> int:
        with self.db.write() as conn:
            return int(conn.execute(statement).rowcount)

    def register(
        self,
        *,
        channel: str,
        name: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
        sync_from: datetime,
    ) -> ChannelAccount:
        """A new account whose first sync reads changes from `sync_from` on."""
        if not name.strip():
            raise ValidationFailed("a channel account needs a name", field="name")
        with self.db.reader.connect() as conn:
            taken = conn.execute(select(_a.id).where(_a.name == name.strip())).first()
        if taken is not None:
            raise AlreadyExists(f"a channel account named {name!r} exists", field="name")
        account_id = new_id("cha")
        self._write(
            insert(t.channel_accounts).values(
                id=account_id,
                channel=channel,
                name=name.strip(),
                status=AccountStatus.ACTIVE,
                settings=dict(settings),
                secrets=self.box.seal(secrets),
                cursor=sync_from,
                created_at=self.clock.now(),
            )
        )
        return self.get(account_id)

    def get(self, account_id: str) -> ChannelAccount:
        with self.db.reader.connect() as conn:
            row = conn.execute(select(t.channel_accounts).where(_a.id == account_id)).first()
        if row is None:
            raise NotFound(f"no channel account {account_id}", field="account")
        return ChannelAccount(
            id=row.id,
            channel=row.channel,
            name=row.name,
            status=row.status,
            settings=dict(row.settings or {}),
            secrets=self._open(row.secrets),
            cursor=row.cursor,
            marketplace_cursor=row.marketplace_cursor,
            last_sync_at=row.last_sync_at,
            last_error=row.last_error,
            status_reason=row.status_reason,
        )

    def _open(self, sealed: str | None) -> dict[str, str]:
        # Unreadable credentials are an account needing new ones, not a crash: the connector
        # factory turns the empty mapping into NeedsReauthorisation.
        if not sealed:
            return {}
        try:
            return self.box.open(sealed)
        except CredentialsUnreadable:
            return {}

    def list(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Accounts without their credentials, for screens and the scheduler."""
        query = select(
            _a.id,
            _a.channel,
            _a.name,
            _a.status,
            _a.status_reason,
            _a.cursor,
            _a.marketplace_cursor,
            _a.last_sync_at,
            _a.last_error,
        ).order_by(_a.created_at)
        if channel is not None:
            query = query.where(_a.channel == channel)
        with self.db.reader.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def change(
        self,
        account_id: str,
        *,
        name: str | None = None,
        settings: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        status: str | None = None,
    ) -> None:
        """Rename, replace settings or credentials, pause or resume: what is given, nothing
        else. A new status clears the reason of the old one."""
        values: dict[str, Any] = {}
        if name is not None:
            if not name.strip():
                raise ValidationFailed("a channel account needs a name", field="name")
            with self.db.reader.connect() as conn:
                taken = conn.execute(
                    select(_a.id).where(_a.name == name.strip(), _a.id != account_id)
                ).first()
            if taken is not None:
                raise AlreadyExists(f"a channel account named {name!r} exists", field="name")
            values["name"] = name.strip()
        if settings is not None:
            values["settings"] = dict(settings)
        if secrets is not None:
            values["secrets"] = self.box.seal(secrets)
        if status is not None:
            values["status"], values["status_reason"] = status, None
        if not values:
            return
        if not self._write(update(t.channel_accounts).where(_a.id == account_id).values(values)):
            raise NotFound(f"no channel account {account_id}", field="account")

    def orders_by_account(self) -> dict[str, int]:
        """How many orders each account has brought in, ever."""
        o = t.orders.c
        with self.db.reader.connect() as conn:
            rows = conn.execute(
                select(o.channel_account, func.count()).group_by(o.channel_account)
            ).all()
        return {account: int(n) for account, n in rows}

    def update_credentials(self, account_id: str, secrets: Mapping[str, str]) -> None:
        """New credentials (after the seller authorised again): the account syncs again."""
        done = self._write(
            update(t.channel_accounts)
            .where(_a.id == account_id)
            .values(
                secrets=self.box.seal(secrets),
                status=AccountStatus.ACTIVE,
                status_reason=None,
            )
        )
        if not done:
            raise NotFound(f"no channel account {account_id}", field="account")

    def record_success(
        self,
        account_id: str,
        *,
        cursor: datetime,
        at: datetime,
        marketplace_cursor: datetime | None = None,
    ) -> None:
        # Two workers may sync one account at once (the inbox makes that harmless); the one
        # that finishes last must not pull a cursor back behind the other's window.
        values: dict[str, Any] = {
            "cursor": _forward(_a.cursor, cursor),
            "last_sync_at": at,
            "last_error": None,
        }
        if marketplace_cursor is not None:
            values["marketplace_cursor"] = _forward(_a.marketplace_cursor, marketplace_cursor)
        self._write(update(t.channel_accounts).where(_a.id == account_id).values(values))

    def record_failure(self, account_id: str, *, error: str, at: datetime) -> None:
        self._write(
            update(t.channel_accounts)
            .where(_a.id == account_id)
            .values(last_sync_at=at, last_error=error[:_ERROR_LIMIT])
        )

    def mark_needs_reauthorisation(self, account_id: str, *, reason: str, at: datetime) -> None:
        self._write(
            update(t.channel_accounts)
            .where(_a.id == account_id)
            .values(
                status=AccountStatus.NEEDS_REAUTHORISATION,
                status_reason=reason[:_ERROR_LIMIT],
                last_sync_at=at,
                last_error=reason[:_ERROR_LIMIT],
            )
        )


def _forward(column: Any, to: datetime) -> Any:
    """The column set to `to` unless it already stands later."""
    return case(
        (or_(column.is_(None), column < to), literal(to, column.type)),
        else_=column,
    )
