"""`ordermesh channels …`: connect Amazon and Shopify accounts, sync them, see their health."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.table import Table

from ordermesh.domain.commands import SyncChannel
from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.cli import marketplace
from ordermesh.entrypoints.cli.context import fail, ordermesh, out

app = typer.Typer(help="Channel accounts: add, sync, status.", no_args_is_help=True)
add_app = typer.Typer(help="Connect a channel account.", no_args_is_help=True)
app.add_typer(add_app, name="add")


class Region(enum.StrEnum):
    NA = "NA"
    EU = "EU"
    FE = "FE"


class Endpoint(enum.StrEnum):
    production = "production"
    amazon_sandbox = "amazon_sandbox"
    custom = "custom"


def _since(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def _register(
    channel: str, name: str, settings: dict[str, Any], secrets: dict[str, str], days: int
) -> None:
    with ordermesh() as om:
        try:
            om.channel_adapters.check(channel, settings, secrets)
            account = om.channel_adapters.accounts.register(
                channel=channel,
                name=name,
                settings=settings,
                secrets=secrets,
                sync_from=_since(days),
            )
        except DomainError as refused:
            fail(refused.message)
    out().print(
        f"Connected {channel} account [bold]{account.name}[/] ({account.id}). "
        f"The first sync reads the last {days} day(s); credentials are stored encrypted."
    )


@add_app.command("amazon")
def add_amazon(
    name: str = typer.Option(..., "--name", help="How you call this seller account."),
    seller_id: str = typer.Option(..., "--seller-id", help="Selling partner id."),
    region: Region = typer.Option(..., "--region"),
    marketplace: list[str] = typer.Option(
        ..., "--marketplace", help="Marketplace id; repeat for several."
    ),
    client_id: str = typer.Option(..., "--client-id", help="LWA client id of your app."),
    client_secret: str = typer.Option(..., "--client-secret", prompt=True, hide_input=True),
    refresh_token: str = typer.Option(..., "--refresh-token", prompt=True, hide_input=True),
    endpoint: Endpoint = typer.Option(Endpoint.production, "--endpoint"),
    api_url: str | None = typer.Option(
        None, "--api-url", help="For --endpoint custom (e.g. ordermesh's sandbox)."
    ),
    days: int = typer.Option(7, "--days", min=0, help="How far back the first sync reads."),
) -> None:
    """Connect an Amazon seller account (SP-API, Login with Amazon refresh token)."""
    settings = {
        "selling_partner_id": seller_id,
        "region": region.value,
        "marketplace_ids": list(marketplace),
        "lwa_client_id": client_id,
        "endpoint": endpoint.value,
        "api_base_url": api_url,
    }
    _register(
        "amazon",
        name,
        settings,
        {"lwa_client_secret": client_secret, "refresh_token": refresh_token},
        days,
    )


@add_app.command("shopify")
def add_shopify(
    name: str = typer.Option(..., "--name"),
    shop: str = typer.Option(..., "--shop", help="your-shop.myshopify.com"),
    access_token: str = typer.Option(..., "--access-token", prompt=True, hide_input=True),
    webhook_secret: str = typer.Option(..., "--webhook-secret", prompt=True, hide_input=True),
    admin_url: str | None = typer.Option(
        None, "--admin-url", help="Another Admin API host (ordermesh's sandbox)."
    ),
    days: int = typer.Option(7, "--days", min=0, help="How far back the first sync reads."),
    location: list[str] = typer.Option(
        [],
        "--location",
        help="SHOPIFY_LOCATION_ID=LOCATION: which ordermesh location a Shopify location is "
        "(its orders are fulfilled from there); repeat for several.",
    ),
    stock_location: str | None = typer.Option(
        None,
        "--stock-location",
        help="The Shopify location id whose quantity carries ordermesh's figure (needed when "
        "several are mapped).",
    ),
) -> None:
    """Connect a Shopify shop (custom app: Admin API access token and client secret)."""
    settings: dict[str, Any] = {
        "shop_domain": shop,
        "admin_url": admin_url,
        "locations": _location_map(location),
    }
    if stock_location:
        settings["stock_location"] = stock_location
    _register(
        "shopify",
        name,
        settings,
        {"access_token": access_token, "webhook_secret": webhook_secret},
        days,
    )


def _location_map(pairs: list[str]) -> dict[str, str]:
    """`--location 123=WH1` pairs as Shopify location id → ordermesh location code."""
    found: dict[str, str] = {}
    for pair in pairs:
        shopify_id, sep, code = pair.partition("=")
        shopify_id = shopify_id.strip().removeprefix("gid://shopify/Location/")
        if not sep or not shopify_id.isdigit() or not code.strip():
            fail(
                f"--location {pair!r}: write SHOPIFY_LOCATION_ID=LOCATION, such as "
                "--location 80123456789=WH1"
            )
        found[shopify_id] = code.strip()
    return found


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


@app.command("status")
def status() -> None:
    """Every channel account: state, cursor, last sync, last error."""
    with ordermesh() as om:
        accounts = om.channel_adapters.accounts.list()
        rates = {a["id"]: marketplace.rate_cells(om, a["id"]) for a in accounts}
    if not accounts:
        out().print("No channel accounts yet: `ordermesh channels add amazon|shopify --help`.")
        return
    table = Table(
        "name", "channel", "status", "synced up to", "last sync", "sustainable", "last error"
    )
    for a in accounts:
        state = a["status"] + (f" ({a['status_reason']})" if a["status_reason"] else "")
        table.add_row(
            a["name"],
            a["channel"],
            state,
            _when(a["cursor"]),
            _when(a["last_sync_at"]),
            rates[a["id"]][0],
            a["last_error"] or "",
        )
    out().print(table)
    for a in accounts:
        if rates[a["id"]][1]:
            out().print(f"[yellow]{a['name']}: {rates[a['id']][1]}[/]")


@app.command("sync")
def sync(
    name: str = typer.Argument(..., help="The account's name or id."),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Also bring in orders placed since this date (YYYY-MM-DD); a range older than "
        "the incremental window is read from Amazon's order report.",
    ),
) -> None:
    """Pull what changed on the channel since the last sync, now."""
    with ordermesh() as om:
        accounts = om.channel_adapters.accounts.list()
        match = [a for a in accounts if name in (a["name"], a["id"])]
        if not match:
            fail(f"no channel account {name!r}; see `ordermesh channels status`")
        console = out()
        if since is not None:
            marketplace.backfill_before_sync(om, match[0], marketplace.parse_since(since))
        with console.status(f"Syncing {match[0]['name']} (waits for the channel's rate limits)…"):
            report = om.channels.sync(SyncChannel(match[0]["id"], actor="cli"))
    imported = report.imported
    console.print(
        f"{report.status}: {report.pages} page(s), {report.fetched} order version(s) fetched; "
        f"{imported.created} new, {imported.updated} updated, {imported.unchanged + imported.duplicates} already known."
    )
    if report.late:
        console.print(
            f"[yellow]{report.late} change(s) shown late[/]: the channel showed them after the "
            "last sync's window was read; the worker's next sync reads further back."
        )
    for problem in report.unreadable:
        console.print(f"[yellow]not imported[/]: {problem}")
    if report.error:
        fail(report.error)


app.command("fba-inventory")(marketplace.fba_inventory)
app.command("health")(marketplace.health)
