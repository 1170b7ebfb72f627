"""The order page's shipping parts: the "Ship" form, the shipments with their confirmation,
and the raw payloads the channel sent for the order."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from ordermesh.domain import commands as c
from ordermesh.domain.access import Role
from ordermesh.domain.errors import DomainError, IllegalTransition
from ordermesh.domain.shipments import ShipLine
from ordermesh.entrypoints.web.context import Web, check_csrf, redirect

SHIPPABLE = ("allocated", "partially_shipped")
TEXT_FIELDS = ("carrier", "tracking_number", "service", "tracking_url", "location")
_LINE_FIELD = re.compile(r"^lines\[(\d+)\]")


@dataclass
class ShipForm:
    """The Ship form as last submitted: its values, and an error per field (None: the form)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str | None, str] = field(default_factory=dict)


def ship_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    """Each line with what has shipped and what is left, for the form and the lines table."""
    shipped: dict[int, int] = {}
    for shipment in order.get("shipments", ()):
        for line in shipment["lines"]:
            shipped[line["line_no"]] = shipped.get(line["line_no"], 0) + line["quantity"]
    return [
        {
            "line_no": ln["line_no"],
            "sku": ln["sku"],
            "quantity": ln["quantity"],
            "shipped": shipped.get(ln["line_no"], 0),
            "left": ln["quantity"] - shipped.get(ln["line_no"], 0),
        }
        for ln in order["lines"]
    ]


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def order_extras(web: Web, order: dict[str, Any], form: ShipForm | None = None) -> dict[str, Any]:
    """What the order page shows besides the order itself."""
    payloads = [
        dict(p, pretty=_pretty(p["payload"]))
        for p in web.om.queries.channel_payloads(order["id"])
        if p["payload"]
    ]
    return {
        "payloads": payloads,
        "ship_lines": ship_lines(order),
        "ship_form": form or ShipForm(),
        "shippable": order["status"] in SHIPPABLE and not order["holds"],
        "ship_locations": sorted({a["location"] for a in order["allocations"]}),
    }


def _read(form: FormData, order: dict[str, Any]) -> tuple[ShipForm, list[int]]:
    state = ShipForm({name: str(form.get(name) or "").strip() for name in TEXT_FIELDS})
    for name, label in (("carrier", "Carrier"), ("tracking_number", "Tracking number")):
        if not state.values[name]:
            state.errors[name] = f"{label} is required."
    asked: list[int] = []
    for line in ship_lines(order):
        name = f"qty_{line['line_no']}"
        value = str(form.get(name) or "").strip()
        state.values[name] = value
        if value in ("", "0"):
            continue
        if not value.isdigit():
            state.errors[name] = f"Units must be a whole number, not “{value}”."
            continue
        asked.append(line["line_no"])
    return state, asked


def _place(state: ShipForm, exc: DomainError, asked: list[int]) -> None:
    """Put the domain's refusal next to the field it names."""
    where = exc.field or ""
    if where in TEXT_FIELDS or where == "shipped_at":
        state.errors[where if where in TEXT_FIELDS else None] = exc.message
        return
    found = _LINE_FIELD.match(where)
    if found and int(found.group(1)) < len(asked):
        state.errors[f"qty_{asked[int(found.group(1))]}"] = exc.message
        return
    state.errors[None] = exc.message


def routes(web: Web) -> APIRouter:
    router = APIRouter()

    @router.post("/orders/{order_id}/shipments", dependencies=[Depends(check_csrf)])
    async def ship(request: Request, order_id: str) -> Response:
        principal = web.require(request, Role.OPERATOR)
        order = web.om.queries.get_order(order_id)
        if order is None:
            context = {"order_id": order_id}
            return web.render(request, "order_missing.html", context, status_code=404)
        state, asked = _read(await request.form(), order)
        status_code = 422
        if not state.errors:
            if not asked:
                state.errors[None] = (
                    "Enter the units leaving in this package for at least one line."
                )
            else:
                lines = tuple(ShipLine(int(state.values[f"qty_{n}"]), line_no=n) for n in asked)
                values = state.values
                try:
                    result = await web.run_async(
                        c.ShipOrder(
                            order_id,
                            carrier=values["carrier"],
                            tracking_number=values["tracking_number"],
                            lines=lines,
                            service=values["service"] or None,
                            tracking_url=values["tracking_url"] or None,
                            location=values["location"] or None,
                            actor=f"user:{principal.name}",
                        )
                    )
                except DomainError as exc:
                    _place(state, exc, asked)
                    if isinstance(exc, IllegalTransition):
                        status_code = 409
                else:
                    units = sum(q for _, _, q in result.lines)
                    told = (
                        f" {order['channel']} will be told."
                        if result.confirmation == "pending"
                        else ""
                    )
                    return redirect(
                        f"/orders/{order_id}",
                        request,
                        f"Shipped {units} unit(s) with {values['carrier']} "
                        f"{values['tracking_number']}.{told}",
                    )
            order = web.om.queries.get_order(order_id) or order
        context = {"order": order, "error": None, **order_extras(web, order, state)}
        return web.render(request, "order.html", context, status_code=status_code)

    return router
