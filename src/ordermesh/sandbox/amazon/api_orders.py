"""Orders API v2026-01-01 (searchOrders, getOrder) and v0 (getOrders, getOrder, getOrderItems,
getOrderAddress, getOrderBuyerInfo, confirmShipment, updateShipmentStatus).

The v0 getOrder is registered as operation `getOrderV0` so that faults and statistics can tell
it from the v2026 getOrder."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ordermesh.sandbox.amazon.clock import iso, parse_iso
from ordermesh.sandbox.amazon.faults import PAGE_FAULTS
from ordermesh.sandbox.amazon.paging import TOKEN_LIFETIME, Cursor
from ordermesh.sandbox.amazon.state import Order, Package
from ordermesh.sandbox.amazon.transport import Call, invalid, json_response, operation
from ordermesh.sandbox.amazon.wire import (
    FULFILLED_BY,
    V2026_STATUS,
    order_item_v0,
    order_v0,
    order_v2026,
)

INCLUDED_DATA = frozenset(
    {
        "BUYER",
        "RECIPIENT",
        "PROCEEDS",
        "EXPENSE",
        "PROMOTION",
        "CANCELLATION",
        "FULFILLMENT",
        "PACKAGES",
        "TAX",
        "PAYMENT",
        "FULFILLMENT_ORDERS",
    }
)
FULFILLMENT_STATUSES = frozenset(
    {
        "PENDING_AVAILABILITY",
        "PENDING",
        "UNSHIPPED",
        "PARTIALLY_SHIPPED",
        "SHIPPED",
        "CANCELLED",
        "UNFULFILLABLE",
    }
)
V0_ORDER_STATUSES = frozenset(
    {
        "PendingAvailability",
        "Pending",
        "Unshipped",
        "PartiallyShipped",
        "Shipped",
        "InvoiceUnconfirmed",
        "Canceled",
        "Unfulfillable",
    }
)
SHIPMENT_STATUSES = frozenset({"ReadyForPickup", "PickedUp", "RefusedPickup"})


# -- the search window shared by v0 getOrders and v2026 searchOrders ---------------------------


class Window:
    """Which orders a search covers: by creation or by last update, up to a bound."""

    def __init__(
        self, *, by_update: bool, after: datetime, bound: datetime, names: tuple[str, str]
    ) -> None:
        self.by_update = by_update
        self.after = after
        self.bound = bound
        self.before_name = names[1]

    def key(self, order: Order) -> datetime:
        return order.last_updated if self.by_update else order.created

    def covers(self, order: Order) -> bool:
        return self.after <= self.key(order) <= self.bound


def read_window(call: Call, created: tuple[str, str], updated: tuple[str, str]) -> Window:
    q = call.params
    created_after, created_before = q.date(created[0]), q.date(created[1])
    updated_after, updated_before = q.date(updated[0]), q.date(updated[1])
    if (created_after is None) == (updated_after is None):
        raise invalid(f"Exactly one of {created[0]} and {updated[0]} must be specified.")
    if created_after is not None and (updated_after or updated_before):
        raise invalid(f"{updated[0]} and {updated[1]} cannot be set when {created[0]} is set.")
    if updated_after is not None and (created_after or created_before):
        raise invalid(f"{created[0]} and {created[1]} cannot be set when {updated[0]} is set.")
    now = call.now
    latest = now - timedelta(seconds=call.sandbox.config.visibility_lag_seconds)
    by_update = updated_after is not None
    after = updated_after if by_update else created_after
    before = updated_before if by_update else created_before
    names = updated if by_update else created
    assert after is not None
    if after > now:
        raise invalid(f"{names[0]} cannot be in the future.")
    if before is not None:
        if before < after:
            raise invalid(f"{names[1]} must be equal to or after {names[0]}.")
        if before > latest:
            raise invalid(
                f"{names[1]} must be at least two minutes before the time of the request."
            )
    return Window(by_update=by_update, after=after, bound=before or latest, names=names)


def _fingerprint(call: Call, ignore: frozenset[str]) -> str:
    items = sorted((k, v) for k, v in call.request.query_params.multi_items() if k not in ignore)
    return hashlib.sha256(repr(items).encode()).hexdigest()


def _page(call: Call, cursor: Cursor, size: int) -> tuple[list[Order], str | None]:
    """Slice one page from a snapshot; armed page faults bend where the next page starts."""
    state = call.sandbox.state
    with state.lock:
        ids = cursor.ids[cursor.offset : cursor.offset + size]
        orders = [state.orders[order_id] for order_id in ids]
    next_offset = cursor.offset + size
    fault = call.sandbox.faults.take(call.operation, PAGE_FAULTS) if ids else None
    if fault is not None and fault.kind == "duplicate_page":
        next_offset = cursor.offset
    elif fault is not None and fault.kind == "overlapping_page":
        next_offset = cursor.offset + max(1, len(ids) - max(1, len(ids) // 2))
    token = None
    if next_offset < len(cursor.ids):
        token = call.sandbox.pages.issue(dataclasses.replace(cursor, offset=next_offset))
    return orders, token


def _cursor_from_token(call: Call, name: str, fingerprint: str | None) -> Cursor:
    token = call.params.text(name)
    assert token is not None
    cursor = call.sandbox.pages.get(token, call.now)
    if cursor is None:
        raise invalid(f"Invalid or expired {name}.")
    if fingerprint is not None and fingerprint != cursor.fingerprint:
        raise invalid(
            f"The request parameters must be the same as in the request that returned the {name}."
        )
    return cursor


def _snapshot(
    call: Call, window: Window, keep: Callable[[Order], bool], fingerprint: str
) -> Cursor:
    state = call.sandbox.state
    now = call.now
    with state.lock:
        matches = [
            order for order in state.visible_orders(now) if window.covers(order) and keep(order)
        ]
    matches.sort(key=lambda order: (window.key(order), order.order_id))
    return Cursor(
        [order.order_id for order in matches],
        0,
        fingerprint,
        window.bound,
        now + TOKEN_LIFETIME,
        window.before_name,
    )


# -- v2026-01-01 ----------------------------------------------------------------------------

_PAGE_ONLY_2026 = frozenset({"paginationToken", "maxResultsPerPage", "includedData"})
_WINDOW_2026 = (("createdAfter", "createdBefore"), ("lastUpdatedAfter", "lastUpdatedBefore"))


async def search_orders(call: Call) -> Response:
    q = call.params
    size = q.integer("maxResultsPerPage", default=100, low=1, high=100)
    included = set(q.array("includedData", allowed=INCLUDED_DATA))
    statuses = set(q.array("fulfillmentStatuses", allowed=FULFILLMENT_STATUSES))
    marketplaces = set(q.array("marketplaceIds", max_items=50))
    fulfilled_by = set(q.array("fulfilledBy", allowed=frozenset(FULFILLED_BY.values())))
    fingerprint = _fingerprint(call, _PAGE_ONLY_2026)
    filters_given = any(k not in _PAGE_ONLY_2026 for k in call.request.query_params)
    if q.has("paginationToken"):
        cursor = _cursor_from_token(call, "paginationToken", fingerprint if filters_given else None)
    else:
        window = read_window(call, *_WINDOW_2026)

        def keep(order: Order) -> bool:
            return (
                (not statuses or V2026_STATUS[order.status] in statuses)
                and (not marketplaces or order.marketplace_id in marketplaces)
                and (not fulfilled_by or FULFILLED_BY[order.fulfillment_channel] in fulfilled_by)
            )

        cursor = _snapshot(call, window, keep, fingerprint)
    orders, token = _page(call, cursor, size)
    body: dict[str, Any] = {"orders": [order_v2026(order, included) for order in orders]}
    if token is not None:
        body["pagination"] = {"nextToken": token}
    body[cursor.bound_name] = iso(cursor.bound)
    return json_response(body)


async def get_order_2026(call: Call) -> Response:
    included = set(call.params.array("includedData", allowed=INCLUDED_DATA))
    state = call.sandbox.state
    with state.lock:
        order = state.get_order(call.request.path_params["orderId"])
        return json_response({"order": order_v2026(order, included)})


# -- v0 ------------------------------------------------------------------------------------

_PAGE_ONLY_V0 = frozenset({"NextToken", "MaxResultsPerPage"})
_WINDOW_V0 = (("CreatedAfter", "CreatedBefore"), ("LastUpdatedAfter", "LastUpdatedBefore"))


async def get_orders(call: Call) -> Response:
    q = call.params
    marketplaces = set(q.array("MarketplaceIds", required=True, max_items=50))
    size = q.integer("MaxResultsPerPage", default=100, low=1, high=100)
    statuses = set(q.array("OrderStatuses", allowed=V0_ORDER_STATUSES))
    channels = set(q.array("FulfillmentChannels", allowed=frozenset({"AFN", "MFN"})))
    order_ids = set(q.array("AmazonOrderIds", max_items=50))
    q.array("PaymentMethods", allowed=frozenset({"COD", "CVS", "Other"}))
    if q.has("NextToken"):
        # The model: NextToken "doesn't affect any filters"; they are ignored.
        cursor = _cursor_from_token(call, "NextToken", None)
    else:
        window = read_window(call, *_WINDOW_V0)

        def keep(order: Order) -> bool:
            return (
                order.marketplace_id in marketplaces
                and (not statuses or order.status in statuses)
                and (not channels or order.fulfillment_channel in channels)
                and (not order_ids or order.order_id in order_ids)
            )

        cursor = _snapshot(call, window, keep, _fingerprint(call, _PAGE_ONLY_V0))
    orders, token = _page(call, cursor, size)
    payload: dict[str, Any] = {"Orders": [order_v0(order) for order in orders]}
    if token is not None:
        payload["NextToken"] = token
    payload[cursor.bound_name] = iso(cursor.bound)
    return json_response({"payload": payload})


async def get_order_v0(call: Call) -> Response:
    state = call.sandbox.state
    with state.lock:
        order = state.get_order(call.request.path_params["orderId"])
        return json_response({"payload": order_v0(order)})


async def get_order_items(call: Call) -> Response:
    state = call.sandbox.state
    order_id = call.request.path_params["orderId"]
    size = call.sandbox.config.order_items_page_size
    with state.lock:
        order = state.get_order(order_id)
        if call.params.has("NextToken"):
            cursor = _cursor_from_token(call, "NextToken", None)
            if cursor.fingerprint != order_id:
                raise invalid("NextToken does not belong to this order.")
        else:
            cursor = Cursor(
                [line.order_item_id for line in order.lines],
                0,
                order_id,
                call.now,
                call.now + TOKEN_LIFETIME,
            )
        wanted = cursor.ids[cursor.offset : cursor.offset + size]
        lines = {line.order_item_id: line for line in order.lines}
        payload: dict[str, Any] = {
            "OrderItems": [order_item_v0(order, lines[item_id]) for item_id in wanted],
            "AmazonOrderId": order.order_id,
        }
    if cursor.offset + size < len(cursor.ids):
        payload["NextToken"] = call.sandbox.pages.issue(
            Cursor(cursor.ids, cursor.offset + size, order_id, cursor.bound, cursor.expires_at)
        )
    return json_response({"payload": payload})


async def get_order_address(call: Call) -> Response:
    state = call.sandbox.state
    with state.lock:
        order = state.get_order(call.request.path_params["orderId"])
        payload: dict[str, Any] = {"AmazonOrderId": order.order_id}
        body = order_v0(order)
        if "ShippingAddress" in body:
            payload["ShippingAddress"] = body["ShippingAddress"]
        return json_response({"payload": payload})


async def get_order_buyer_info(call: Call) -> Response:
    state = call.sandbox.state
    with state.lock:
        order = state.get_order(call.request.path_params["orderId"])
        payload = {"AmazonOrderId": order.order_id, "BuyerEmail": order.buyer_email}
        if order.status != "Pending":
            payload["BuyerName"] = order.buyer_name
        return json_response({"payload": payload})


def _string(body: dict[str, Any], name: str, where: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{where}{name} is required and must be a non-empty string.")
    return value


def _items(value: Any, where: str, *, required: bool) -> dict[str, int]:
    if value is None and not required:
        return {}
    if not isinstance(value, list) or not value:
        raise invalid(f"{where} must be a non-empty array.")
    items: dict[str, int] = {}
    for index, entry in enumerate(value):
        place = f"{where}[{index}]"
        if not isinstance(entry, dict):
            raise invalid(f"{place} must be an object.")
        item_id = _string(entry, "orderItemId", f"{place}.")
        quantity = entry.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise invalid(f"{place}.quantity must be a positive integer.")
        items[item_id] = items.get(item_id, 0) + quantity
    return items


async def confirm_shipment(call: Call) -> Response:
    body = await call.json_body()
    marketplace_id = _string(body, "marketplaceId", "")
    detail = body.get("packageDetail")
    if not isinstance(detail, dict):
        raise invalid("packageDetail is required.")
    if "codCollectionMethod" in body and body["codCollectionMethod"] != "DirectPayment":
        raise invalid("codCollectionMethod must be DirectPayment.")
    reference = detail.get("packageReferenceId")
    if isinstance(reference, int) and not isinstance(reference, bool):
        reference = str(reference)
    if not isinstance(reference, str) or not reference.isdigit() or int(reference) < 1:
        raise invalid("packageDetail.packageReferenceId must be a positive numeric value.")
    carrier_code = _string(detail, "carrierCode", "packageDetail.")
    carrier_name = detail.get("carrierName")
    if carrier_code == "Other" and not (isinstance(carrier_name, str) and carrier_name.strip()):
        raise invalid("packageDetail.carrierName is required when carrierCode is Other.")
    tracking = _string(detail, "trackingNumber", "packageDetail.")
    ship_date_text = _string(detail, "shipDate", "packageDetail.")
    try:
        ship_date = parse_iso(ship_date_text)
    except ValueError:
        raise invalid(
            f"packageDetail.shipDate {ship_date_text!r} is not a valid ISO 8601 date-time."
        ) from None
    items = _items(detail.get("orderItems"), "packageDetail.orderItems", required=True)
    method = detail.get("shippingMethod")
    package = Package(
        package_reference_id=str(int(reference)),
        carrier_code=carrier_code,
        carrier_name=carrier_name if isinstance(carrier_name, str) else None,
        shipping_method=method if isinstance(method, str) else None,
        tracking_number=tracking,
        ship_date=ship_date,
        items=items,
        created=call.now,
    )
    call.sandbox.state.confirm_shipment(
        call.request.path_params["orderId"], marketplace_id, package
    )
    return Response(status_code=204)


async def update_shipment_status(call: Call) -> Response:
    body = await call.json_body()
    marketplace_id = _string(body, "marketplaceId", "")
    status = body.get("shipmentStatus")
    if status not in SHIPMENT_STATUSES:
        raise invalid(f"shipmentStatus must be one of {', '.join(sorted(SHIPMENT_STATUSES))}.")
    _items(body.get("orderItems"), "orderItems", required=False)
    call.sandbox.state.update_shipment_status(
        call.request.path_params["orderId"], marketplace_id, status
    )
    return Response(status_code=204)


def routes() -> list[Route]:
    v2026 = "/orders/2026-01-01/orders"
    v0 = "/orders/v0/orders"
    return [
        Route(v2026, operation("searchOrders", search_orders), methods=["GET"]),
        Route(v2026 + "/{orderId}", operation("getOrder", get_order_2026), methods=["GET"]),
        Route(v0, operation("getOrders", get_orders), methods=["GET"]),
        Route(v0 + "/{orderId}", operation("getOrderV0", get_order_v0), methods=["GET"]),
        Route(
            v0 + "/{orderId}/orderItems",
            operation("getOrderItems", get_order_items),
            methods=["GET"],
        ),
        Route(
            v0 + "/{orderId}/address",
            operation("getOrderAddress", get_order_address),
            methods=["GET"],
        ),
        Route(
            v0 + "/{orderId}/buyerInfo",
            operation("getOrderBuyerInfo", get_order_buyer_info),
            methods=["GET"],
        ),
        Route(
            v0 + "/{orderId}/shipmentConfirmation",
            operation("confirmShipment", confirm_shipment),
            methods=["POST"],
        ),
        Route(
            v0 + "/{orderId}/shipment",
            operation("updateShipmentStatus", update_shipment_status),
            methods=["POST"],
        ),
    ]
