"""The sync use case with a fake channel and no database: what moves the cursor, what not."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ordermesh.adapters.channels.amazon.mapping import read_order
from ordermesh.domain.commands import Command, ImportOrders, SyncChannel
from ordermesh.domain.errors import ValidationFailed
from ordermesh.ports.channels import (
    AccountStatus,
    ChangesPage,
    ChannelAccount,
    ChannelError,
    NeedsReauthorisation,
    OrderVersion,
    Unreadable,
)
from ordermesh.services.handlers.channels import OVERLAP, SETTLE, ChannelSync
from ordermesh.services.handlers.orders import ImportResult
from tests.unit.channels.amazon.models import example_orders

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CURSOR = NOW - timedelta(hours=1)


class FixedClock:
    def now(self) -> datetime:
        return NOW


class FakeAccounts:
    def __init__(self) -> None:
        self.account = ChannelAccount(
            "cha_1", "amazon", "Amazon", AccountStatus.ACTIVE, {}, {}, cursor=CURSOR
        )

    def get(self, account_id: str) -> ChannelAccount:
        return self.account

    def record_success(self, account_id: str, *, cursor: datetime, at: datetime) -> None:
        self.account = replace(self.account, cursor=cursor, last_error=None)

    def record_failure(self, account_id: str, *, error: str, at: datetime) -> None:
        self.account = replace(self.account, last_error=error)

    def mark_needs_reauthorisation(self, account_id: str, *, reason: str, at: datetime) -> None:
        self.account = replace(
            self.account, status=AccountStatus.NEEDS_REAUTHORISATION, status_reason=reason
        )


class FakeConnector:
    channel = "amazon"

    def __init__(self, pages: list[ChangesPage], then: Exception | None = None) -> None:
        self.pages, self.then = pages, then
        self.windows: list[tuple[datetime, datetime]] = []

    def changed_orders(self, since: datetime, until: datetime) -> Iterator[ChangesPage]:
        self.windows.append((since, until))
        yield from self.pages
        if self.then is not None:
            raise self.then


def _version(order_id: str) -> OrderVersion:
    read = read_order(example_orders()[order_id], "cha_1")
    assert isinstance(read, OrderVersion)
    return read


def _sync(connector: FakeConnector, refuse: bool = False) -> tuple[Any, FakeAccounts, list[Any]]:
    accounts = FakeAccounts()
    handled: list[Command] = []

    def handle(command: Command) -> ImportResult:
        handled.append(command)
        if refuse:
            raise ValidationFailed("unknown channel state", field="state")
        assert isinstance(command, ImportOrders)
        return ImportResult(created=len(command.orders))

    report = ChannelSync(accounts, lambda a: connector, handle, FixedClock()).sync(
        SyncChannel("cha_1")
    )
    return report, accounts, handled


def test_the_window_overlaps_the_cursor_and_ends_before_now() -> None:
    connector = FakeConnector([ChangesPage((_version("123-4567890-1234567"),))])

    report, accounts, handled = _sync(connector)

    assert connector.windows == [(CURSOR - OVERLAP, NOW - SETTLE)]
    assert accounts.account.cursor == NOW - SETTLE
    [command] = handled
    assert command.orders[0].source == "amazon:cha_1"
    assert command.orders[0].key.startswith("123-4567890-1234567@")
    assert report.imported.created == 1


@pytest.mark.parametrize(
    "failure", [ChannelError("searchOrders failed (500)"), TimeoutError("never caught")]
)
def test_a_window_that_breaks_half_way_leaves_the_cursor_where_it_was(failure) -> None:
    connector = FakeConnector([ChangesPage((_version("123-4567890-1234567"),))], then=failure)

    if isinstance(failure, ChannelError):
        report, accounts, handled = _sync(connector)
        assert report.status == "failed"
        assert accounts.account.cursor == CURSOR
        assert "500" in (accounts.account.last_error or "")
        assert len(handled) == 1, "the pages before the failure are kept (the inbox dedupes)"
    else:
        with pytest.raises(TimeoutError):
            _sync(connector)


def test_a_page_the_core_refuses_fails_the_window_visibly() -> None:
    connector = FakeConnector([ChangesPage((_version("123-4567890-1234567"),))])

    report, accounts, _ = _sync(connector, refuse=True)

    assert report.status == "failed"
    assert accounts.account.cursor == CURSOR
    assert "ValidationFailed" in (accounts.account.last_error or "")


def test_orders_that_cannot_be_read_are_reported_not_dropped_in_silence() -> None:
    bad = Unreadable("999-0000000-0000000", "k", "{}", "unknown fulfillment status 'X'")
    connector = FakeConnector([ChangesPage((_version("123-4567890-1234567"),), (bad,))])

    report, accounts, _ = _sync(connector)

    assert report.status == "synced"
    assert report.unreadable == ["999-0000000-0000000: unknown fulfillment status 'X'"]
    assert accounts.account.cursor == NOW - SETTLE
    assert "999-0000000-0000000" in (accounts.account.last_error or "")


def test_a_lost_authorisation_parks_the_account_and_later_syncs_do_not_call_the_channel() -> None:
    connector = FakeConnector([], then=NeedsReauthorisation("invalid_grant"))
    accounts = FakeAccounts()
    syncer = ChannelSync(accounts, lambda a: connector, lambda c: None, FixedClock())

    first = syncer.sync(SyncChannel("cha_1"))
    second = syncer.sync(SyncChannel("cha_1"))

    assert first.status == AccountStatus.NEEDS_REAUTHORISATION
    assert accounts.account.status == AccountStatus.NEEDS_REAUTHORISATION
    assert second.status == "skipped"
    assert len(connector.windows) == 1
