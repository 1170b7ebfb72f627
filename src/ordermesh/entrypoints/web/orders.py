"""Orders: the filterable list with bulk actions, and one order's page with its actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from ordermesh.domain import commands as c
from ordermesh.domain.access import Principal, Role
from ordermesh.domain.errors import DomainError
from ordermesh.domain.orders import OrderStatus
from ordermesh.entrypoints.web.context import Web, check_csrf, redirect
from ordermesh.entrypoints.web.shipping import order_extras

PER_PAGE = 50
SORTS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "ship_by": "Ship-by, soonest first",
    "ship_by_desc": "Ship-by, latest first",
}
STATUSES = [s.value for s in OrderStatus]
BULK_ACTIONS = {
    "hold": "Hold",
    "release": "Release hold",
    "allocate": "Allocate",
    "cancel": "Cancel",
}
MAX_BULK = 500
"""One bulk action at most this many orders: each is its own transaction."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one order of a bulk action came to."""

    order_id: str
    ok: bool
    message: str


def _filters(
    status: str | None,
    channel: str | None,
    q: str | None,
    sort: str | None,
    marketplace: str | None = None,
    sku: str | None = None,
) -> dict[str, str]:
    return {
        "q": (q or "").strip(),
        "status": status if status in STATUSES or status == "held" else "",
        "channel": (channel or "").strip(),
        "marketplace": (marketplace or "").strip(),
        "sku": (sku or "").strip(),
        "sort": sort if sort in SORTS else "newest",
    }


def list_query(
    status: str | None = None,
    channel: str | None = None,
    q: str | None = None,
    sort: str | None = None,
    marketplace: str | None = None,
    sku: str | None = None,
    page: int = 1,
) -> tuple[dict[str, str], int]:
    """The list's filters and page, read once for the page and its refreshes alike."""
    return _filters(status, channel, q, sort, marketplace, sku), max(page, 1)


ListQuery = Annotated[tuple[dict[str, str], int], Depends(list_query)]


def _command(action: str, order_id: str, reason: str, actor: str) -> c.Command:
    if action == "hold":
        return c.HoldOrder(order_id, reason or "held from the dashboard", actor=actor)
    if action == "release":
        return c.ReleaseHold(order_id, reason=reason, actor=actor)
    if action == "allocate":
        return c.AllocateOrder(order_id, actor=actor)
    return c.CancelOrder(order_id, reason=reason, actor=actor)


def _describe(action: str, result: Any) -> str:
    status = getattr(result, "status", "")
    short = getattr(result, "short", None)
    if action == "allocate" and short:
        return f"backordered: {len(short)} line(s) short of stock"
    return {
        "hold": f"held (status {status})",
        "release": f"hold released (status {status})",
        "allocate": f"now {status}",
        "cancel": "cancelled",
    }[action]


def _actor(principal: Principal) -> str:
    return f"user:{principal.name}"


def routes(web: Web) -> APIRouter:
    router = APIRouter()

    def list_context(request: Request, filters: dict[str, str], page: int) -> dict[str, Any]:
        items, more = web.om.queries.order_list(
            status=filters["status"] or None,
            channel=filters["channel"] or None,
            marketplace=filters["marketplace"] or None,
            sku=filters["sku"] or None,
            search=filters["q"] or None,
            sort=filters["sort"],
            page=page,
            per_page=PER_PAGE,
        )
        query = {k: v for k, v in filters.items() if v}
        return {
            "orders": items,
            "page": page,
            "prev_url": f"/orders?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
            "next_url": f"/orders?{urlencode({**query, 'page': page + 1})}" if more else None,
            "filters": filters,
            "query": urlencode({**query, "page": page}),
        }

    @router.get("/orders")
    def order_list(request: Request, query: ListQuery) -> Response:
        web.user(request)
        context = list_context(request, *query)
        context.update(
            statuses=STATUSES,
            sorts=SORTS,
            channels=web.channels(),
            bulk_actions=BULK_ACTIONS,
        )
        return web.render(request, "orders.html", context)

    @router.get("/orders/rows")
    def order_rows(request: Request, query: ListQuery) -> Response:
        """The table alone, for the list's own refresh: same filters, same page."""
        web.user(request)
        context = list_context(request, *query)
        return web.render(request, "orders_rows.html", context)

    @router.post("/orders/bulk", dependencies=[Depends(check_csrf)])
    def bulk(
        request: Request,
        action: Annotated[str, Form()] = "",
        order_ids: Annotated[list[str] | None, Form()] = None,
        reason: Annotated[str, Form()] = "",
        back: Annotated[str, Form()] = "",
    ) -> Response:
        principal = web.require(request, Role.OPERATOR)
        ids = list(dict.fromkeys(order_ids or []))
        problems = []
        if action not in BULK_ACTIONS:
            problems.append("Choose an action.")
        if not ids:
            problems.append("Tick at least one order.")
        if len(ids) > MAX_BULK:
            problems.append(f"At most {MAX_BULK} orders at a time.")
        outcomes: list[Outcome] = []
        if not problems:
            for order_id in ids:
                try:
                    result = web.run(_command(action, order_id, reason.strip(), _actor(principal)))
                except DomainError as exc:
                    outcomes.append(Outcome(order_id, False, exc.message))
                else:
                    outcomes.append(Outcome(order_id, True, _describe(action, result)))
        context = {
            "action": BULK_ACTIONS.get(action, action),
            "outcomes": outcomes,
            "refs": web.om.queries.order_refs([o.order_id for o in outcomes]),
            "problems": problems,
            "done": sum(o.ok for o in outcomes),
            "back": back if back.startswith("/orders") else "/orders",
        }
        return web.render(
            request, "bulk_result.html", context, status_code=422 if problems else 200
        )

    @router.get("/orders/{order_id}")
    def order_page(request: Request, order_id: str) -> Response:
        web.user(request)
        order = web.om.queries.get_order(order_id)
        if order is None:
            context = {"order_id": order_id}
            return web.render(request, "order_missing.html", context, status_code=404)
        context = {"order": order, "error": None, **order_extras(web, order)}
        return web.render(request, "order.html", context)

    @router.post("/orders/{order_id}/{action}", dependencies=[Depends(check_csrf)])
    def order_action(
        request: Request,
        order_id: str,
        action: str,
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        principal = web.require(request, Role.OPERATOR)
        if action not in BULK_ACTIONS:
            return web.render(
                request, "order_missing.html", {"order_id": order_id}, status_code=404
            )
        try:
            result = web.run(_command(action, order_id, reason.strip(), _actor(principal)))
        except DomainError as exc:
            message = exc.message
        else:
            done = _describe(action, result)
            return redirect(f"/orders/{order_id}", request, f"{done[0].upper()}{done[1:]}.")
        order = web.om.queries.get_order(order_id)
        if order is None:
            context = {"order_id": order_id}
            return web.render(request, "order_missing.html", context, status_code=404)
        context = {"order": order, "error": message, **order_extras(web, order)}
        return web.render(request, "order.html", context, status_code=409)

    return router
