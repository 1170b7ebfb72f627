"""Managing channel accounts with fakes and no database: what a change may do to the status,
what a view shows of the credentials, and how close to now an account is read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ordermesh.domain.commands import SyncChannel
from ordermesh.domain.errors import ValidationFailed
from ordermesh.ports.channels import AccountStatus, ChangesPage, ChannelAccount
from ordermesh.services.channel_accounts import AccountChange, ChannelAccountDesk
from ordermesh.services.handlers.channels import SETTLE, ChannelSync

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


class FakeStore:
    def __init__(self, account: ChannelAccount) -> None:
        self.account = account

    def register(self, **kwargs: Any) -> ChannelAccount:
        raise AssertionError("not used here")

    def get(self, account_id: str) -> ChannelAccount:
        return self.account

    def list(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [{"id": self.account.id}]

    def change(
        self,
        account_id: str,
        *,
        name: str | None = None,
        settings: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        status: str | None = None,
    ) -> None:
        self.account = replace(
            self.account,
            name=name or self.account.name,
            settings=settings if settings is not None else self.account.settings,
            secrets=secrets if secrets is not None else self.account.secrets,
            status=status or self.account.status,
        )

    def orders_by_account(self) -> dict[str, int]:
        return {self.account.id: 4}

    # What the sync use case records.
    def record_success(
        self, account_id: str, *, cursor: datetime, at: datetime, marketplace_cursor: Any = None
    ) -> None:
        self.account = replace(self.account, cursor=cursor)

    def record_failure(self, account_id: str, *, error: str, at: datetime) -> None: ...
    def mark_needs_reauthorisation(self, account_id: str, *, reason: str, at: datetime) -> None: ...


class FakeRules:
    def check(self, channel: str, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        if not secrets.get("access_token"):
            raise ValidationFailed("a token is needed", field="secrets.access_token")

    def secret_names(self, channel: str) -> tuple[str, ...]:
        return ("access_token", "webhook_secret")

    def rate_limit_prefix(self, account: ChannelAccount) -> str | None:
        return None


class NoBudgets:
    def levels(self, prefix: str) -> list[dict[str, Any]]:
        return []


def a_shop(status: str = AccountStatus.ACTIVE, **settings: Any) -> ChannelAccount:
    return ChannelAccount(
        "cha_shop",
        "shopify",
        "Our shop",
        status,
        {"shop_domain": "our-shop.myshopify.com", **settings},
        {"access_token": "shpat_1"},
        cursor=NOW - timedelta(hours=1),
    )


def desk(account: ChannelAccount) -> tuple[ChannelAccountDesk, FakeStore]:
    store = FakeStore(account)
    return ChannelAccountDesk(store, FakeRules(), NoBudgets(), lambda _: [], FixedClock()), store


def test_a_view_says_which_credentials_are_set_and_never_what_they_are():
    view = desk(a_shop())[0].view("cha_shop")
    assert view["secrets"] == {"access_token": "set", "webhook_secret": "not set"}
    assert "shpat_1" not in repr(view)
    assert view["orders"] == 4


def test_rotating_one_credential_keeps_the_others_and_settings_merge():
    the_desk, store = desk(a_shop(admin_url="http://old"))
    the_desk.change(
        "cha_shop",
        AccountChange(settings={"admin_url": None}, secrets={"webhook_secret": "new"}),
    )
    assert store.account.secrets == {"access_token": "shpat_1", "webhook_secret": "new"}
    assert store.account.settings == {"shop_domain": "our-shop.myshopify.com"}


def test_a_paused_account_resumes_but_a_revoked_one_needs_new_authorisation():
    paused_desk, paused = desk(a_shop(AccountStatus.PAUSED))
    paused_desk.change("cha_shop", AccountChange(status=AccountStatus.ACTIVE))
    assert paused.account.status == AccountStatus.ACTIVE

    lost_desk, lost = desk(a_shop(AccountStatus.NEEDS_REAUTHORISATION))
    with pytest.raises(ValidationFailed) as refused:
        lost_desk.change("cha_shop", AccountChange(status=AccountStatus.ACTIVE))
    assert refused.value.field == "status"
    lost_desk.change("cha_shop", AccountChange(secrets={"access_token": "shpat_2"}))
    assert lost.account.status == AccountStatus.ACTIVE


class FakeConnector:
    channel = "shopify"
    reads_by_fulfilment = False

    def __init__(self) -> None:
        self.windows: list[tuple[datetime, datetime]] = []

    def changed_orders(
        self, since: datetime, until: datetime, *, fulfilled_by: object = None
    ) -> Iterator[ChangesPage]:
        self.windows.append((since, until))
        return iter(())


@pytest.mark.parametrize(("settings", "settle"), [({}, SETTLE), ({"sync_settle_seconds": 5}, timedelta(seconds=5))])  # fmt: skip
def test_an_account_may_be_read_closer_to_now_than_amazon_allows(settings, settle):
    store = FakeStore(a_shop(**settings))
    connector = FakeConnector()
    ChannelSync(store, lambda _: connector, lambda _: None, FixedClock()).sync(
        SyncChannel("cha_shop")
    )
    assert connector.windows[0][1] == NOW - settle
