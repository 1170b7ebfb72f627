"""Fulfillment Outbound API 2020-07-01 (Multi-Channel Fulfillment)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ordermesh.sandbox.amazon.clock import parse_iso
from ordermesh.sandbox.amazon.mcf import ALL_SPEEDS, SPEEDS, STATUSES, FulfillmentItem
from ordermesh.sandbox.amazon.transport import Call, invalid, json_response, operation

_POLICIES = frozenset({"FillOrKill", "FillAll", "FillAllAvailable"})
_ACTIONS = frozenset({"Ship", "Hold"})


def _text(body: dict[str, Any], name: str, where: str = "", *, max_length: int = 0) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{where}{name} is required.")
    if max_length and len(value) > max_length:
        raise invalid(f"{where}{name} must be at most {max_length} characters.")
    return value


def _address(body: dict[str, Any], name: str) -> dict[str, Any]:
    address = body.get(name)
    if not isinstance(address, dict):
        raise invalid(f"{name} is required.")
    for field in ("name", "addressLine1", "postalCode", "countryCode"):
        _text(address, field, f"{name}.")
    return address


def _items(body: dict[str, Any]) -> list[FulfillmentItem]:
    raw = body.get("items")
    if not isinstance(raw, list) or not raw:
        raise invalid("items is required and must be a non-empty array.")
    if len(raw) > 100:
        raise invalid("A fulfillment order has at most 100 line items.")
    items = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"items[{index}]."
        if not isinstance(entry, dict):
            raise invalid(f"items[{index}] must be an object.")
        item_id = _text(entry, "sellerFulfillmentOrderItemId", where, max_length=50)
        if item_id in seen:
            raise invalid(f"{where}sellerFulfillmentOrderItemId {item_id} is repeated.")
        seen.add(item_id)
        quantity = entry.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise invalid(f"{where}quantity must be a positive integer.")
        items.append(FulfillmentItem(_text(entry, "sellerSku", where), item_id, quantity))
    if sum(item.quantity for item in items) > 250:
        raise invalid("A fulfillment order has at most 250 units.")
    return items


async def get_fulfillment_preview(call: Call) -> Response:
    body = await call.json_body()
    _address(body, "address")
    items = _items(body)
    speeds = body.get("shippingSpeedCategories") or list(SPEEDS)
    if not isinstance(speeds, list) or any(speed not in ALL_SPEEDS for speed in speeds):
        raise invalid(f"shippingSpeedCategories must be among {', '.join(sorted(ALL_SPEEDS))}.")
    marketplace_id = str(body.get("marketplaceId") or call.sandbox.config.marketplaces[0])
    previews = call.sandbox.mcf.preview(marketplace_id, items, speeds)
    return json_response({"payload": {"fulfillmentPreviews": previews}})


async def create_fulfillment_order(call: Call) -> Response:
    body = await call.json_body()
    _text(body, "sellerFulfillmentOrderId", max_length=40)
    _text(body, "displayableOrderId", max_length=40)
    _text(body, "displayableOrderComment", max_length=750)
    date = _text(body, "displayableOrderDate")
    try:
        parse_iso(date)
    except ValueError:
        raise invalid(f"displayableOrderDate {date!r} is not a valid ISO 8601 date-time.") from None
    if body.get("shippingSpeedCategory") not in ALL_SPEEDS:
        raise invalid(f"shippingSpeedCategory must be one of {', '.join(sorted(ALL_SPEEDS))}.")
    if body.get("fulfillmentPolicy", "FillOrKill") not in _POLICIES:
        raise invalid(f"fulfillmentPolicy must be one of {', '.join(sorted(_POLICIES))}.")
    if body.get("fulfillmentAction", "Ship") not in _ACTIONS:
        raise invalid("fulfillmentAction must be Ship or Hold.")
    _address(body, "destinationAddress")
    items = _items(body)
    call.sandbox.mcf.create(body, items)
    return json_response({})


async def get_fulfillment_order(call: Call) -> Response:
    mcf = call.sandbox.mcf
    order = mcf.get(call.request.path_params["sellerFulfillmentOrderId"])
    return json_response({"payload": mcf.as_json(order)})


async def list_all_fulfillment_orders(call: Call) -> Response:
    since = call.params.date("queryStartDate")
    mcf = call.sandbox.mcf
    orders = [
        mcf.as_json(order)["fulfillmentOrder"]
        for order in sorted(mcf.orders.values(), key=lambda o: o.received)
        if since is None or order.status_updated >= since
    ]
    return json_response({"payload": {"fulfillmentOrders": orders}})


async def update_fulfillment_order(call: Call) -> Response:
    body = await call.json_body()
    if body.get("fulfillmentAction") == "Ship":
        call.sandbox.mcf.release(call.request.path_params["sellerFulfillmentOrderId"])
    else:
        call.sandbox.mcf.get(call.request.path_params["sellerFulfillmentOrderId"])
    return json_response({})


async def cancel_fulfillment_order(call: Call) -> Response:
    call.sandbox.mcf.cancel(call.request.path_params["sellerFulfillmentOrderId"])
    return json_response({})


async def submit_status_update(call: Call) -> Response:
    body = await call.json_body()
    status = body.get("fulfillmentOrderStatus")
    if status not in STATUSES:
        raise invalid(f"fulfillmentOrderStatus must be one of {', '.join(sorted(STATUSES))}.")
    call.sandbox.mcf.set_status(call.request.path_params["sellerFulfillmentOrderId"], status)
    return json_response({})


async def get_package_tracking_details(call: Call) -> Response:
    number = call.params.text("packageNumber", required=True)
    assert number is not None
    if not number.isdigit():
        raise invalid("packageNumber must be an integer.")
    mcf = call.sandbox.mcf
    order = mcf.order_for_package(int(number))
    return json_response({"payload": mcf.tracking(order)})


def routes() -> list[Route]:
    base = "/fba/outbound/2020-07-01"
    orders = base + "/fulfillmentOrders"
    one = orders + "/{sellerFulfillmentOrderId}"
    return [
        Route(
            orders + "/preview",
            operation("getFulfillmentPreview", get_fulfillment_preview),
            methods=["POST"],
        ),
        Route(
            orders,
            operation("createFulfillmentOrder", create_fulfillment_order),
            methods=["POST"],
        ),
        Route(
            orders,
            operation("listAllFulfillmentOrders", list_all_fulfillment_orders),
            methods=["GET"],
        ),
        Route(one, operation("getFulfillmentOrder", get_fulfillment_order), methods=["GET"]),
        Route(one, operation("updateFulfillmentOrder", update_fulfillment_order), methods=["PUT"]),
        Route(
            one + "/cancel",
            operation("cancelFulfillmentOrder", cancel_fulfillment_order),
            methods=["PUT"],
        ),
        Route(
            one + "/status",
            operation("submitFulfillmentOrderStatusUpdate", submit_status_update),
            methods=["PUT"],
        ),
        Route(
            base + "/tracking",
            operation("getPackageTrackingDetails", get_package_tracking_details),
            methods=["GET"],
        ),
    ]
