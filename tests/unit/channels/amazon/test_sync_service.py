"""The sync use case with a fake channel and no database: what moves the cursor, what not."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordermesh.adapters.channels.amazon.mapping import read_order
from ordermesh.domain.commands import Command, ImportOrders, SyncChannel
from ordermesh.domain.errors import ValidationFailed
from ordermesh.domain.orders import FulfilledBy
from ordermesh.ports.channels import (
    AccountStatus,
    ChangesPage,
    ChannelAccount,
    ChannelError,
    NeedsReauthorisation,
    OrderVersion,
    Unreadable,
)
from ordermesh.services.handlers.channels import (
    MARKETPLACE_TRAIL,
    OVERLAP,
    SETTLE,
    TRAIL_SETTING,
    ChannelSync,
)
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

    def record_success(
        self,
        account_id: str,
        *,
        cursor: datetime,
        at: datetime,
        marketplace_cursor: datetime | None = None,
    ) -> None:
        self.account = replace(
            self.account,
            cursor=max(cursor, self.account.cursor or cursor),
            marketplace_cursor=max(
                (t for t in (marketplace_cursor, self.account.marketplace_cursor) if t),
                default=None,
            ),
            last_error=None,
        )

    def record_failure(self, account_id: str, *, error: str, at: datetime) -> None:
        self.account = replace(self.account, last_error=error)

    def mark_needs_reauthorisation(self, account_id: str, *, reason: str, at: datetime) -> None:
        self.account = replace(
            self.account, status=AccountStatus.NEEDS_REAUTHORISATION, status_reason=reason
        )


class FakeConnector:
    channel = "amazon"

    def __init__(
        self,
        pages: list[ChangesPage],
        then: Exception | None = None,
        *,
        reads_by_fulfilment: bool = False,
    ) -> None:
        self.pages, self.then = pages, then
        self.reads_by_fulfilment = reads_by_fulfilment
        self.windows: list[tuple[datetime, datetime]] = []
        self.reads: list[tuple[FulfilledBy | None, datetime, datetime]] = []

    def changed_orders(
        self, since: datetime, until: datetime, *, fulfilled_by: FulfilledBy | None = None
    ) -> Iterator[ChangesPage]:
        self.windows.append((since, until))
        self.reads.append((fulfilled_by, since, until))
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


# -- FBA orders read apart, behind the merchant's ----------------------------------------------

MERCHANT, MARKETPLACE = FulfilledBy.MERCHANT, FulfilledBy.MARKETPLACE
UNTIL = NOW - SETTLE


def _splitting(marketplace_cursor: datetime | None, **settings: Any) -> FakeAccounts:
    accounts = FakeAccounts()
    accounts.account = replace(
        accounts.account, marketplace_cursor=marketplace_cursor, settings=settings
    )
    return accounts


def _run(accounts: FakeAccounts, connector: FakeConnector, **options: Any) -> Any:
    return ChannelSync(accounts, lambda a: connector, lambda c: ImportResult(), FixedClock()).sync(
        SyncChannel("cha_1"), **options
    )


def test_fba_orders_are_read_apart_and_a_trail_behind_the_merchant_orders() -> None:
    connector = FakeConnector([], reads_by_fulfilment=True)
    accounts = _splitting(NOW - timedelta(hours=3))

    report = _run(accounts, connector)

    assert connector.reads == [
        (MERCHANT, CURSOR - OVERLAP, UNTIL),
        (MARKETPLACE, NOW - timedelta(hours=3) - OVERLAP, UNTIL - MARKETPLACE_TRAIL),
    ]
    assert accounts.account.cursor == UNTIL
    assert accounts.account.marketplace_cursor == UNTIL - MARKETPLACE_TRAIL
    assert report.marketplace_until == UNTIL - MARKETPLACE_TRAIL


def test_the_first_split_sync_pins_the_fba_cursor_where_everything_was_in() -> None:
    # The cursor is an hour back: the trailing read has nothing to read before 92.5 minutes
    # back, and starts at the old cursor once it has, so no FBA change falls between.
    connector = FakeConnector([], reads_by_fulfilment=True)
    accounts = _splitting(None)

    _run(accounts, connector)

    assert connector.reads == [(MERCHANT, CURSOR - OVERLAP, UNTIL)]
    assert accounts.account.cursor == UNTIL
    assert accounts.account.marketplace_cursor == CURSOR


def test_fba_orders_are_read_a_span_at_a_time_once_it_lies_behind_the_trail() -> None:
    mark = UNTIL - MARKETPLACE_TRAIL - timedelta(minutes=40)
    span = timedelta(minutes=30)

    connector = FakeConnector([], reads_by_fulfilment=True)
    accounts = _splitting(mark)
    _run(accounts, connector, marketplace_span=span)
    assert connector.reads[1] == (MARKETPLACE, mark - OVERLAP, mark + span), (
        "the span the cadence sized, not all there is"
    )
    assert accounts.account.marketplace_cursor == mark + span

    connector = FakeConnector([], reads_by_fulfilment=True)
    _run(accounts, connector, marketplace_span=span)
    assert [r[0] for r in connector.reads] == [MERCHANT], "10 minutes there: not a span yet"
    assert accounts.account.marketplace_cursor == mark + span


def test_fba_orders_far_behind_are_caught_up_in_one_read() -> None:
    mark = UNTIL - MARKETPLACE_TRAIL - timedelta(hours=3)
    connector = FakeConnector([], reads_by_fulfilment=True)
    accounts = _splitting(mark)

    _run(accounts, connector, marketplace_span=timedelta(minutes=30))

    assert connector.reads[1] == (MARKETPLACE, mark - OVERLAP, UNTIL - MARKETPLACE_TRAIL)


def test_a_failed_fba_read_moves_neither_cursor() -> None:
    connector = FakeConnector([], then=ChannelError("searchOrders failed (503)"))
    connector.reads_by_fulfilment = True
    accounts = _splitting(NOW - timedelta(hours=3))

    report = _run(accounts, connector)

    assert report.status == "failed"
    assert accounts.account.cursor == CURSOR
    assert accounts.account.marketplace_cursor == NOW - timedelta(hours=3)


def test_reading_them_together_again_starts_from_the_trailing_cursor() -> None:
    connector = FakeConnector([], reads_by_fulfilment=True)
    accounts = _splitting(NOW - timedelta(hours=3), **{TRAIL_SETTING: 0})

    _run(accounts, connector)

    assert connector.reads == [(None, NOW - timedelta(hours=3) - OVERLAP, UNTIL)]
    assert accounts.account.cursor == accounts.account.marketplace_cursor == UNTIL


def test_a_channel_that_cannot_read_by_fulfilment_reads_everything_at_once() -> None:
    connector = FakeConnector([])
    accounts = _splitting(None)

    _run(accounts, connector)

    assert connector.reads == [(None, CURSOR - OVERLAP, UNTIL)]
    assert accounts.account.marketplace_cursor is None


class MovingClock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=3_600),
            st.one_of(st.none(), st.integers(min_value=60, max_value=7_200)),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_whatever_the_pace_no_change_falls_between_two_windows(steps) -> None:
    """Syncs at random gaps, the FBA read of any span or all there is, now and then a
    failure: every
    moment from the first cursor up to each cursor is inside some window that was read in
    full, for the merchant's orders and the FBA ones alike."""
    clock = MovingClock()
    accounts = FakeAccounts()
    start = accounts.account.cursor
    assert start is not None
    read: dict[FulfilledBy, list[tuple[datetime, datetime]]] = {MERCHANT: [], MARKETPLACE: []}
    for gap, span, fails in steps:
        clock.at += timedelta(seconds=gap)
        connector = FakeConnector(
            [], then=ChannelError("503") if fails else None, reads_by_fulfilment=True
        )
        ChannelSync(accounts, lambda a, c=connector: c, lambda c: ImportResult(), clock).sync(
            SyncChannel("cha_1"),
            marketplace_span=None if span is None else timedelta(seconds=span),
        )
        if not fails:
            for who, since, until in connector.reads:
                read[who or MERCHANT].append((since, until))
    cursors = {
        MERCHANT: accounts.account.cursor,
        MARKETPLACE: accounts.account.marketplace_cursor or accounts.account.cursor,
    }
    for who, windows in read.items():
        covered = start
        for since, until in sorted(windows):
            assert since <= covered, f"{who}: nothing read between {covered} and {since}"
            covered = max(covered, until)
        assert covered >= cursors[who]


