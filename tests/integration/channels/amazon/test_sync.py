"""A seller's Amazon orders flowing into ordermesh, over HTTP, against the Amazon sandbox."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ordermesh.adapters.db import tables as t
from ordermesh.ports.channels import AccountStatus
from ordermesh.services.handlers.channels import SETTLE
from tests.integration.channels.amazon.conftest import REFRESH_TOKEN, AmazonSandbox, Seller


def test_the_first_sync_brings_in_exactly_the_orders_amazon_has(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    amazon.place_orders(25)
    amazon.settle()

    report = seller.sync()

    assert report.status == "synced", report.error
    assert report.imported.created == 25
    assert report.pages == 3, "ten orders a page"
    seller.assert_in_step_with_amazon()
    account = seller.reload()
    assert account.cursor == report.until == (amazon.clock.now() - SETTLE).replace(microsecond=0)
    assert account.last_error is None


def test_syncing_again_changes_nothing_and_later_changes_follow(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    placed = amazon.place_orders(12, buyerCancel=False, cancelWhilePending=False)
    amazon.settle()
    seller.sync()

    again = seller.sync()

    assert again.status == "synced"
    assert (again.imported.created, again.imported.updated) == (0, 0)
    assert again.fetched == again.imported.duplicates, "an overlapping window is a no-op"

    amazon.admin("POST", f"/orders/{placed[0]}/cancel")
    amazon.let_time_pass(SETTLE.total_seconds() + 1)
    later = seller.sync()

    assert later.imported.updated == 1
    assert seller.orders()[placed[0]]["status"] == "cancelled"
    seller.assert_in_step_with_amazon()


def test_server_errors_timeouts_garbage_and_repeated_pages_lose_and_double_nothing(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    amazon.place_orders(40)
    amazon.settle()
    amazon.arm("500", count=2)
    amazon.arm("503")
    amazon.arm("timeout", delaySeconds=1.5)
    amazon.arm("truncated_json")
    amazon.arm("duplicate_page")
    amazon.arm("overlapping_page")

    report = seller.sync()

    assert report.status == "synced", report.error
    assert amazon.stats()["faultsServed"] == {
        "500": 2,
        "503": 1,
        "timeout": 1,
        "truncated_json": 1,
        "duplicate_page": 1,
        "overlapping_page": 1,
    }
    assert report.imported.created == 40
    assert report.imported.duplicates > 0, "the repeated orders were recognised"
    seller.assert_in_step_with_amazon()


def test_a_429_empties_the_bucket_and_the_sync_waits_instead_of_hammering(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    amazon.place_orders(5)
    amazon.settle()
    # Someone else (another app of the seller's) spends Amazon's whole searchOrders burst.
    token = amazon.http.post(
        "/auth/o2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": amazon.sandbox.config.client_id,
            "client_secret": amazon.sandbox.config.client_secret,
        },
    ).json()["access_token"]
    since = (amazon.clock.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    while (
        amazon.http.get(
            "/orders/2026-01-01/orders",
            params={"createdAfter": since},
            headers={"x-amz-access-token": token},
        ).status_code
        != 429
    ):
        pass
    throttled_before = amazon.throttled()

    report = seller.sync()

    assert report.status == "synced", report.error
    assert amazon.throttled() == throttled_before + 1, "one 429, then it waited for a token"
    seller.assert_in_step_with_amazon()


def test_a_normal_sync_of_a_big_backlog_draws_no_429(seller_factory, amazon: AmazonSandbox) -> None:
    seller = seller_factory(page_size=2)
    amazon.place_orders(50)
    amazon.settle()

    first = seller.sync()
    # Waiting for tokens moved the clock on; let the buckets refill and Amazon act on what
    # fell due meanwhile (it ships its FBA orders), then catch up with one more sync.
    amazon.let_time_pass(2 * 3600)
    amazon.let_time_pass(SETTLE.total_seconds() + 1)
    second = seller.sync()

    assert first.pages == 25, "more pages than Amazon's burst of 20"
    assert (first.status, second.status) == ("synced", "synced")
    assert first.until is not None
    assert amazon.clock.now() - first.until > timedelta(minutes=10)
    assert amazon.throttled() == 0
    assert "429" not in amazon.stats()["statuses"]["searchOrders"]
    seller.assert_in_step_with_amazon()


def test_a_window_that_fails_is_read_again_next_time(seller: Seller, amazon: AmazonSandbox) -> None:
    amazon.place_orders(15)
    amazon.settle()
    cursor = seller.reload().cursor
    amazon.arm("500", count=100)

    failed = seller.sync()

    assert failed.status == "failed"
    assert "500" in (failed.error or "")
    assert "InternalFailure" in (failed.error or "")
    account = seller.reload()
    assert account.cursor == cursor, "the cursor did not move"
    assert account.status == AccountStatus.ACTIVE
    assert account.last_error == failed.error

    amazon.admin("DELETE", "/faults")
    recovered = seller.sync()

    assert recovered.status == "synced"
    assert seller.reload().last_error is None
    seller.assert_in_step_with_amazon()


def test_a_body_that_is_not_json_is_reported_with_what_came_back(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    amazon.place_orders(3)
    amazon.settle()
    amazon.arm("truncated_json", count=100)

    report = seller.sync()

    assert report.status == "failed"
    assert "not JSON" in (report.error or "")
    assert 'began \'{"orders":' in (report.error or "")


def test_a_revoked_authorisation_stops_the_account_until_the_seller_authorises_again(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    amazon.place_orders(4)
    amazon.settle()
    assert seller.sync().status == "synced"
    amazon.admin("POST", "/revoke", json={})

    report = seller.sync()

    assert report.status == AccountStatus.NEEDS_REAUTHORISATION
    account = seller.reload()
    assert account.status == AccountStatus.NEEDS_REAUTHORISATION
    assert "invalid_grant" in (account.status_reason or "")

    calls = amazon.stats()["requests"]
    skipped = seller.sync()
    assert skipped.status == "skipped", "no crash loop: the account waits for the seller"
    assert amazon.stats()["requests"] == calls, "not a single call to Amazon"

    amazon.admin("POST", "/restore", json={})
    seller.channels.accounts.update_credentials(
        seller.account.id,
        {"lwa_client_secret": amazon.sandbox.config.client_secret, "refresh_token": REFRESH_TOKEN},
    )
    amazon.place_orders(2)
    amazon.settle()
    assert seller.sync().status == "synced"
    seller.assert_in_step_with_amazon()


def test_one_access_token_serves_many_syncs_until_it_is_about_to_expire(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    amazon.place_orders(3)
    amazon.settle()

    seller.sync()
    amazon.let_time_pass(600)
    seller.sync()
    assert amazon.stats()["accessTokensIssued"] == 1

    amazon.let_time_pass(3600 - 600 - 60)
    seller.sync()
    assert amazon.stats()["accessTokensIssued"] == 2, "renewed a minute before expiry"


def test_credentials_are_sealed_at_rest_and_useless_under_another_key(
    seller_factory, amazon: AmazonSandbox, om
) -> None:
    seller = seller_factory()
    with om.db.reader.connect() as conn:
        row = conn.execute(
            select(t.channel_accounts).where(t.channel_accounts.c.id == seller.account.id)
        ).one()
    assert REFRESH_TOKEN not in row.secrets
    assert amazon.sandbox.config.client_secret not in row.secrets
    assert "refresh" not in str(row.settings)
    assert seller.reload().secrets["refresh_token"] == REFRESH_TOKEN

    from ordermesh.adapters.channels import channel_adapters
    from ordermesh.domain.commands import SyncChannel
    from ordermesh.services.handlers.channels import ChannelSync

    elsewhere = channel_adapters(om.db, amazon.clock, "a-different-secret-key-entirely-0123456789")
    try:
        syncer = ChannelSync(elsewhere.accounts, elsewhere.connectors, om.handle, amazon.clock)
        report = syncer.sync(SyncChannel(seller.account.id))
    finally:
        elsewhere.close()
    assert report.status == AccountStatus.NEEDS_REAUTHORISATION
    assert "ORDERMESH_SECRET_KEY" in (report.error or "")


def test_a_change_amazon_shows_late_is_still_caught_by_the_overlap(
    seller: Seller, amazon: AmazonSandbox
) -> None:
    placed = amazon.place_orders(6, buyerCancel=False, cancelWhilePending=False)
    amazon.settle()
    seller.sync()
    # Amazon's replicas sometimes show a change minutes after it happened.
    amazon.admin("POST", "/faults", json={"kind": "late_update", "count": 1, "delaySeconds": 240})
    amazon.admin("POST", f"/orders/{placed[2]}/cancel")
    amazon.let_time_pass(SETTLE.total_seconds() + 1)

    missed = seller.sync()

    assert missed.imported.updated == 0, "not visible yet, though inside the window"
    amazon.let_time_pass(240)
    caught = seller.sync()
    assert caught.imported.updated == 1
    assert seller.orders()[placed[2]]["status"] == "cancelled"
    seller.assert_in_step_with_amazon()
