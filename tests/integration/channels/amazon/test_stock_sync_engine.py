"""The stock-sync engine driving the real Amazon connector against the sandbox: a stock
movement reaches Amazon through a push round (urgent by patch, the rest by feed), and drift
made on Amazon's side is found by reconciliation and healed."""

from __future__ import annotations

from ordermesh.domain import commands as c
from ordermesh.services.stock_sync_jobs import StockSyncJobs
from tests.builders.catalogue import a_location, a_product, an_order, stock
from tests.integration.channels.amazon.conftest import AmazonSandbox, Seller


def listed(amazon: AmazonSandbox) -> dict[str, int]:
    return {item["sku"]: item["quantity"] for item in amazon.admin("GET", "/listings")["listings"]}


def requests(amazon: AmazonSandbox, operation: str) -> int:
    return int(amazon.stats()["requests"].get(operation, 0))


def engine(seller: Seller) -> StockSyncJobs:
    # The seller's channel adapters run on the sandbox's clock (their sleeps move it).
    return StockSyncJobs(
        seller.om.stock_sync, seller.channels.accounts, seller.channels.connectors, seller.om.clock
    )


def test_stock_reaches_amazon_and_drift_there_is_healed(seller: Seller, amazon: AmazonSandbox):
    om, account = seller.om, seller.account.id
    a_location(om, "WH1")
    for sku in ("SKU-0001", "SKU-0002", "SKU-0003"):
        a_product(om, sku)
        om.handle(c.UpsertListing(account, sku, sku))
        stock(om, sku, 12)
    jobs = engine(seller)

    first = jobs.push_round(account)
    assert first.drained.sent == 3
    assert {s: listed(amazon)[s] for s in ("SKU-0001", "SKU-0002", "SKU-0003")} == {
        "SKU-0001": 12,
        "SKU-0002": 12,
        "SKU-0003": 12,
    }
    patched = requests(amazon, "patchListingsItem")

    an_order(om, ("SKU-0002", 12))  # sold out: urgent
    assert jobs.push_round(account).drained.sent == 1
    assert listed(amazon)["SKU-0002"] == 0
    assert requests(amazon, "patchListingsItem") == patched + 1

    amazon.sandbox.state.set_mfn_quantity("SKU-0003", 40)  # someone edits Seller Central
    found = jobs.reconcile(account)
    assert (found.checked, found.drifted, found.healed, found.error) == (3, 1, 1, None)
    jobs.push_round(account)
    assert listed(amazon)["SKU-0003"] == 12
    assert jobs.reconcile(account).drifted == 0
    assert amazon.throttled() == 0
