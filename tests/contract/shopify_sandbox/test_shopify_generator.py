"""Simulated shoppers: deterministic under a seed, and honest about stock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from ordermesh.sandbox.shopify.config import LineCountWeights

from .conftest import RunningSandbox


def test_the_same_seed_gives_the_same_orders(start_sandbox: Callable[..., RunningSandbox]) -> None:
    one = start_sandbox(seed=11)
    two = start_sandbox(seed=11)

    one.admin("POST", "/generate", {"count": 25})
    two.admin("POST", "/generate", {"count": 25})

    assert one.admin("GET", "/orders") == two.admin("GET", "/orders")
    assert one.admin("GET", "/inventory") == two.admin("GET", "/inventory")


def test_another_seed_gives_other_orders(start_sandbox: Callable[..., RunningSandbox]) -> None:
    one = start_sandbox(seed=11)
    two = start_sandbox(seed=12)

    one.admin("POST", "/generate", {"count": 10})
    two.admin("POST", "/generate", {"count": 10})

    def skus(sandbox: RunningSandbox) -> list[list[str]]:
        return [[li["sku"] for li in o["line_items"]] for o in sandbox.admin("GET", "/orders")]

    assert skus(one) != skus(two)


def test_every_unit_sold_is_committed_at_the_shop(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    sandbox = start_sandbox(cancel_share=0.0, refund_share=0.0)
    before = {(s["sku"], s["location_id"]): s for s in sandbox.admin("GET", "/inventory")}

    sandbox.admin("POST", "/generate", {"count": 30})

    sold: Counter[str] = Counter()
    for order in sandbox.admin("GET", "/orders"):
        for line in order["line_items"]:
            sold[line["sku"]] += line["quantity"]
    after = sandbox.admin("GET", "/inventory")
    committed: Counter[str] = Counter()
    for level in after:
        key = (level["sku"], level["location_id"])
        assert level["on_hand"] == before[key]["on_hand"]
        assert level["available"] + level["committed"] == level["on_hand"]
        assert level["available"] >= 0
        committed[level["sku"]] += level["committed"]
    assert committed == sold


def test_the_mix_has_cancellations_refunds_and_unpaid_orders(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    sandbox = start_sandbox(cancel_share=0.2, refund_share=0.2, pending_share=0.2)

    sandbox.admin("POST", "/generate", {"count": 40})

    stats = sandbox.admin("GET", "/stats")
    assert stats["orders"] == 40
    assert stats["orders_cancelled"] > 0
    assert stats["orders_refunded"] > 0
    assert stats["orders_pending"] > 0
    statuses = {o["financial_status"] for o in sandbox.admin("GET", "/orders")}
    assert {"paid", "pending"} <= statuses


def test_the_line_count_distribution_is_followed(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    sandbox = start_sandbox(line_counts=LineCountWeights((0.0, 0.0, 1.0)), cancel_share=0.0)

    sandbox.admin("POST", "/generate", {"count": 5})

    assert {len(o["line_items"]) for o in sandbox.admin("GET", "/orders")} == {3}


def test_orders_arrive_at_the_configured_rate(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    sandbox = start_sandbox(orders_per_minute=6.0)

    sandbox.advance(30)
    first = sandbox.admin("POST", "/generator/tick")["order_ids"]
    sandbox.advance(5)
    second = sandbox.admin("POST", "/generator/tick")["order_ids"]
    sandbox.advance(5)
    third = sandbox.admin("POST", "/generator/tick")["order_ids"]

    assert (len(first), len(second), len(third)) == (3, 0, 1)


def test_generation_stops_when_the_shop_is_sold_out(
    start_sandbox: Callable[..., RunningSandbox],
) -> None:
    sandbox = start_sandbox(demo_catalogue=False, cancel_share=0.0, refund_share=0.0)
    location = sandbox.admin("POST", "/locations", {"name": "Only Shelf"})["id"]
    sandbox.admin(
        "POST",
        "/products",
        {
            "title": "Last Lamp",
            "variants": [{"sku": "LAMP", "price": "30", "stock": {location: 2}}],
        },
    )

    placed = sandbox.admin("POST", "/generate", {"count": 5})["order_ids"]

    assert 1 <= len(placed) <= 2
    [level] = sandbox.admin("GET", "/inventory")
    assert level["available"] == 0
