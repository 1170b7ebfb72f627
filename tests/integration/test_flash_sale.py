"""The flash-sale harness on toy sales: the oversell count is right, real time stops the second
channel selling the last unit, and a run of several modes side by side writes every figure.

Amazon's sandbox releases orders after 1 s and lets searches see them after 1 s here (instead
of Amazon's minutes), so that ordermesh has imported every order within seconds of the sale."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ordermesh.simulation import flash_sale, report
from ordermesh.simulation.flash_sale import Arrival, Scenario

FAST_AMAZON = {
    "amazon_pending_seconds": 1.0,
    "amazon_visibility_lag_seconds": 1.0,
    "settle_seconds": 60.0,
}


def a_sale(stock: dict[str, int], *arrivals: tuple[float, str, str], seconds: float) -> Scenario:
    return Scenario(
        minutes=seconds / 60.0,
        fixed_stock=tuple(stock.items()),
        fixed_arrivals=tuple(Arrival(at, channel, sku) for at, channel, sku in arrivals),
        **FAST_AMAZON,
    )


@pytest.mark.slow
def test_last_unit_sold_on_both_channels_between_interval_pushes_is_one_oversell(
    tmp_path: Path,
) -> None:
    sale = a_sale(
        {"LAST-1": 1, "PAIR-2": 2, "ONE-3": 1},
        (0.3, "amazon", "LAST-1"),
        (0.6, "shopify", "LAST-1"),
        (0.9, "amazon", "PAIR-2"),
        (1.2, "shopify", "PAIR-2"),
        (1.5, "shopify", "ONE-3"),
        seconds=3.0,
    )

    found = flash_sale.run_mode(sale, "interval-900", str(tmp_path), say=lambda _: None)

    assert found["settled"], "every accepted order was imported and allocated or backordered"
    assert found["orders"] == 5
    assert found["orders_by_channel"] == {"amazon": 2, "shopify": 3}
    assert found["oversells"] == 1
    assert found["oversells_channel_truth"] == 1
    assert found["oversells_per_1000"] == 200.0
    assert found["counted_by"] == "ordermesh backorders"
    assert found["pushes_on_change"] == 0, "an interval mode never pushes on change"


@pytest.mark.slow
def test_real_time_push_stops_the_other_channel_selling_the_last_unit(tmp_path: Path) -> None:
    sale = a_sale(
        {"LAST-1": 1, "MANY-2": 3},
        (0.3, "shopify", "LAST-1"),
        (0.5, "shopify", "MANY-2"),
        # Seconds later: time enough for the webhook, the import and the push to Amazon.
        (8.0, "amazon", "LAST-1"),
        (8.2, "amazon", "MANY-2"),
        seconds=9.0,
    )

    found = flash_sale.run_mode(sale, "realtime", str(tmp_path), say=lambda _: None)

    assert found["refused_by_channel"] == {"amazon": 1, "shopify": 0}, found
    assert found["orders"] == 3
    assert found["oversells"] == 0
    assert found["push_failures"] == 0, found["push_failure_examples"]
    assert found["pushes_on_change"] >= 2, "Shopify's two sales went to Amazon"


@pytest.mark.slow
def test_modes_run_side_by_side_and_every_figure_is_written(tmp_path: Path) -> None:
    sale = Scenario(minutes=0.1, skus=12, seed=3, demand=2.0, **FAST_AMAZON)

    found = flash_sale.run(sale, ["realtime", "interval-60"], folder=tmp_path, say=lambda _: None)
    written = report.write_json(found, tmp_path / "flash.json")
    picture = report.plot(found, tmp_path / "flash.png")

    stored = orjson.loads(written.read_bytes())
    assert set(stored["modes"]) == {"realtime", "interval-60"}
    shoppers = len(sale.arrivals())
    for mode in stored["modes"].values():
        assert {"orders", "oversells", "oversells_per_1000"} <= set(mode)
        assert 0 < mode["orders"] <= shoppers
        assert mode["oversells"] == mode["oversells_channel_truth"]
        assert mode["oversells_per_1000"] == pytest.approx(
            1000 * mode["oversells"] / mode["orders"], abs=0.01
        )
    assert stored["scenario"]["shoppers"] == shoppers
    assert picture is not None
    assert picture.stat().st_size > 0
    assert report.table(found).row_count == 2


def test_the_same_seed_brings_the_same_shoppers_to_every_mode() -> None:
    sale = Scenario(minutes=10.0, skus=200, seed=7)

    first, again = sale.arrivals(), Scenario(minutes=10.0, skus=200, seed=7).arrivals()
    other = Scenario(minutes=10.0, skus=200, seed=8).arrivals()

    assert first == again
    assert first != other
    assert all(0 <= a.at < 600 for a in first)
    # Poisson arrivals at `demand` orders per unit on each channel over the sale.
    units = sum(sale.stock().values())
    assert 2 * units * 0.85 < len(first) < 2 * units * 1.15
    assert set(sale.stock().values()) <= {1, 2, 3, 4, 5}


def test_a_mode_is_realtime_or_an_interval_in_seconds() -> None:
    assert flash_sale.interval_of("realtime") is None
    assert flash_sale.interval_of("interval-300") == 300.0
    for wrong in ("interval-", "interval-0", "every-60", "interval-1.5"):
        with pytest.raises(ValueError, match="unknown mode"):
            flash_sale.interval_of(wrong)


def test_each_oversold_order_is_timed_from_the_sale_that_took_the_last_unit() -> None:
    stock = {"A": 1, "B": 2}
    sales = [
        (10.0, "shopify", "A"),  # the last unit of A
        (12.5, "amazon", "A"),  # 2.5 s later Amazon still showed it
        (20.0, "amazon", "B"),
        (21.0, "shopify", "B"),  # B gone
        (30.0, "amazon", "B"),  # 9 s late
        (31.0, "amazon", "B"),  # 10 s late
    ]

    found = flash_sale.oversell_delays(stock, sales)

    assert found == {
        "amazon": {"oversells": 3, "median_seconds": 9.0, "p90_seconds": 10.0},
    }
