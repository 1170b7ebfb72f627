"""`ordermesh orders ship`: record a package leaving with tracking, from a terminal."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.errors import DomainError
from ordermesh.domain.shipments import ShipLine
from ordermesh.entrypoints.cli.context import EXIT_REFUSED, fail, ordermesh, out


def _lines(given: list[str]) -> tuple[ShipLine, ...] | None:
    if not given:
        return None
    lines = []
    for i, text in enumerate(given):
        sku, sep, quantity = text.rpartition("=")
        if not sep or not sku.strip() or not quantity.strip().isdigit():
            fail(
                f"--line {text!r} (lines[{i}]): write it as SKU=QUANTITY, e.g. MUG-1=2",
                EXIT_REFUSED,
            )
        lines.append(ShipLine(int(quantity), sku=sku.strip()))
    return tuple(lines)


def _order_id(om: Ordermesh, given: str) -> str:
    """Our id, or the channel's order id when it names one order."""
    if om.queries.get_order(given) is not None:
        return given
    matches = [
        o["id"]
        for o in om.queries.list_orders(search=given, limit=5).items
        if o["channel_order_id"] == given
    ]
    if len(matches) != 1:
        fail(f"no order {given}" if not matches else f"{given} names several orders; use our id")
    return matches[0]


def ship(
    order: str = typer.Argument(..., metavar="ORDER_ID", help="Our order id or the channel's."),
    carrier: str = typer.Option(..., "--carrier", help="UPS, DHL, Royal Mail, …"),
    tracking: str = typer.Option(..., "--tracking", help="The carrier's tracking number."),
    service: str | None = typer.Option(None, "--service", help="e.g. Ground, Express."),
    tracking_url: str | None = typer.Option(None, "--tracking-url"),
    line: list[str] = typer.Option(
        None, "--line", help="SKU=QTY; repeat for several. Default: every unit not yet shipped."
    ),
    location: str | None = typer.Option(
        None, "--location", help="Where it left from (needed when stock is reserved at several)."
    ),
    shipped_at: datetime | None = typer.Option(
        None, "--shipped-at", help="When it left (ISO 8601, UTC if no zone). Default: now."
    ),
    no_notify: bool = typer.Option(
        False, "--no-notify", help="Ask the channel not to e-mail the buyer."
    ),
    actor: str = typer.Option("cli", "--actor", help="Who shipped it, for the history."),
) -> None:
    """Record a package of an order as shipped with tracking; the channel is told of it."""
    lines = _lines(line or [])
    if shipped_at is not None and shipped_at.tzinfo is None:
        shipped_at = shipped_at.replace(tzinfo=UTC)
    with ordermesh() as om:
        order_id = _order_id(om, order)
        try:
            result = om.handle(
                c.ShipOrder(
                    order_id,
                    carrier=carrier,
                    tracking_number=tracking,
                    lines=lines,
                    service=service,
                    tracking_url=tracking_url,
                    shipped_at=shipped_at,
                    location=location,
                    notify_customer=not no_notify,
                    actor=actor,
                )
            )
        except DomainError as refused:
            where = f" ({refused.field})" if refused.field else ""
            fail(f"{refused.message}{where}")
    units = ", ".join(f"{sku} × {quantity}" for _, sku, quantity in result.lines)
    told = {
        "pending": "the channel will be told",
        "not_required": "no channel to tell",
    }.get(result.confirmation, result.confirmation)
    out().print(
        f"Shipped {units} with {carrier} {tracking}"
        f"{f' from {result.location}' if result.location else ''}: shipment {result.shipment_id}; "
        f"order {result.order_status}; {told}."
    )
