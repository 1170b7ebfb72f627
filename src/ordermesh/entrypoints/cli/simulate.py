"""`ordermesh simulate flash-sale`: real-time stock sync against interval sync, on sandboxes."""

from __future__ import annotations

from pathlib import Path

import typer

from ordermesh.entrypoints.cli.context import fail, out
from ordermesh.simulation import flash_sale, report

app = typer.Typer(help="Simulated sales against the sandboxed channels.", no_args_is_help=True)


@app.command("flash-sale")
def simulate_flash_sale(
    out_file: Path = typer.Option(..., "--out", help="Where the JSON results go (a PNG beside)."),
    minutes: float = typer.Option(10.0, "--minutes", min=0.05, help="How long the sale lasts."),
    seed: int = typer.Option(1, "--seed", help="Same seed, same stock and same shoppers."),
    modes: str = typer.Option(
        ",".join(flash_sale.MODES),
        "--modes",
        help="Comma-separated: realtime and/or interval-<seconds>.",
    ),
    skus: int = typer.Option(1000, "--skus", min=1),
    settle_seconds: float = typer.Option(
        600.0,
        "--settle-seconds",
        min=0,
        help="After the sale, how long ordermesh may take to import every order (Amazon shows "
        "them minutes late); past it, oversells are counted from the channels' ground truth.",
    ),
    parallel: int = typer.Option(
        1,
        "--parallel",
        min=1,
        help="Modes run at once. More is quicker, but modes sharing the cores slow each "
        "other's ordermesh: only one at a time gives figures to compare.",
    ),
) -> None:
    """Sell scarce stock on Amazon and Shopify at once and count the oversells of each way of
    syncing stock. Each mode runs on its own sandboxes and database, one after another."""
    chosen = [m.strip() for m in modes.split(",") if m.strip()]
    try:
        for mode in chosen:
            flash_sale.interval_of(mode)
    except ValueError as refused:
        fail(str(refused))
    console = out()
    result = flash_sale.run(
        flash_sale.Scenario(minutes=minutes, seed=seed, skus=skus, settle_seconds=settle_seconds),
        chosen,
        say=lambda line: console.print(line, highlight=False),
        parallel=parallel,
    )
    written = report.write_json(result, out_file)
    picture = report.plot(result, out_file.with_suffix(".png"))
    console.print(report.table(result))
    console.print(
        f"results: {written}"
        + (f", plot: {picture}" if picture else " (install matplotlib for the plot)")
    )
