"""`ordermesh channels sync --since`, `fba-inventory` and `health`: the inbound side of a
marketplace account (Amazon), seen from the seller's chair."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.cli.context import fail, ordermesh, out
from ordermesh.ports.channels import ChannelError
from ordermesh.ports.marketplace import AccountHealth, BackfillProgress, MetricStatus
from ordermesh.services.handlers.backfill import backfill_until


def find_account(om: Ordermesh, name: str) -> dict[str, Any]:
    match = [a for a in om.channel_adapters.accounts.list() if name in (a["name"], a["id"])]
    if not match:
        fail(f"no channel account {name!r}; see `ordermesh channels status`")
    return match[0]


def parse_since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--since {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def backfill_before_sync(om: Ordermesh, account: dict[str, Any], since: datetime) -> None:
    """Bring in the orders placed from `since` up to where the incremental sync begins, with
    a progress bar; nothing to do when `since` is already inside the incremental window."""
    console = out()
    until = backfill_until(account["cursor"], om.clock.now())
    if since >= until:
        console.print(
            f"{since:%Y-%m-%d %H:%M} is inside the incremental window; no back-fill needed."
        )
        return
    columns = (
        TextColumn("[bold]{task.fields[range]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} report(s)"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("starting", total=None, range=f"{since:%Y-%m-%d} → {until:%Y-%m-%d}")

        def show(step: BackfillProgress) -> None:
            bar.update(task, total=step.total, completed=step.done, description=step.stage)

        report = om.marketplace.backfill.backfill(account["id"], since, until, progress=show)
    imported = report.imported
    console.print(
        f"back-fill {report.status}: {report.fetched} order(s) read from the report; "
        f"{imported.created} new, {imported.updated} brought up to date, "
        f"{imported.unchanged + imported.duplicates} already known."
    )
    note = om.marketplace.backfill.note(account["id"])
    if note and imported.created:
        console.print(f"[dim]{note}[/]")
    for problem in report.unreadable:
        console.print(f"[yellow]not imported[/]: {problem}")
    if report.error:
        fail(report.error)


def rate_cells(om: Ordermesh, account_id: str) -> tuple[str, str | None]:
    """(sustainable orders/hour with the last hour's volume, a warning or None)."""
    try:
        rate = om.marketplace.standing.order_rate(account_id)
    except (ChannelError, DomainError):
        return "—", None
    if rate is None:
        return "—", None
    cell = f"{rate.sustainable_per_hour:,.0f}/h ({rate.last_hour:,} last hour)"
    return cell, rate.warning


def fba_inventory(
    name: str = typer.Argument(..., help="The account's name or id."),
    location: str | None = typer.Option(
        None, "--location", help="The FBA location (default: the account's, or the only one)."
    ),
    marketplace: str | None = typer.Option(
        None, "--marketplace", help="Whose pool to read (default: the account's first)."
    ),
) -> None:
    """Bring Amazon's FBA stock in: fulfillable becomes on-hand at the FBA location (a count
    in the ledger); reserved and inbound are shown apart."""
    with ordermesh() as om:
        account = find_account(om, name)
        console = out()
        with console.status(f"Reading FBA inventory of {account['name']}…"):
            report = om.marketplace.network_stock.pull(
                account["id"], location=location, marketplace=marketplace
            )
        if report.error:
            fail(report.error)
        console.print(
            f"{report.skus} SKU(s) in {report.marketplace} → {report.location}: "
            f"{report.fulfillable} fulfillable, {report.reserved} reserved, "
            f"{report.inbound} inbound; {report.counted} level(s) counted, "
            f"{report.unchanged} already right."
        )
        if report.unmapped:
            console.print(
                f"[yellow]{len(report.unmapped)} FBA SKU(s) without a listing in ordermesh[/] "
                f"(not booked): {', '.join(report.unmapped[:20])}"
            )
        rows = om.marketplace.network_stock.figures(account["id"])
    table = Table("channel SKU", "fulfillable", "reserved", "inbound", "unfulfillable", "updated")
    for row in rows[:50]:
        inbound = row["inbound_working"] + row["inbound_shipped"] + row["inbound_receiving"]
        table.add_row(
            row["channel_sku"],
            str(row["fulfillable"]),
            str(row["reserved"]),
            str(inbound),
            str(row["unfulfillable"]),
            f"{row['channel_updated_at']:%Y-%m-%d %H:%M}" if row["channel_updated_at"] else "—",
        )
    console.print(table)


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.2%}"


def print_health(console: Console, health: AccountHealth) -> None:
    console.print(f"Account health as Amazon reported it at {health.fetched_at:%Y-%m-%d %H:%M} UTC")
    for marketplace, state in sorted(health.account_statuses.items()):
        rating = health.rating.get(marketplace)
        console.print(
            f"  {marketplace}: account {state}" + (f", health rating {rating}" if rating else "")
        )
    table = Table("marketplace", "metric", "rate", "target", "status", "count", "of")
    for m in health.metrics:
        if m.rate is None and m.count in (None, 0) and m.status is MetricStatus.GOOD:
            continue  # a policy area with nothing in it
        style = {"BAD": "red", "GOOD": "green"}.get(m.status.value, "yellow")
        target = (
            f"{'<' if m.condition == 'LESS_THAN' else '>' if m.condition == 'GREATER_THAN' else '='}"
            f" {_percent(m.target) if m.rate is not None else m.target}"
            if m.target is not None
            else "—"
        )
        table.add_row(
            m.marketplace_id,
            m.name,
            _percent(m.rate),
            target,
            f"[{style}]{m.status.value}[/]",
            "—" if m.count is None else str(m.count),
            "—" if m.orders is None else str(m.orders),
        )
    console.print(table)
    for warning in health.warnings:
        console.print(f"[yellow]skipped in the report[/]: {warning}")


def health(
    name: str = typer.Argument(..., help="The account's name or id."),
    refresh: bool = typer.Option(
        True, "--refresh/--cached", help="Ask Amazon now (a report takes a minute or more)."
    ),
) -> None:
    """The seller's account health: ODR, late shipment, cancellation and valid tracking
    rates with Amazon's own targets."""
    with ordermesh() as om:
        account = find_account(om, name)
        console = out()
        found: AccountHealth | None
        if refresh:
            try:
                with console.status("Amazon is preparing the account health report…"):
                    found = om.marketplace.standing.fetch_health(account["id"])
            except (ChannelError, DomainError) as failed:
                fail(f"account health: {failed}")
        else:
            found = om.marketplace.standing.latest_health(account["id"])
        if found is None:
            fail("no account health report yet; run without --cached")
    print_health(console, found)
