"""`ordermesh stock explain|drift|sync-status|reconcile`: why a listing shows its figure, and
how the pushes to each channel stand."""

from __future__ import annotations

from typing import Any

import orjson
import typer
from rich.table import Table

from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.cli.context import fail, ordermesh, out
from ordermesh.services.stock_sync_views import drift_view, figure_view, health_view

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _dump(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _n(value: Any) -> str:
    return "" if value is None else str(value)


def explain(
    account: str = typer.Argument(..., metavar="ACCOUNT", help="Channel account id or name."),
    channel_sku: str = typer.Argument(..., metavar="CHANNEL_SKU"),
    as_json: bool = JSON,
) -> None:
    """How a listing's available-to-sell figure was computed, and where its push stands."""
    with ordermesh() as om:
        try:
            view = figure_view(
                om.stock_sync.explain(om.stock_sync_jobs.resolve(account), channel_sku)
            )
        except DomainError as exc:
            fail(exc.message)
    if as_json:
        _dump(view)
        return
    console = out()
    console.print(
        f"[bold]{view['channel_sku']}[/] on {view['channel_account']} (SKU {view['sku']}): "
        f"[bold]{view['available_to_sell']}[/] available to sell"
    )
    table = Table("SKU", "location", "on hand", "reserved", "free", title="Serving locations")
    for f in view["locations"]:
        table.add_row(
            f["sku"], f["location"], str(f["on_hand"]), str(f["reserved"]), str(f["available"])
        )
    console.print(table)
    for part in view["components"]:
        console.print(
            f"component {part['sku']}: {part['available']} free, {part['per_kit']} per kit → {part['kits']} kits"
        )
    buffer, margin = view["buffer"], view["in_flight_margin"]
    console.print(
        f"free {view['free']} "
        + (f"− pending orders {view['pending_orders']} " if view["pending_orders"] else "")
        + f"− buffer {buffer['units_held']} "
        f"({buffer['units']} units + {buffer['percent']} %, {buffer['source']})"
        + (f", capped at {view['max_quantity']}" if view["max_quantity"] is not None else "")
        + (f" − in-flight margin {margin['units_held']}" if margin["units_held"] else "")
    )
    for note in view["notes"]:
        console.print(f"• {note}")
    push = view["push"]
    console.print(
        f"push: queued {_n(push['queued'])}, confirmed by the channel {_n(push['confirmed'])}, "
        f"status {push['status'] or 'never queued'}"
        + (" (urgent)" if push["urgent"] else "")
        + (f", last error: {push['last_error']}" if push["last_error"] else "")
    )


def drift(
    account: str | None = typer.Option(None, "--account", "-a", help="Channel account id or name."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
    as_json: bool = JSON,
) -> None:
    """What the last reconciliation of each channel found: listings whose channel showed
    another figure than ordermesh's."""
    with ordermesh() as om:
        account_id = om.stock_sync_jobs.resolve(account) if account else None
        view = drift_view(om.stock_sync.drift_report(account_id, limit))
    if as_json:
        _dump(view)
        return
    console = out()
    runs = Table(
        "account", "checked at", "listings checked", "drifted", "error", title="Reconciliations"
    )
    for r in view["accounts"]:
        runs.add_row(
            r["channel_account"],
            _n(r["checked_at"]),
            str(r["checked"]),
            str(r["drifted"]),
            _n(r["error"]),
        )
    console.print(runs)
    found = Table("found at", "account", "channel SKU", "SKU", "ours", "theirs", title="Drift")
    for d in view["drift"]:
        found.add_row(
            _n(d["found_at"]),
            d["channel_account"],
            d["channel_sku"],
            d["sku"],
            str(d["ours"]),
            _n(d["theirs"]),
        )
    console.print(found if view["drift"] else "No drift found.")


def sync_status(as_json: bool = JSON) -> None:
    """Per channel account: waiting pushes, the oldest one's age, sent, failed, and whether
    the channel is behind."""
    with ordermesh() as om:
        views = [health_view(h) for h in om.stock_sync_jobs.health()]
    if as_json:
        _dump({"accounts": views})
        return
    table = Table(
        "account",
        "waiting",
        "urgent",
        "oldest (s)",
        "in flight",
        "sent",
        "failed",
        "rejected",
        "behind",
    )
    for v in views:
        table.add_row(
            v["name"],
            str(v["depth"]),
            str(v["urgent"]),
            _n(v["oldest_pending_age_seconds"]),
            str(v["in_flight"]),
            str(v["sent"]),
            str(v["failed"]),
            str(v["rejected"]),
            f"[red]{v['alert']}[/]" if v["behind"] else "",
        )
    out().print(table if views else "No channel accounts: add one with `ordermesh channels add`.")


def reconcile(
    account: str | None = typer.Argument(
        None, metavar="[ACCOUNT]", help="Default: every active account."
    ),
) -> None:
    """Read back every channel's quantities now, record drift and push ours again."""
    with ordermesh() as om:
        jobs = om.stock_sync_jobs
        accounts = [jobs.resolve(account)] if account else jobs.active_accounts()
        for account_id in accounts:
            result = jobs.reconcile(account_id)
            line = f"{account_id}: {result.checked} checked, {result.drifted} drifted, {result.healed} pushed again"
            out().print(line + (f" — [red]{result.error}[/]" if result.error else ""))