def _changed_at(version: OrderVersion, at: datetime, key: str) -> OrderVersion:
    return replace(version, order=replace(version.order, updated_at=at), key=key)


def test_a_change_new_to_ordermesh_from_before_the_cursor_is_counted_as_shown_late() -> None:
    order = _version("123-4567890-1234567")
    repeat = _changed_at(order, CURSOR - timedelta(seconds=10), "repeat")
    late = _changed_at(order, CURSOR - timedelta(seconds=20), "late")
    fresh = _changed_at(order, CURSOR + timedelta(minutes=5), "fresh")
    connector = FakeConnector([ChangesPage((repeat, fresh, late))])
    accounts = FakeAccounts()

    def handle(command: Command) -> ImportResult:
        # The overlap's repeat is in the inbox already; the other two are new.
        assert isinstance(command, ImportOrders)
        known = sum(o.key == "repeat" for o in command.orders)
        return ImportResult(created=len(command.orders) - known, duplicates=known)

    report = ChannelSync(accounts, lambda a: connector, handle, FixedClock()).sync(
        SyncChannel("cha_1")
    )

    assert report.late == 1
    assert report.imported.created == 2
    assert report.imported.duplicates == 1
    assert accounts.account.cursor == NOW - SETTLE


def test_nothing_is_late_on_an_account_read_for_the_first_time() -> None:
    order = _version("123-4567890-1234567")
    connector = FakeConnector([ChangesPage((_changed_at(order, NOW - SETTLE - OVERLAP, "k"),))])
    accounts = FakeAccounts()
    accounts.account = replace(accounts.account, cursor=None)

    report = ChannelSync(
        accounts, lambda a: connector, lambda cmd: ImportResult(created=1), FixedClock()
    ).sync(SyncChannel("cha_1"))

    assert report.imported.created == 1
    assert report.late == 0


def test_a_span_of_a_fraction_of_a_second_ends_the_fba_window_on_a_whole_second() -> None:
    # The window's end goes on the wire in whole seconds; the cursor must say the same, or
    # an order at the second before it would seem to have been shown late.
    mark = UNTIL - MARKETPLACE_TRAIL - timedelta(minutes=40)
    connector = FakeConnector([], reads_by_fulfilment=True)
    accounts = _splitting(mark)

    _run(accounts, connector, marketplace_span=timedelta(seconds=1767.63))

    assert connector.reads[1] == (MARKETPLACE, mark - OVERLAP, mark + timedelta(seconds=1767))
    assert accounts.account.marketplace_cursor == mark + timedelta(seconds=1767)
