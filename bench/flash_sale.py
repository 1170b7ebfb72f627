"""`python -m bench --only flash-sale`: real-time stock sync against interval sync in a
simulated flash sale (the harness itself is `ordermesh.simulation.flash_sale`, which the CLI's
`ordermesh simulate flash-sale` runs too).

Full size: 1,000 SKUs with 1–5 units each on Amazon and Shopify sandboxes with their real rate
limits, 10 minutes, the four modes one after another (about 55 minutes). Quick: 40 SKUs for 12 seconds, where Amazon's
orders cannot even be imported yet (its searches lag two minutes), so the count comes from the
channels' ground truth: a smoke test of the harness, not a figure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from ordermesh.simulation import flash_sale, report

NAME = "flash-sale"
FULL = flash_sale.Scenario(minutes=10.0, skus=1000)
QUICK = flash_sale.Scenario(minutes=0.2, skus=40, demand=1.5, settle_seconds=5.0)
GOAL = (
    "real time ≥ 50× fewer oversells per 1,000 orders than interval-900, and fewer than interval-60"
)


def run(quick: bool, folder: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """The bench-suite result for the flash sale; draws the plot beside the JSON."""
    scenario = QUICK if quick else FULL
    found = flash_sale.run(scenario, flash_sale.MODES, say=say)
    picture = report.plot(found, folder / f"{NAME}.png")
    Console(width=max(Console().width, 120)).print(report.table(found))
    verdict = found["verdict"]
    met = (
        None
        if verdict["goal_50x_met"] is None or verdict["fewer_than_interval_60"] is None
        else bool(verdict["goal_50x_met"] and verdict["fewer_than_interval_60"])
    )
    return {
        "name": NAME,
        "size": "quick" if quick else "full",
        "parameters": found["scenario"],
        "figures": [
            {"mode": mode, **{k: v for k, v in row.items() if k != "mode"}}
            for mode, row in found["modes"].items()
        ],
        "verdict": verdict,
        "plot": None if picture is None else str(picture),
        "seconds": found["seconds"],
        "skipped": {},
        "goal": GOAL,
        "met": met,
    }
