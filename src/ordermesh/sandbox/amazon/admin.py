"""Sandbox-only paths under /_sandbox: ground truth, seeding, faults, statistics, and the
presigned-style document URLs. None of them needs an access token."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ordermesh.sandbox.amazon.clock import ManualClock, iso
from ordermesh.sandbox.amazon.faults import KINDS, Fault
from ordermesh.sandbox.amazon.state import Listing, Order, OrderRequest, SandboxError
from ordermesh.sandbox.amazon.transport import error_response, json_response
from ordermesh.sandbox.amazon.wire import order_item_v0, order_v0

if TYPE_CHECKING:
    from ordermesh.sandbox.amazon.sandbox import Sandbox


def _sandbox(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    sandbox.tick()
    return sandbox


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SandboxError(400, "InvalidInput", "The request body is not valid JSON.") from None


def _refusing(handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except SandboxError as refused:
            return error_response(refused.status, refused.code, refused.message, refused.details)

    endpoint.__name__ = handler.__name__
    return endpoint


def ground_truth(order: Order) -> dict[str, Any]:
    body = order_v0(order)
    body["OrderItems"] = [order_item_v0(order, line) for line in order.lines]
    body["VisibleAfter"] = iso(order.visible_after)
    body["Packages"] = [
        {
            "packageReferenceId": p.package_reference_id,
            "carrierCode": p.carrier_code,
            "trackingNumber": p.tracking_number,
            "shipDate": iso(p.ship_date),
            "orderItems": [{"orderItemId": k, "quantity": v} for k, v in p.items.items()],
        }
        for p in order.packages.values()
    ]
    return body


async def stats(request: Request) -> Response:
    sandbox = _sandbox(request)
    return json_response(
        {
            "throttled": sandbox.limiter.throttled,
            "throttledByOperation": sandbox.limiter.throttled_by_operation,
            "requests": sandbox.stats.requests,
            "statuses": sandbox.stats.statuses,
            "faultsServed": sandbox.faults.served,
            "accessTokensIssued": sandbox.lwa.issued,
            "orders": len(sandbox.state.orders),
            "notifications": len(sandbox.state.notifications),
            "now": iso(sandbox.clock.now()),
        }
    )


async def arm_fault(request: Request) -> Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    kind = str(body.get("kind", ""))
    if kind not in KINDS:
        raise SandboxError(400, "InvalidInput", f"kind must be one of {', '.join(sorted(KINDS))}.")
    count = int(body.get("count", 1))
    delay = float(body.get("delaySeconds", body.get("delay_seconds", 30.0)))
    fault = Fault(str(body.get("operation", "*")), kind, count, delay)
    if kind == "late_update":
        sandbox.state.delay_next_updates(count, float(body.get("delaySeconds", 600.0)))
    else:
        sandbox.faults.arm(fault)
    return json_response(fault.as_json(), 201)


async def list_faults(request: Request) -> Response:
    sandbox = _sandbox(request)
    return json_response({"faults": [f.as_json() for f in sandbox.faults.pending()]})


async def clear_faults(request: Request) -> Response:
    _sandbox(request).faults.clear()
    return Response(status_code=204)


async def list_orders(request: Request) -> Response:
    sandbox = _sandbox(request)
    with sandbox.state.lock:
        orders = sorted(sandbox.state.orders.values(), key=lambda o: (o.created, o.order_id))
        return json_response({"orders": [ground_truth(order) for order in orders]})


async def create_orders(request: Request) -> Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    items = body.get("items")
    order_request = OrderRequest(
        marketplace_id=body.get("marketplaceId"),
        fulfillment_channel=body.get("fulfillmentChannel"),
        is_prime=body.get("isPrime"),
        is_business=body.get("isBusiness"),
        buyer_cancel=body.get("buyerCancel"),
        cancel_while_pending=body.get("cancelWhilePending"),
        items=[(str(i["sku"]), int(i.get("quantity", 1))) for i in items] if items else None,
    )
    if order_request.fulfillment_channel not in (None, "AFN", "MFN"):
        raise SandboxError(400, "InvalidInput", "fulfillmentChannel must be AFN or MFN.")
    with sandbox.state.lock:
        orders = sandbox.generate(int(body.get("count", 1)), order_request)
        return json_response({"orders": [ground_truth(order) for order in orders]}, 201)


async def cancel_order(request: Request) -> Response:
    sandbox = _sandbox(request)
    with sandbox.state.lock:
        order = sandbox.state.cancel(request.path_params["orderId"])
        return json_response(ground_truth(order))


def _listing_json(listing: Listing) -> dict[str, Any]:
    return {
        "sku": listing.sku,
        "asin": listing.asin,
        "fnSku": listing.fnsku,
        "title": listing.title,
        "productType": listing.product_type,
        "price": str(listing.price),
        "quantity": listing.mfn_quantity,
        "fbaQuantity": listing.fba_fulfillable,
        "lastUpdated": iso(listing.last_updated),
    }


async def list_listings(request: Request) -> Response:
    sandbox = _sandbox(request)
    with sandbox.state.lock:
        return json_response(
            {"listings": [_listing_json(item) for item in sandbox.state.listings.values()]}
        )


async def seed_listings(request: Request) -> Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    entries = body.get("listings", body) if isinstance(body, dict) else body
    if isinstance(entries, dict):
        entries = [entries]
    seeded = []
    for entry in entries:
        try:
            price = Decimal(str(entry.get("price", "19.99")))
        except InvalidOperation:
            raise SandboxError(400, "InvalidInput", "price must be a decimal.") from None
        seeded.append(
            sandbox.state.add_listing(
                sku=str(entry["sku"]),
                title=entry.get("title"),
                product_type=str(entry.get("productType", "PRODUCT")),
                price=price,
                mfn_quantity=int(entry.get("quantity", 0)),
                fba_fulfillable=int(entry.get("fbaQuantity", 0)),
                asin=entry.get("asin"),
            )
        )
    return json_response({"listings": [_listing_json(item) for item in seeded]}, 201)


async def revoke(request: Request) -> Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    sandbox.lwa.revoke(body.get("refreshToken"))
    return Response(status_code=204)


async def restore(request: Request) -> Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    sandbox.lwa.restore(body.get("refreshToken"))
    return Response(status_code=204)


async def notifications(request: Request) -> Response:
    sandbox = _sandbox(request)
    try:
        after = int(request.query_params.get("after", "0"))
    except ValueError:
        raise SandboxError(400, "InvalidInput", "after must be an integer.") from None
    with sandbox.state.lock:
        found = [
            {"sequence": n.sequence, "payload": n.payload}
            for n in sandbox.state.notifications[max(after, 0) :]
        ]
        last = len(sandbox.state.notifications)
    return json_response({"notifications": found, "last": last})


async def advance_clock(request: Request) -> Response:
    sandbox: Sandbox = request.app.state.sandbox
    if not isinstance(sandbox.clock, ManualClock):
        raise SandboxError(400, "InvalidInput", "The sandbox runs on the wall clock.")
    body = await _body(request)
    sandbox.clock.advance(float(body.get("seconds", 0)))
    sandbox.tick()
    return json_response({"now": iso(sandbox.clock.now())})


async def rate_limits(request: Request) -> Response:
    sandbox = _sandbox(request)
    body = await _body(request)
    sandbox.limiter.enabled = bool(body.get("enabled", True))
    sandbox.limiter.reset()
    return json_response({"enabled": sandbox.limiter.enabled})


async def download(request: Request) -> Response:
    sandbox = _sandbox(request)
    document = sandbox.documents.get(request.path_params["documentId"])
    if document is None or document.content is None:
        return Response(b"<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
    return Response(document.content, media_type=document.content_type)


async def upload(request: Request) -> Response:
    sandbox = _sandbox(request)
    document = sandbox.documents.get(request.path_params["documentId"])
    if document is None:
        return Response(b"<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
    document.content = await request.body()
    return Response(status_code=200)


def routes() -> list[Route]:
    base = "/_sandbox"
    return [
        Route(base + "/stats", _refusing(stats), methods=["GET"]),
        Route(base + "/faults", _refusing(arm_fault), methods=["POST"]),
        Route(base + "/faults", _refusing(list_faults), methods=["GET"]),
        Route(base + "/faults", _refusing(clear_faults), methods=["DELETE"]),
        Route(base + "/orders", _refusing(list_orders), methods=["GET"]),
        Route(base + "/orders", _refusing(create_orders), methods=["POST"]),
        Route(base + "/orders/{orderId}/cancel", _refusing(cancel_order), methods=["POST"]),
        Route(base + "/listings", _refusing(list_listings), methods=["GET"]),
        Route(base + "/listings", _refusing(seed_listings), methods=["POST"]),
        Route(base + "/revoke", _refusing(revoke), methods=["POST"]),
        Route(base + "/restore", _refusing(restore), methods=["POST"]),
        Route(base + "/notifications", _refusing(notifications), methods=["GET"]),
        Route(base + "/clock/advance", _refusing(advance_clock), methods=["POST"]),
        Route(base + "/rate-limits", _refusing(rate_limits), methods=["POST"]),
        Route(base + "/documents/{documentId}", download, methods=["GET"]),
        Route(base + "/documents/{documentId}", upload, methods=["PUT"]),
    ]
