"""The stock-latency benchmark at toy size: every stock count shows on Shopify within seconds,
each row carries its figures, and the cost is counted at the sandboxes."""

from __future__ import annotations

import pytest
from bench import stock_latency


@pytest.mark.slow
def test_each_stock_count_shows_on_shopify_and_its_latency_is_measured() -> None:
    size = stock_latency.Size(
        "toy", listings=40, per_second=5.0, seconds=3.0, urgent_share=0.3, grace_seconds=15.0
    )

    found = stock_latency.measure(size, say=lambda _: None)

    rows = {(r["channel"], r["changes_kind"]): r for r in found["rows"]}
    assert set(rows) == {
        ("shopify", "all"),
        ("shopify", "urgent"),
        ("amazon", "urgent"),
        ("amazon", "bulk"),
        ("amazon", "all"),
    }
    shopify = rows[("shopify", "all")]
    assert found["changes"] == shopify["changes"] == 15
    assert shopify["not_visible"] == 0
    assert shopify["visible"] + shopify["superseded"] == 15
    assert 0 <= shopify["p50_s"] <= shopify["p99_s"] <= shopify["max_s"] < 15
    assert shopify["reverted"] == 0, "a compare-and-set channel never shows an older figure"
    assert shopify["exposure_p99_s"] == shopify["p99_s"]
    amazon = rows[("amazon", "all")]
    assert (
        amazon["changes"]
        == rows[("amazon", "urgent")]["changes"] + rows[("amazon", "bulk")]["changes"]
    )
    cost = found["cost_per_1000_changes"]
    assert cost["shopify_calls"] > 0
    assert cost["shopify_query_cost"] > 0
    assert cost["sp_api_calls"].get("patchListingsItem", 0) > 0
