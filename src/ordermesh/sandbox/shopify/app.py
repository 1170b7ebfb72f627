"""The ASGI app: Shopify's Admin GraphQL endpoint plus the sandbox's own ``/_sandbox`` side.

Versions: the endpoint is ``/admin/api/<version>/graphql.json``. Any well-formed version
(``YYYY-01/04/07/10`` or ``unstable``) is answered with the pinned :data:`API_VERSION`, the way
Shopify falls forward from a version it no longer serves, and the ``X-Shopify-API-Version``
response header names the version that answered. Anything else is a 404, as on Shopify.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from graphql import (
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    validate,
)

from ordermesh.sandbox.shopify.config import (
    API_VERSION,
    SINGLE_QUERY_MAX_COST,
    ManualClock,
    SandboxConfig,
)
from ordermesh.sandbox.shopify.cost import CostCalculator, LeakyBucket
from ordermesh.sandbox.shopify.generator import OrderGenerator, seed_demo_catalogue
from ordermesh.sandbox.shopify.graph import MutationRoot, QueryRoot, field_resolver, schema
from ordermesh.sandbox.shopify.state import (
    CANCEL_REASONS,
    OrderLineRequest,
    SandboxError,
    Shop,
    order_payload,
)
from ordermesh.sandbox.shopify.webhooks import WebhookDispatcher

_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
_INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
_RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"


@dataclass(slots=True)
class GraphQLFaults:
    throttle: int = 0
    server_error: int = 0
    server_error_status: int = 503
    lost_answer: int = 0
    """Mutations applied whose answer then comes too late: the shop holds the connection for
    `lost_answer_seconds` (wall time) before answering, as a Shopify behind a stalled network
    does, so the caller times out not knowing the mutation took effect."""
    lost_answer_seconds: float = 5.0


@dataclass(slots=True)
class Stats:
    graphql_requests: int = 0
    throttled: int = 0
    injected_throttled: int = 0
    injected_server_errors: int = 0
    injected_lost_answers: int = 0
    max_cost_exceeded: int = 0
    unauthorized: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "graphql_requests": self.graphql_requests,
            "throttled": self.throttled,
            "injected_throttled": self.injected_throttled,
            "injected_server_errors": self.injected_server_errors,
            "injected_lost_answers": self.injected_lost_answers,
            "throttled_total": self.throttled + self.injected_throttled,
            "max_cost_exceeded": self.max_cost_exceeded,
            "unauthorized": self.unauthorized,
        }


@dataclass(slots=True)
class Sandbox:
    config: SandboxConfig
    shop: Shop
    webhooks: WebhookDispatcher
    generator: OrderGenerator
    bucket: LeakyBucket
    faults: GraphQLFaults = field(default_factory=GraphQLFaults)
    stats: Stats = field(default_factory=Stats)


def build_sandbox(config: SandboxConfig) -> Sandbox:
    dispatcher = WebhookDispatcher(
        shop_domain=config.shop_domain,
        secret=config.webhook_secret,
        url=config.webhook_url,
        clock=config.clock,
        retry_delays=config.webhook_retry_delays,
        timeout_seconds=config.webhook_timeout_seconds,
    )
    shop = Shop(
        domain=config.shop_domain,
        currency=config.currency,
        clock=config.clock,
        on_event=dispatcher.emit,
    )
    if config.demo_catalogue:
        seed_demo_catalogue(shop, random.Random(f"catalogue-{config.seed}"))
    return Sandbox(
        config=config,
        shop=shop,
        webhooks=dispatcher,
        generator=OrderGenerator(shop, config),
        bucket=LeakyBucket(config.bucket_size, config.restore_rate, config.clock),
    )


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """A fresh sandboxed shop served over ASGI; all its state lives in this app."""
    sandbox = build_sandbox(config or SandboxConfig())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await sandbox.webhooks.start()
        ticker = None
        # A manual clock only moves when a test moves it, so there the generator is ticked
        # through /_sandbox/generator/tick instead of running on its own.
        if sandbox.config.orders_per_minute > 0 and not isinstance(
            sandbox.config.clock, ManualClock
        ):
            ticker = asyncio.create_task(_run_generator(sandbox))
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with suppress(asyncio.CancelledError):
                    await ticker
            await sandbox.webhooks.stop()

    app = FastAPI(title="ordermesh Shopify sandbox", lifespan=lifespan, docs_url="/_sandbox/docs")
    app.state.sandbox = sandbox

    @app.exception_handler(SandboxError)
    async def _sandbox_error(_request: Request, exc: SandboxError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.post("/admin/api/{version}/graphql.json")
    async def graphql_endpoint(version: str, request: Request) -> Response:
        return await _graphql(sandbox, version, request)

    _add_admin_routes(app, sandbox)
    return app


async def _run_generator(sandbox: Sandbox) -> None:
    while True:
        await sandbox.config.clock.sleep(1.0)
        sandbox.generator.tick()


# --- GraphQL ---------------------------------------------------------------------------------


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(
        body,
        status_code=status,
        headers={"X-Shopify-API-Version": API_VERSION, "X-Request-Id": str(uuid.uuid4())},
    )


async def _graphql(sandbox: Sandbox, version: str, request: Request) -> Response:
    if not _VERSION.match(version):
        return JSONResponse({"errors": "Not Found"}, status_code=404)
    token = request.headers.get("X-Shopify-Access-Token")
    if token != sandbox.config.access_token or not sandbox.shop.installed:
        sandbox.stats.unauthorized += 1
        return JSONResponse({"errors": _INVALID_TOKEN}, status_code=401)
    sandbox.stats.graphql_requests += 1
    if sandbox.faults.server_error:
        sandbox.faults.server_error -= 1
        sandbox.stats.injected_server_errors += 1
        status = sandbox.faults.server_error_status
        return _json(
            {"errors": "Internal Server Error" if status == 500 else "Service Unavailable"}, status
        )
    raw = await request.body()
    try:
        query, variables, operation_name = _read_request(request, raw)
    except ValueError as exc:
        return _json({"errors": {"query": str(exc)}}, 400)
    try:
        document = parse(query)
    except GraphQLError as exc:
        return _json({"errors": [_error(exc)]})
    validation = validate(schema(), document)
    if validation:
        return _json({"errors": [_error(e) for e in validation]})
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    operation = next(
        (o for o in operations if o.name and o.name.value == operation_name),
        operations[0] if len(operations) == 1 or operation_name is None else None,
    )
    if operation is None:
        return _json({"errors": [{"message": f"No operation named {operation_name!r}"}]})

    calculator = CostCalculator(schema(), document, variables)
    try:
        requested = calculator.operation_cost(operation)
    except GraphQLError as exc:
        return _json({"errors": [_error(exc)]})
    if sandbox.faults.throttle:
        sandbox.faults.throttle -= 1
        sandbox.stats.injected_throttled += 1
        return _json(_throttled(sandbox, requested))
    if requested > SINGLE_QUERY_MAX_COST:
        sandbox.stats.max_cost_exceeded += 1
        return _json(
            {
                "errors": [
                    {
                        "message": f"Query cost is {requested}, which exceeds the single query "
                        f"max cost limit ({SINGLE_QUERY_MAX_COST}).",
                        "extensions": {
                            "code": "MAX_COST_EXCEEDED",
                            "cost": requested,
                            "maxCost": SINGLE_QUERY_MAX_COST,
                            "documentation": _RATE_LIMIT_DOCS,
                        },
                    }
                ]
            }
        )
    throttling = sandbox.config.throttling
    if throttling and not sandbox.bucket.try_take(requested):
        sandbox.stats.throttled += 1
        return _json(_throttled(sandbox, requested))

    shop = sandbox.shop
    root: Any = (
        MutationRoot(shop) if operation.operation == OperationType.MUTATION else QueryRoot(shop)
    )
    with shop.lock:
        result = execute(
            schema(),
            document,
            root_value=root,
            variable_values=variables,
            operation_name=operation.name.value if operation.name else None,
            field_resolver=field_resolver,
        )
    assert not asyncio.iscoroutine(result)
    if sandbox.faults.lost_answer and operation.operation == OperationType.MUTATION:
        sandbox.faults.lost_answer -= 1
        sandbox.stats.injected_lost_answers += 1
        await asyncio.sleep(sandbox.faults.lost_answer_seconds)
    actual = calculator.operation_cost(operation, result.data or {})
    if throttling:
        sandbox.bucket.refund(max(0, requested - actual))
    body: dict[str, Any] = {}
    if result.errors:
        body["errors"] = [_error(e) for e in result.errors]
    body["data"] = result.data
    body["extensions"] = {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": _throttle_status(sandbox),
        }
    }
    return _json(body)


def _read_request(request: Request, raw: bytes) -> tuple[str, dict[str, Any], str | None]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/graphql"):
        return raw.decode(), {}, None
    try:
        payload = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise ValueError("Required parameter missing or invalid") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        raise ValueError("Required parameter missing or invalid")
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        raise ValueError("variables must be an object")
    return payload["query"], variables, payload.get("operationName")


def _error(error: GraphQLError) -> dict[str, Any]:
    return dict(error.formatted)


def _throttle_status(sandbox: Sandbox) -> dict[str, float]:
    if not sandbox.config.throttling:
        return {
            "maximumAvailable": float(sandbox.bucket.maximum),
            "currentlyAvailable": float(sandbox.bucket.maximum),
            "restoreRate": float(sandbox.bucket.restore_rate),
        }
    return sandbox.bucket.status()


def _throttled(sandbox: Sandbox, requested: int) -> dict[str, Any]:
    """Shopify's THROTTLED answer: HTTP 200, no data, the bucket's state in extensions."""
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": _RATE_LIMIT_DOCS},
            }
        ],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": _throttle_status(sandbox),
            }
        },
    }


# --- the sandbox's own side --------------------------------------------------------------------


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SandboxError("body is not JSON", 400) from exc
    if not isinstance(body, dict):
        raise SandboxError("body must be a JSON object", 400)
    return body


def _int(body: dict[str, Any], key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SandboxError(f"{key} must be an integer", 400)
    return value


def _add_admin_routes(app: FastAPI, sandbox: Sandbox) -> None:
    shop = sandbox.shop

    @app.get("/_sandbox/config")
    async def show_config() -> dict[str, Any]:
        config = sandbox.config
        return {
            "shop_domain": config.shop_domain,
            "api_version": API_VERSION,
            "graphql_path": f"/admin/api/{API_VERSION}/graphql.json",
            "access_token": config.access_token,
            "webhook_url": config.webhook_url,
            "webhook_secret": config.webhook_secret,
            "throttling": config.throttling,
            "bucket_size": config.bucket_size,
            "restore_rate": config.restore_rate,
        }

    @app.post("/_sandbox/locations", status_code=201)
    async def add_location(request: Request) -> dict[str, Any]:
        body = await _body(request)
        location = shop.add_location(
            str(body.get("name") or "Location"), body.get("country_code", "US")
        )
        return {"id": location.id, "admin_graphql_api_id": f"gid://shopify/Location/{location.id}"}

    @app.post("/_sandbox/products", status_code=201)
    async def add_product(request: Request) -> dict[str, Any]:
        """Body: {title, variants: [{sku, title?, price, stock?: {location_id: available}}]}."""
        body = await _body(request)
        variants = body.get("variants") or []
        if not isinstance(variants, list) or not variants:
            raise SandboxError("variants must be a non-empty list", 400)
        try:
            specs = [
                (str(v["sku"]), str(v.get("title") or "Default Title"), Decimal(str(v["price"])))
                for v in variants
            ]
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise SandboxError(f"bad variant: {exc}", 400) from exc
        with shop.lock:
            product = shop.add_product(str(body.get("title") or "Product"), specs)
            for spec in variants:
                for location_id, available in (spec.get("stock") or {}).items():
                    shop.stock(str(spec["sku"]), int(location_id), int(available))
        return {
            "id": product.id,
            "variants": [
                {
                    "id": v,
                    "sku": shop.variants[v].sku,
                    "admin_graphql_api_id": f"gid://shopify/ProductVariant/{v}",
                    "inventory_item_id": shop.variants[v].inventory_item_id,
                }
                for v in product.variant_ids
            ],
        }

    @app.put("/_sandbox/inventory")
    async def set_stock(request: Request) -> dict[str, Any]:
        body = await _body(request)
        level = shop.stock(str(body.get("sku")), _int(body, "location_id"), _int(body, "available"))
        return {"sku": body.get("sku"), "location_id": level.location_id, **level.quantities}

    @app.get("/_sandbox/inventory")
    async def list_stock() -> list[dict[str, Any]]:
        with shop.lock:
            return [
                {
                    "sku": shop.variant_by_inventory_item(level.inventory_item_id).sku,  # type: ignore[union-attr]
                    "inventory_item_id": level.inventory_item_id,
                    "location_id": level.location_id,
                    **level.quantities,
                }
                for level in shop.levels.values()
            ]

    @app.get("/_sandbox/orders")
    async def list_orders() -> list[dict[str, Any]]:
        with shop.lock:
            return [
                order_payload(shop, o) for o in sorted(shop.orders.values(), key=lambda o: o.id)
            ]

    @app.post("/_sandbox/orders", status_code=201)
    async def create_order(request: Request) -> dict[str, Any]:
        """Body: {lines: [{sku, quantity}], financial_status?: PAID|PENDING, email?}."""
        body = await _body(request)
        try:
            lines = [OrderLineRequest(str(x["sku"]), int(x["quantity"])) for x in body["lines"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise SandboxError("lines must be a list of {sku, quantity}", 400) from exc
        order = shop.place_order(
            lines,
            email=str(body.get("email") or "buyer@example.com"),
            shipping_address=body.get("shipping_address")
            or {
                "first_name": "Sam",
                "last_name": "Buyer",
                "name": "Sam Buyer",
                "address1": "350 Fifth Avenue",
                "city": "New York",
                "province": "New York",
                "province_code": "NY",
                "zip": "10118",
                "country": "United States",
                "country_code": "US",
            },
            financial_status=str(body.get("financial_status") or "PAID").upper(),
        )
        return order_payload(shop, order)

    @app.post("/_sandbox/orders/{order_id}/cancel")
    async def cancel_order(order_id: int, request: Request) -> dict[str, Any]:
        body = await _body(request)
        reason = str(body.get("reason") or "CUSTOMER").upper()
        if reason not in CANCEL_REASONS:
            raise SandboxError(f"reason must be one of {', '.join(CANCEL_REASONS)}", 400)
        order = shop.cancel(order_id, reason=reason, restock=bool(body.get("restock", True)))
        return order_payload(shop, order)

    @app.post("/_sandbox/orders/{order_id}/refund")
    async def refund_order(order_id: int, request: Request) -> dict[str, Any]:
        """Body: {lines?: [{line_item_id, quantity}], restock?: bool, note?}."""
        body = await _body(request)
        lines = None
        if body.get("lines") is not None:
            lines = [(int(x["line_item_id"]), int(x["quantity"])) for x in body["lines"]]
        shop.refund(order_id, lines, restock=bool(body.get("restock", True)), note=body.get("note"))
        return order_payload(shop, shop.order(order_id))

    @app.post("/_sandbox/orders/{order_id}/pay")
    async def pay_order(order_id: int) -> dict[str, Any]:
        return order_payload(shop, shop.mark_paid(order_id))

    @app.post("/_sandbox/orders/{order_id}/touch")
    async def touch_order(order_id: int, request: Request) -> dict[str, Any]:
        body = await _body(request)
        return order_payload(shop, shop.touch(order_id, body.get("note")))

    @app.post("/_sandbox/generate")
    async def generate(request: Request) -> dict[str, Any]:
        body = await _body(request)
        ids = sandbox.generator.generate(_int(body, "count", 1))
        return {"order_ids": ids}

    @app.post("/_sandbox/generator/tick")
    async def tick() -> dict[str, Any]:
        return {"order_ids": sandbox.generator.tick()}

    @app.post("/_sandbox/clock/advance")
    async def advance_clock(request: Request) -> dict[str, Any]:
        clock = sandbox.config.clock
        if not isinstance(clock, ManualClock):
            raise SandboxError("the sandbox runs on the system clock", 409)
        body = await _body(request)
        seconds = body.get("seconds", 0)
        if not isinstance(seconds, int | float) or seconds < 0:
            raise SandboxError("seconds must be a non-negative number", 400)
        clock.advance(float(seconds))
        return {"now": clock.now().isoformat()}

    @app.get("/_sandbox/deliveries")
    async def deliveries() -> list[dict[str, Any]]:
        return [a.as_dict() for a in sandbox.webhooks.attempts]

    @app.post("/_sandbox/webhooks/flush")
    async def flush() -> dict[str, Any]:
        await sandbox.webhooks.flush()
        return {"attempts": len(sandbox.webhooks.attempts)}

    @app.post("/_sandbox/webhooks/resend")
    async def resend(request: Request) -> dict[str, Any]:
        body = await _body(request)
        webhook_id = str(body.get("webhook_id"))
        if webhook_id not in sandbox.webhooks.sent:
            raise SandboxError(f"no webhook {webhook_id}", 404)
        sandbox.webhooks.resend(webhook_id)
        return {"webhook_id": webhook_id}

    @app.get("/_sandbox/faults")
    async def show_faults() -> dict[str, Any]:
        return {
            "webhooks": sandbox.webhooks.faults.as_dict(),
            "graphql": {
                "throttle": sandbox.faults.throttle,
                "server_error": sandbox.faults.server_error,
                "server_error_status": sandbox.faults.server_error_status,
                "lost_answer": sandbox.faults.lost_answer,
                "lost_answer_seconds": sandbox.faults.lost_answer_seconds,
            },
        }

    @app.post("/_sandbox/faults")
    async def add_faults(request: Request) -> dict[str, Any]:
        """Body (all optional counts, added to what is pending): webhook_drop,
        webhook_duplicate, webhook_reorder, graphql_throttle, graphql_server_error,
        graphql_server_error_status (500-599), graphql_lost_answer (mutations applied but
        answered only after graphql_lost_answer_seconds)."""
        body = await _body(request)
        hooks = sandbox.webhooks.faults
        hooks.drop += _int(body, "webhook_drop", 0)
        hooks.duplicate += _int(body, "webhook_duplicate", 0)
        hooks.reorder += _int(body, "webhook_reorder", 0)
        sandbox.faults.throttle += _int(body, "graphql_throttle", 0)
        sandbox.faults.server_error += _int(body, "graphql_server_error", 0)
        status = _int(body, "graphql_server_error_status", sandbox.faults.server_error_status)
        if not 500 <= status <= 599:
            raise SandboxError("graphql_server_error_status must be a 5xx status", 400)
        sandbox.faults.server_error_status = status
        sandbox.faults.lost_answer += _int(body, "graphql_lost_answer", 0)
        seconds = body.get("graphql_lost_answer_seconds", sandbox.faults.lost_answer_seconds)
        if not isinstance(seconds, int | float) or not 0 <= seconds <= 120:
            raise SandboxError("graphql_lost_answer_seconds must be 0 to 120", 400)
        sandbox.faults.lost_answer_seconds = float(seconds)
        return await show_faults()

    @app.post("/_sandbox/app/uninstall")
    async def uninstall() -> dict[str, Any]:
        shop.uninstall()
        return {"installed": False}

    @app.get("/_sandbox/stats")
    async def stats() -> dict[str, Any]:
        attempts = sandbox.webhooks.attempts
        with shop.lock:
            orders = list(shop.orders.values())
        return {
            **sandbox.stats.as_dict(),
            "bucket": _throttle_status(sandbox),
            "orders": len(orders),
            "orders_cancelled": sum(1 for o in orders if o.cancelled_at is not None),
            "orders_refunded": sum(1 for o in orders if o.refunds and o.cancelled_at is None),
            "orders_pending": sum(1 for o in orders if o.financial_status == "PENDING"),
            "webhooks_raised": len(sandbox.webhooks.sent),
            "webhook_attempts": len(attempts),
            "webhooks_delivered": sum(1 for a in attempts if a.outcome == "delivered"),
            "webhooks_failed": sum(1 for a in attempts if a.outcome == "failed"),
            "webhooks_dropped": sum(1 for a in attempts if a.outcome == "dropped"),
        }
