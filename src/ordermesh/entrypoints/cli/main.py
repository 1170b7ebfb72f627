"""The `ordermesh` command: set up, run, import and export, look things up.

Every command reads its database from ORDERMESH_DATABASE_URL (see `ordermesh.config`)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import typer
from rich.panel import Panel

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.access import Role
from ordermesh.entrypoints.cli import (
    channels,
    files,
    keys,
    shipping,
    simulate,
    stock_sync,
    views,
)
from ordermesh.entrypoints.cli.context import (
    EXIT_REFUSED,
    fail,
    ordermesh,
    out,
    revision,
    safe_url,
)
from ordermesh.entrypoints.cli.sandboxes import start_demo_channels
from ordermesh.services.demo import load_demo

app = typer.Typer(
    name="ordermesh",
    help="ordermesh: orders from every channel, one true stock figure.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
sandbox_app = typer.Typer(help="Simulated channels to try ordermesh against.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys.app, name="apikey")
app.add_typer(files.import_app, name="import")
app.command("export")(files.export)
app.add_typer(views.orders_app, name="orders")
views.orders_app.command("ship")(shipping.ship)
app.add_typer(views.stock_app, name="stock")
views.stock_app.command("explain")(stock_sync.explain)
views.stock_app.command("drift")(stock_sync.drift)
views.stock_app.command("sync-status")(stock_sync.sync_status)
views.stock_app.command("reconcile")(stock_sync.reconcile)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(channels.app, name="channels")
app.add_typer(simulate.app, name="simulate")

API_SERVER = "ordermesh.entrypoints.api.server"


@app.command()
def init() -> None:
    """Create the database, or bring it to the newest schema. Safe to run again."""
    with ordermesh(migrate=True) as om:
        out().print(
            f"Database {safe_url(om.settings.database_url)} ready at revision {revision(om)}."
        )


@db_app.command("upgrade")
def upgrade() -> None:
    """Migrate the database to the newest schema and print the revision."""
    with ordermesh(migrate=True) as om:
        out().print(f"Database at revision {revision(om)}.")


def _server_module() -> ModuleType:
    try:
        return importlib.import_module(API_SERVER)
    except ModuleNotFoundError as exc:
        if exc.name and API_SERVER.startswith(exc.name):
            fail(f"the API server ({API_SERVER}) is not part of this installation", EXIT_REFUSED)
        raise


def _serve(om: Ordermesh, host: str, port: int) -> None:
    _server_module().serve(om, host, port)


@app.command()
def serve(
    host: str | None = typer.Option(None, "--host", help="Default: ORDERMESH_HOST."),
    port: int | None = typer.Option(None, "--port", "-p", help="Default: ORDERMESH_PORT (8000)."),
) -> None:
    """Migrate the database, then run the API and dashboard until interrupted."""
    _server_module()
    with ordermesh(migrate=True) as om:
        _serve(om, host or om.settings.host, port or om.settings.port)


@app.command()
def demo(
    host: str | None = typer.Option(None, "--host", help="Default: ORDERMESH_HOST."),
    port: int | None = typer.Option(None, "--port", "-p", help="Default: ORDERMESH_PORT (8000)."),
    seed: int = typer.Option(7, "--seed", help="Same seed, same demo data."),
    run_server: bool = typer.Option(True, "--serve/--no-serve", help="Start the server after."),
    with_sandboxes: bool = typer.Option(
        True,
        "--with-sandboxes/--without-sandboxes",
        help="Run the Amazon and Shopify sandboxes beside the server, connected as accounts.",
    ),
    orders_per_minute: float = typer.Option(
        3.0, "--orders-per-minute", min=0, help="How busy each sandbox channel is."
    ),
) -> None:
    """What `make run` does: demo data the first time, then the server with the sandbox
    channels sending orders."""
    if run_server:
        _server_module()
    console = out()
    with ordermesh(migrate=True) as om:
        empty = not om.queries.locations() and not om.queries.products(limit=1).items
        if empty:
            with console.status("Loading demo data (catalogue, stock, 90 days of orders)…"):
                summary = load_demo(om.handle, om.clock, seed=seed)
            _, key = om.api_keys.create("demo admin", Role.ADMIN)
            console.print(
                f"Loaded {summary.products} products, {summary.bundles} gift sets, "
                f"{summary.locations} locations and {summary.orders} channel orders."
            )
            console.print(
                Panel(
                    f"[bold]{key}[/]\n\nUse it as `Authorization: Bearer <key>` or "
                    "`X-API-Key: <key>`. It is shown only this once.",
                    title="Admin API key",
                    border_style="green",
                )
            )
        first_login = om.users.ensure_first_admin()
        if first_login is not None:
            username, password = first_login
            console.print(
                Panel(
                    f"user [bold]{username}[/]  password [bold]{password}[/]\n\n"
                    "Sign in to the dashboard with it and change it. It is shown only this once.",
                    title="Dashboard admin login",
                    border_style="green",
                )
            )
        if not empty:
            console.print(
                f"Existing data in {safe_url(om.settings.database_url)} kept; demo not reloaded. "
                "(Need a key? `ordermesh apikey create --role admin`.)"
            )
        host = host or om.settings.host
        port = port or om.settings.port
        base = f"http://{host}:{port}"
        channels = None
        if run_server and with_sandboxes:
            with console.status("Starting the Amazon and Shopify sandboxes…"):
                channels = start_demo_channels(
                    om, app_url=base, orders_per_minute=orders_per_minute
                )
            console.print(
                f"Sandbox channels ({orders_per_minute:g} orders a minute each, "
                f"{'accounts reused' if channels.reused else 'accounts connected'}):\n"
                f"  Amazon SP-API  {channels.amazon.url}  (orders: {channels.amazon.url}/_sandbox/orders)\n"
                f"  Shopify        {channels.shopify.url}  (controls: {channels.shopify.url}/_sandbox/docs)",
                highlight=False,
            )
        console.print(
            f"Dashboard  {base}/\nChannels   {base}/channels\nAPI docs   {base}/docs\n"
            f"Health     {base}/health",
            highlight=False,
        )
        try:
            if run_server:
                _serve(om, host, port)
        finally:
            if channels is not None:
                channels.stop()


# -- sandboxes -------------------------------------------------------------------------------
def _run_sandbox(module: str, **options: Any) -> None:
    try:
        runner = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            fail(f"the sandbox {module} is not part of this installation", EXIT_REFUSED)
        raise
    runner.run(**{k: v for k, v in options.items() if v is not None})


@sandbox_app.command("amazon")
def sandbox_amazon(
    port: int = typer.Option(..., "--port", "-p"),
    host: str = typer.Option("127.0.0.1", "--host"),
    client_id: str | None = typer.Option(None, "--client-id"),
    client_secret: str | None = typer.Option(None, "--client-secret"),
    refresh_token: str | None = typer.Option(None, "--refresh-token"),
    seller_id: str | None = typer.Option(None, "--seller-id"),
    orders_per_minute: float | None = typer.Option(None, "--orders-per-minute", min=0),
    notification_url: str | None = typer.Option(
        None, "--notification-url", help="POST ORDER_CHANGE notifications here."
    ),
    notification_secret: str | None = typer.Option(
        None, "--notification-secret", help="Sent in the x-notification-secret header."
    ),
) -> None:
    """A simulated Selling Partner API (orders, feeds, reports, LWA tokens)."""
    _run_sandbox(
        "ordermesh.sandbox.amazon.cli",
        port=port,
        host=host,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        seller_id=seller_id,
        orders_per_minute=orders_per_minute,
        notification_url=notification_url,
        notification_secret=notification_secret,
    )


@sandbox_app.command("shopify")
def sandbox_shopify(
    port: int = typer.Option(..., "--port", "-p"),
    host: str = typer.Option("127.0.0.1", "--host"),
    access_token: str | None = typer.Option(None, "--access-token"),
    webhook_url: str | None = typer.Option(None, "--webhook-url"),
    webhook_secret: str | None = typer.Option(None, "--webhook-secret"),
    orders_per_minute: float | None = typer.Option(None, "--orders-per-minute", min=0),
) -> None:
    """A simulated Shopify Admin GraphQL API with webhooks."""
    _run_sandbox(
        "ordermesh.sandbox.shopify.cli",
        port=port,
        host=host,
        access_token=access_token,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        orders_per_minute=orders_per_minute,
    )
