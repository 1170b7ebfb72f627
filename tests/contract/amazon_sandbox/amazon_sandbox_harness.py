"""Harness for the Amazon sandbox contract tests: the sandbox served by uvicorn on a loopback
port, an httpx client that talks to it like an SP-API client, and a check of every response
body against the operation's schema in Amazon's own models."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import orjson

REPO = Path(__file__).resolve().parents[3]
SPEC_DIR = REPO.parent / "shared" / "reference" / "sp-api"

# The package is installed from an empty tree in some checkouts; fall back to the source.
if importlib.util.find_spec("ordermesh.sandbox") is None:
    sys.path.insert(0, str(REPO / "src"))

import uvicorn  # noqa: E402

from ordermesh.entrypoints.serving import serve_in_thread  # noqa: E402
from ordermesh.sandbox.amazon import ManualClock, SandboxConfig, create_app  # noqa: E402
from ordermesh.sandbox.amazon.sandbox import Sandbox  # noqa: E402

CLIENT_ID = "amzn1.application-oa2-client.contract"
CLIENT_SECRET = "contract-secret"
REFRESH_TOKEN = "Atzr|contract-refresh"
SELLER_ID = "A2CONTRACT0001"
US = "ATVPDKIKX0DER"
DE = "A1PA6795UKMFR9"

_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value:
        raise ValueError(value)
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@cache
def model(name: str) -> dict[str, Any]:
    return orjson.loads((SPEC_DIR / name).read_bytes())


def _operation(model_name: str, operation_id: str) -> dict[str, Any]:
    for methods in model(model_name)["paths"].values():
        for op in methods.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op
    raise LookupError(f"{operation_id} not in {model_name}")


def response_schema(model_name: str, operation_id: str, status: int) -> dict[str, Any] | None:
    """The operation's schema for this status; raises if the model declares no such status."""
    responses = _operation(model_name, operation_id)["responses"]
    declared = responses.get(str(status))
    if declared is None:
        raise AssertionError(f"{operation_id} has no {status} response in {model_name}")
    return declared.get("schema")


def validate_response(model_name: str, operation_id: str, response: httpx.Response) -> None:
    schema = response_schema(model_name, operation_id, response.status_code)
    if schema is None:
        assert response.content == b"", f"{operation_id} {response.status_code} must have no body"
        return
    document = {**schema, "definitions": model(model_name).get("definitions", {})}
    jsonschema.Draft4Validator(document, format_checker=_formats).validate(response.json())


def validate_document(schema_file: str, instance: Any) -> None:
    """Validate against one of the standalone JSON Schemas (notifications, feed reports)."""
    schema = model(schema_file)
    jsonschema.Draft7Validator(schema, format_checker=_formats).validate(instance)


# -- the server ----------------------------------------------------------------------------


class RunningSandbox:
    def __init__(self, sandbox: Sandbox, clock: ManualClock, base_url: str) -> None:
        self.sandbox = sandbox
        self.clock = clock
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10.0)

    def token(self) -> str:
        response = self.http.post(
            "/auth/o2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": REFRESH_TOKEN,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def client(self) -> SpApiClient:
        return SpApiClient(self, self.token())

    @functools.cached_property
    def static_token(self) -> str:
        """A token that stays valid as long as the clock is not moved."""
        return self.token()

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, "/_sandbox" + path, **kwargs)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def settle(self) -> None:
        """Let pending orders be released and the release become visible to searches."""
        self.advance(self.sandbox.config.pending_seconds + 1)
        self.sandbox.tick()
        self.advance(self.sandbox.config.visibility_lag_seconds + 1)


class SpApiClient:
    """Sends SP-API calls with an access token and checks every answer against the model."""

    def __init__(self, running: RunningSandbox, token: str) -> None:
        self.running = running
        self.token = token

    def call(
        self,
        model_name: str,
        operation_id: str,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        validate: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {"x-amz-access-token": self.token, **kwargs.pop("headers", {})}
        extra = {"timeout": timeout} if timeout is not None else {}
        response = self.running.http.request(method, path, headers=headers, **extra, **kwargs)
        assert response.headers.get("x-amzn-RequestId"), "every response has x-amzn-RequestId"
        assert response.headers.get("x-amzn-RateLimit-Limit"), "every response has a rate"
        if validate:
            validate_response(model_name, operation_id, response)
        return response

    def search_orders(self, **params: Any) -> httpx.Response:
        return self.call(
            "orders_2026-01-01.json",
            "searchOrders",
            "GET",
            "/orders/2026-01-01/orders",
            params=params,
        )

    def get_order(self, order_id: str, **params: Any) -> httpx.Response:
        return self.call(
            "orders_2026-01-01.json",
            "getOrder",
            "GET",
            f"/orders/2026-01-01/orders/{order_id}",
            params=params,
        )

    def get_orders(self, **params: Any) -> httpx.Response:
        return self.call("ordersV0.json", "getOrders", "GET", "/orders/v0/orders", params=params)

    def get_order_items(self, order_id: str, **params: Any) -> httpx.Response:
        return self.call(
            "ordersV0.json",
            "getOrderItems",
            "GET",
            f"/orders/v0/orders/{order_id}/orderItems",
            params=params,
        )

    def confirm_shipment(self, order_id: str, body: dict[str, Any]) -> httpx.Response:
        return self.call(
            "ordersV0.json",
            "confirmShipment",
            "POST",
            f"/orders/v0/orders/{order_id}/shipmentConfirmation",
            json=body,
        )


def serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    served = serve_in_thread(app, name="the sandbox")
    return served.server, served.thread, served.url


StartSandbox = Callable[..., RunningSandbox]


class Switchboard:
    """One loopback server shared by the tests, forwarding to the sandbox of the running
    test: starting uvicorn per test would cost most of the suite's time."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await self.app(scope, receive, send)


_shared: dict[str, Any] = {}


def _switchboard() -> tuple[Switchboard, str]:
    if not _shared:
        switchboard = Switchboard()
        server, thread, base_url = serve(switchboard)
        _shared.update(switchboard=switchboard, server=server, thread=thread, url=base_url)
    return _shared["switchboard"], _shared["url"]


def stop_shared_server() -> None:
    if _shared:
        _shared["server"].should_exit = True
        _shared["thread"].join(timeout=10)
        _shared.clear()


@contextlib.contextmanager
def running_sandbox(*, dedicated: bool = False, **overrides: Any) -> Iterator[RunningSandbox]:
    """A seeded sandbox with a manual clock on a loopback port; overrides go to the config.

    `dedicated` gives it its own uvicorn server with the app's lifespan (and so its
    background ticker) running; otherwise it is served through the shared switchboard."""
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
        "seller_id": SELLER_ID,
        "orders_per_minute": 0.0,
        "seed": 7,
    }
    settings.update(overrides)
    clock = ManualClock()
    app = create_app(SandboxConfig(**settings), clock)
    if dedicated:
        server, thread, base_url = serve(app)
        running = RunningSandbox(app.state.sandbox, clock, base_url)
        try:
            yield running
        finally:
            running.http.close()
            server.should_exit = True
            thread.join(timeout=10)
        return
    switchboard, base_url = _switchboard()
    switchboard.app = app
    running = RunningSandbox(app.state.sandbox, clock, base_url)
    try:
        yield running
    finally:
        running.http.close()
        switchboard.app = None
