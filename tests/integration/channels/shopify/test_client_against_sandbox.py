"""Against a sandboxed shop's real cost bucket: paced, never throttled; faults ridden out; a shop
that stays down shows as failing on its account."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import stamina

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.commands import SyncChannel
from ordermesh.ports.channels import NeedsReauthorisation
from ordermesh.services.handlers.channels import ChannelSync

from .conftest import Shop, wire

EVERYTHING = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))


@pytest.fixture(autouse=True)
def no_backoff_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=5):
        yield


def test_a_long_poll_is_paced_so_the_shop_never_throttles_it(
    start_shop: Callable[..., Shop],
) -> None:
    shop = start_shop(bucket_size=1000.0, restore_rate=50.0)
    shop.admin("POST", "/generate", {"count": 80})
    connector = shop.connector()

    pages = list(connector.changed_orders(*EVERYTHING))

    assert sum(len(p.orders) for p in pages) == 80
    assert connector.client.throttled == 0
    assert shop.admin("GET", "/stats")["throttled"] == 0
    assert shop.slept, "with a 1,000-point bucket the pages must have waited for it"


def test_throttled_answers_are_waited_out(shop: Shop) -> None:
    shop.admin("POST", "/generate", {"count": 3})
    shop.admin("POST", "/faults", {"graphql_throttle": 2})
    connector = shop.connector()

    pages = list(connector.changed_orders(*EVERYTHING))

    assert sum(len(p.orders) for p in pages) == 3
    assert connector.client.throttled == 2


def test_server_errors_are_retried(shop: Shop) -> None:
    shop.admin("POST", "/generate", {"count": 3})
    shop.admin("POST", "/faults", {"graphql_server_error": 2, "graphql_server_error_status": 502})
    connector = shop.connector()

    pages = list(connector.changed_orders(*EVERYTHING))

    assert sum(len(p.orders) for p in pages) == 3
    assert connector.client.requests == 3


def test_a_shop_that_stays_down_shows_as_failing_and_keeps_its_window(
    om: Ordermesh, shop: Shop
) -> None:
    wired = wire(om, shop)
    shop.admin("POST", "/generate", {"count": 2})
    shop.admin("POST", "/faults", {"graphql_server_error": 5})
    sync = ChannelSync(wired.accounts, shop.connector, om.handle, om.clock)

    report = sync.sync(SyncChannel(wired.account.id))

    assert report.status == "failed"
    account = wired.accounts.get(wired.account.id)
    assert "HTTP 503" in (account.last_error or "")
    assert account.cursor == wired.account.cursor
    assert wired.orders() == {}

    recovered = sync.sync(SyncChannel(wired.account.id))
    assert recovered.status == "synced"
    assert len(wired.orders()) == 2
    assert wired.accounts.get(wired.account.id).last_error is None


def test_an_uninstalled_app_asks_the_seller_to_authorise_again(shop: Shop) -> None:
    shop.admin("POST", "/app/uninstall")
    connector = shop.connector()

    with pytest.raises(NeedsReauthorisation):
        list(connector.changed_orders(*EVERYTHING))


def test_the_window_is_respected(shop: Shop) -> None:
    early = shop.admin("POST", "/generate", {"count": 2})["order_ids"]
    shop.advance(600)
    late = shop.admin("POST", "/generate", {"count": 2})["order_ids"]
    start = shop.now() - timedelta(seconds=1)

    pages = list(shop.connector().changed_orders(start, shop.now() + timedelta(seconds=1)))

    seen = {v.order.channel_order_id for p in pages for v in p.orders}
    assert seen == {str(i) for i in late}
    assert not seen & {str(i) for i in early}


def test_an_order_with_many_lines_is_read_whole(shop: Shop) -> None:
    skus = sorted({level["sku"] for level in shop.admin("GET", "/inventory")})[:9]
    order = shop.admin("POST", "/orders", {"lines": [{"sku": s, "quantity": 1} for s in skus]})

    pages = list(shop.connector().changed_orders(*EVERYTHING))

    [version] = [v for p in pages for v in p.orders]
    assert version.order.channel_order_id == str(order["id"])
    assert sorted(line.channel_sku for line in version.order.lines) == skus
