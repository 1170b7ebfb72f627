"""`ordermesh orders …` and `ordermesh stock show`: looking things up from a terminal."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from ordermesh.domain.errors import DomainError
from ordermesh.domain.orders import OrderStatus
from ordermesh.entrypoints.cli.context import fail, ordermesh, out

orders_app = typer.Typer(help="Look up orders.", no_args_is_help=True)
stock_app = typer.Typer(help="Look up stock.", no_args_is_help=True)


def _when(value: Any) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value)


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


@orders_app.command("list")
def list_orders(
    status: list[OrderStatus] = typer.Option(None, "--status", "-s", help="Repeat for several."),
    channel: str | None = typer.Option(None, "--channel", "-c"),
    search: str | None = typer.Option(None, "--search", "-q", help="Order id, buyer, …"),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000),
) -> None:
    """The newest orders first."""
    with ordermesh() as om:
        try:
            page = om.queries.list_orders(
                status=[str(s) for s in status] if status else None,
                channel=channel,
                search=search,
                limit=limit,
            )
        except DomainError as exc:
            fail(exc.message)
    table = Table(
        "order",
        "channel",
        "status",
        "purchased",
        "ship by",
        "total",
        "buyer",
        "flags",
        title=f"Orders ({len(page.items)}{'+' if page.next_cursor else ''})",
    )
    for o in page.items:
        flags = [f for f, on in (("prime", o["is_prime"]), ("b2b", o["is_business"])) if on]
        flags += [f"held:{h.get('kind')}" for h in o["holds"] if isinstance(h, dict)]
        table.add_row(
            f"{o['channel_order_id']}\n[dim]{o['id']}[/]",
            f"{o['channel']} {o['marketplace'] or ''}".strip(),
            o["status"],
            _when(o["purchase_date"]),
            _when(o["ship_by"]),
            f"{o['total']} {o['currency']}" if o["total"] else "",
            o["buyer_name"] or "",
            " ".join(flags),
        )
    out().print(table if page.items else "No orders match.")


@orders_app.command("show")
def show_order(order_id: str = typer.Argument(..., metavar="ID")) -> None:
    """An order with its lines, allocations and history (our id or the channel's)."""
    with ordermesh() as om:
        order = om.queries.get_order(order_id)
        if order is None:
            matches = [
                o
                for o in om.queries.list_orders(search=order_id, limit=5).items
                if o["channel_order_id"] == order_id
            ]
            order = om.queries.get_order(matches[0]["id"]) if len(matches) == 1 else None
    if order is None:
        fail(f"no order {order_id}")
    heading = (
        f"[bold]{order['channel_order_id']}[/] ({order['id']}) — {order['channel']} "
        f"{order['marketplace'] or ''} — [bold]{order['status']}[/]\n"
        f"purchased {_when(order['purchase_date'])}, ship by {_when(order['ship_by'])}, "
        f"fulfilled by {order['fulfilled_by']}"
        f"{', Prime' if order['is_prime'] else ''}{', business' if order['is_business'] else ''}"
        f"\nbuyer: {order['buyer_name'] or '—'}; total: {order['total'] or '—'} {order['currency']}"
    )
    for hold in order["holds"]:
        if isinstance(hold, dict):
            heading += f"\n[red]on hold ({hold.get('kind')}): {hold.get('reason')}[/]"
    lines = Table("line", "sku", "channel sku", "qty", "unit price", title="Lines")
    for ln in order["lines"]:
        lines.add_row(
            str(ln["line_no"]),
            ln["sku"],
            ln["channel_sku"] or "",
            str(ln["quantity"]),
            ln["unit_price"] or "",
        )
    allocations = Table("line", "sku", "location", "qty", title="Allocations")
    for a in order["allocations"]:
        allocations.add_row(str(a["line_no"]), a["sku"], a["location"], str(a["quantity"]))
    history = Table("at", "action", "from → to", "by", "why", title="History")
    for h in order["history"]:
        history.add_row(
            _when(h["at"]), h["action"], f"{h['from_status']} → {h['to_status']}", h["actor"],
            h["reason"],
        )  # fmt: skip
    parts: list[Any] = [heading, lines]
    if order["allocations"]:
        parts.append(allocations)
    if order.get("shipments"):
        parts.append(_shipments(order["shipments"]))
    parts.append(history)
    out().print(Panel(Group(*parts), title="Order"))


def _shipments(shipments: list[dict[str, Any]]) -> Table:
    table = Table("shipped", "carrier", "tracking", "from", "units", "channel", title="Shipments")
    for sh in shipments:
        answer = sh["confirmation"].replace("_", " ")
        if sh["channel_message"] and sh["confirmation"] == "rejected":
            answer += f": {sh['channel_message']}"
        table.add_row(
            _when(sh["shipped_at"]),
            " ".join(filter(None, (sh["carrier"], sh["service"]))),
            sh["tracking_number"],
            sh["location"] or "",
            ", ".join(f"{ln['sku']} × {ln['quantity']}" for ln in sh["lines"]),
            answer,
        )
    return table


@stock_app.command("show")
def show_stock(
    sku: str = typer.Argument(..., metavar="SKU"),
    movements: int = typer.Option(10, "--movements", "-m", min=0, max=500),
) -> None:
    """On hand, reserved and available per location, and the latest movements."""
    with ordermesh() as om:
        product = om.queries.product(sku)
        if product is None:
            fail(f"no product with SKU {sku}")
        levels = om.queries.stock_levels(sku=sku).items
        moves = om.queries.movements(sku=sku, limit=movements).items if movements else []
    console = out()
    console.print(f"[bold]{sku}[/] {product['title']}")
    if product["is_bundle"]:
        parts = ", ".join(f"{n} × {c}" for c, n in sorted(product["components"].items()))
        console.print(f"A bundle of {parts}: its stock is its components' stock.")
        return
    table = Table("location", "on hand", "reserved", "available", title="Stock")
    for lv in levels:
        low = lv["available"] <= product["low_stock_threshold"]
        available = f"[red]{lv['available']}[/]" if low else str(lv["available"])
        table.add_row(lv["location"], str(lv["on_hand"]), str(lv["reserved"]), available)
    if levels:
        table.add_row(
            "[bold]total[/]",
            str(sum(lv["on_hand"] for lv in levels)),
            str(sum(lv["reserved"] for lv in levels)),
            str(sum(lv["available"] for lv in levels)),
        )
    console.print(table if levels else "No stock recorded at any location.")
    if moves:
        ledger = Table("at", "location", "kind", "on hand", "reserved", "reason", "reference")
        ledger.title = "Latest movements"
        for m in moves:
            ledger.add_row(
                _when(m["occurred_at"]), m["location"], m["kind"], f"{m['on_hand_delta']:+d}",
                f"{m['reserved_delta']:+d}", m["reason"] or "", m["reference"] or "",
            )  # fmt: skip
        console.print(ledger)
