"""The flash sale's results as a seller reads them: a JSON file, a table and a bar chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rich.table import Table


def write_json(result: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return path


def table(result: dict[str, Any]) -> Table:
    scenario = result["scenario"]
    found = Table(
        title=(
            f"Flash sale: {scenario['skus']} SKUs, {scenario['units']} units, "
            f"{scenario['shoppers']} shoppers over {scenario['minutes']:g} min, seed {scenario['seed']}"
        )
    )
    for column in ("mode", "orders", "oversells", "per 1,000 orders", "amazon", "shopify"):
        found.add_column(column, justify="left" if column == "mode" else "right")
    for mode, row in result["modes"].items():
        by_channel = row.get("oversells_by_channel", {})
        found.add_row(
            mode,
            str(row["orders"]),
            str(row["oversells"]) + ("" if row.get("settled", True) else " *"),
            f"{row['oversells_per_1000']:.1f}",
            str(by_channel.get("amazon", "")),
            str(by_channel.get("shopify", "")),
        )
    verdict = result.get("verdict", {})
    times = verdict.get("realtime_times_fewer_than_interval_900")
    found.caption = (
        f"real time vs 15-minute interval: {'—' if times is None else times}× "
        f"fewer (goal ≥ 50×: {_yes(verdict.get('goal_50x_met'))}); "
        f"fewer than the 60-second interval: {_yes(verdict.get('fewer_than_interval_60'))}"
        + (
            "\n* not every order was imported in time: counted from the channels' ground truth"
            if any(not r.get("settled", True) for r in result["modes"].values())
            else ""
        )
    )
    return found


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def plot(result: dict[str, Any], path: Path) -> Path | None:
    """A bar chart of oversells per 1,000 orders by mode; None when matplotlib is missing
    (it is a development dependency)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    modes = list(result["modes"])
    rates = [result["modes"][m]["oversells_per_1000"] for m in modes]
    figure, axes = plt.subplots(figsize=(7, 4))
    bars = axes.bar(
        modes, rates, color=["#2a9d8f" if m == "realtime" else "#e76f51" for m in modes]
    )
    axes.bar_label(bars, labels=[f"{r:.1f}" for r in rates])
    axes.set_ylabel("oversells per 1,000 orders")
    scenario = result["scenario"]
    axes.set_title(
        f"Flash sale, {scenario['skus']} SKUs × {scenario['minutes']:g} min: "
        "orders the channels took for stock that was gone"
    )
    axes.title.set_fontsize(9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
