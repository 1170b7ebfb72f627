"""Orders: create by hand, list and search, read one, and the commands on one order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain import commands as c
from ordermesh.domain.errors import NotFound, UnknownSkus
from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.deps import OmDep, Operator, Viewer
from ordermesh.entrypoints.api.problems import Problem
from ordermesh.entrypoints.api.responses import JsonResponse
from ordermesh.entrypoints.api.routes import API
from ordermesh.entrypoints.api.schemas import Cancel, HoldIn, NewOrder, ReleaseIn, ShipmentIn
from ordermesh.entrypoints.api.writes import Rendered, read, write

router = APIRouter(prefix=f"{API}/orders", tags=["orders"], responses=problems.RESPONSES)


def _outcome(result: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"id": result.order_id, "status": result.status}
    if result.short:
        answer["short"] = [
            {"line": line, "sku": sku, "missing": missing} for line, sku, missing in result.short
        ]
    return answer


def _state(result: Any) -> Rendered:
    return 200, _outcome(result), {}


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@router.post("", status_code=201)
async def create_order(body: NewOrder, request: Request, who: Operator) -> Response:
    """Create a manual order (phone order, replacement, B2B). Stock is reserved at once: the
    answer's `status` is `allocated`, or `backordered` with the `short` lines (unless
    `allow_backorder` is false: then a shortfall is refused with 409). Role: operator."""
    # Not an OmDep: the busiest write of the API, and each dependency FastAPI solves costs
    # tens of µs on the event loop.
    om: Ordermesh = request.app.state.om
    cmd = body.to_command(actor=who.name)

    def render(result: Any) -> Rendered:
        return 201, _outcome(result), {"Location": f"{API}/orders/{result.order_id}"}

    try:
        return await write(request, om, who, cmd, render)
    except UnknownSkus as exc:
        unknown = set(exc.skus)
        raise Problem(
            422,
            exc.code,
            exc.message,
            field_errors=[
                {"field": f"lines[{i}].sku", "message": f"no product with SKU {line.sku}"}
                for i, line in enumerate(body.lines)
                if line.sku in unknown
            ],
        ) from exc


@router.get("")
async def list_orders(
    om: OmDep,
    who: Viewer,
    status: Annotated[list[str] | None, Query(description="repeatable")] = None,
    channel: str | None = None,
    sku: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    q: Annotated[str | None, Query(description="order id, channel order id or buyer")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Response:
    """Newest first; follow `next_cursor` until it is null to walk every order once.
    Role: viewer."""
    page = await read(
        om,
        om.queries.list_orders,
        status=status,
        channel=channel,
        sku=sku,
        created_from=_utc(created_from),
        created_to=_utc(created_to),
        search=q,
        limit=limit,
        cursor=cursor,
    )
    return JsonResponse({"items": page.items, "next_cursor": page.next_cursor})


@router.get("/{order_id}")
async def get_order(order_id: str, om: OmDep, who: Viewer) -> Response:
    """One order with its lines, allocations and history. Role: viewer."""
    order = await read(om, om.queries.get_order, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}", field="order_id")
    return JsonResponse(order)


@router.post("/{order_id}/cancel")
async def cancel(
    order_id: str, request: Request, om: OmDep, who: Operator, body: Cancel | None = None
) -> Response:
    """Cancel before shipment; reserved stock is released. Role: operator."""
    cmd = c.CancelOrder(order_id, (body or Cancel()).reason, actor=who.name)
    return await write(request, om, who, cmd, _state)


@router.post("/{order_id}/hold")
async def hold(order_id: str, body: HoldIn, request: Request, om: OmDep, who: Operator) -> Response:
    """Put the order on hold (`kind`: manual, fraud, address, …) so it is not allocated or
    shipped. Role: operator."""
    cmd = c.HoldOrder(order_id, body.reason, body.kind, actor=who.name)
    return await write(request, om, who, cmd, _state)


@router.post("/{order_id}/release")
async def release(
    order_id: str, request: Request, om: OmDep, who: Operator, body: ReleaseIn | None = None
) -> Response:
    """Release one kind of hold (or all); the order is then allocated if it can be.
    Role: operator."""
    given = body or ReleaseIn()
    cmd = c.ReleaseHold(order_id, given.kind, given.reason, actor=who.name)

    def render(_: Any) -> Rendered:
        order = om.queries.get_order(order_id)
        assert order is not None
        return 200, {"id": order["id"], "status": order["status"], "holds": order["holds"]}, {}

    return await write(request, om, who, cmd, render)


@router.post("/{order_id}/allocate")
async def allocate(order_id: str, request: Request, om: OmDep, who: Operator) -> Response:
    """Try to reserve stock for an open or backordered order now. Role: operator."""
    return await write(request, om, who, c.AllocateOrder(order_id, actor=who.name), _state)


@router.post("/{order_id}/shipments", status_code=201)
async def ship(
    order_id: str, body: ShipmentIn, request: Request, om: OmDep, who: Operator
) -> Response:
    """Record a package leaving with tracking: the `lines` given, or every unit not yet
    shipped. Reserved stock is booked out; the order becomes `partially_shipped` or
    `shipped`; the channel is told through the outbox (`confirmation` is `pending` until it
    answers, `not_required` for manual and marketplace-fulfilled orders). Role: operator."""
    cmd = body.to_command(order_id, actor=who.name)

    def render(result: Any) -> Rendered:
        answer = {
            "id": result.shipment_id,
            "order_id": result.order_id,
            "order_status": result.order_status,
            "confirmation": result.confirmation,
            "location": result.location,
            "lines": [
                {"line_no": line_no, "sku": sku, "quantity": quantity}
                for line_no, sku, quantity in result.lines
            ],
        }
        return 201, answer, {"Location": f"{API}/orders/{result.order_id}"}

    return await write(request, om, who, cmd, render)
