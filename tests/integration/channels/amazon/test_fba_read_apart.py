"""FBA orders read apart from the seller's own, behind them, once Amazon has shipped them:
over HTTP against the Amazon sandbox, as the account is set up by default."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from ordermesh.adapters.db import tables as t
from ordermesh.services.handlers.channels import MARKETPLACE_TRAIL, SETTLE, TRAIL_SETTING
from tests.integration.channels.amazon.conftest import AmazonSandbox, Seller

SYNC_EVERY = 600.0
"""The worker's longest wait between two syncs of a busy account."""


def _versions_read(seller: Seller) -> Counter[str]:
    """How many versions of each order came in through the inbox."""
    with seller.om.db.reader.connect() as conn:
        keys = conn.execute(select(t.inbox.c.key).where(t.inbox.c.source.like("amazon:%")))
        return Counter(key.split("@", 1)[0] for (key,) in keys)


def test_fba_orders_come_in_once_already_shipped_and_the_merchant_ones_at_once(
    seller_factory, amazon: AmazonSandbox
) -> None:
    seller = seller_factory(fba_apart=True)
    merchant = amazon.place_orders(
        15, fulfillmentChannel="MFN", cancelWhilePending=False, buyerCancel=False
    )
    fba = amazon.place_orders(
        10, fulfillmentChannel="AFN", cancelWhilePending=False, buyerCancel=False
    )
    amazon.settle()

    first = seller.sync()

    assert first.status == "synced", first.error
    assert sorted(seller.orders()) == sorted(merchant), "the seller's own orders, at once"
    assert first.marketplace_until is None, "nothing of the FBA orders is due yet"

    # The worker goes on syncing while Amazon ships the FBA orders (an hour after release);
    # Amazon fails now and then on the way.
    amazon.arm("500", count=2)
    amazon.arm("truncated_json")
    amazon.arm("duplicate_page")
    waited = 0.0
    while waited < 3600 + MARKETPLACE_TRAIL.total_seconds() + SETTLE.total_seconds() + SYNC_EVERY:
        amazon.let_time_pass(SYNC_EVERY)
        waited += SYNC_EVERY
        seller.sync()

    assert amazon.stats()["faultsServed"] == {"500": 2, "truncated_json": 1, "duplicate_page": 1}
    seller.assert_in_step_with_amazon()
    ours = seller.orders()
    assert {ours[o]["status"] for o in fba} == {"shipped"}
    read = _versions_read(seller)
    assert all(read[o] == 1 for o in fba), ("each FBA order read once, after it shipped", read)
    assert all(read[o] == 1 for o in merchant), read
    account = seller.reload()
    assert account.marketplace_cursor is not None
    assert account.cursor is not None
    assert account.cursor - account.marketplace_cursor >= MARKETPLACE_TRAIL


def test_switching_back_to_one_read_brings_in_what_the_trailing_read_had_not_reached(
    seller_factory, amazon: AmazonSandbox
) -> None:
    seller = seller_factory(fba_apart=True)
    amazon.place_orders(4, fulfillmentChannel="MFN", cancelWhilePending=False, buyerCancel=False)
    amazon.settle()
    seller.sync()
    fba = amazon.place_orders(
        6, fulfillmentChannel="AFN", cancelWhilePending=False, buyerCancel=False
    )
    amazon.settle()
    seller.sync()
    assert not set(fba) & set(seller.orders())

    account = seller.reload()
    seller.channels.accounts.change(account.id, settings={**account.settings, TRAIL_SETTING: 0})
    together = seller.sync()

    assert together.status == "synced", together.error
    seller.assert_in_step_with_amazon()
