"""Runs the Shopify sandbox on a loopback port, and a webhook receiver beside it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn

from ordermesh.entrypoints.serving import serve_in_thread
from ordermesh.sandbox.shopify import API_VERSION, ManualClock, SandboxConfig, create_app

TOKEN = "shpat_contract_test_token"
SECRET = "contract-test-webhook-secret"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def topic(self) -> str:
        return self.headers["x-shopify-topic"]

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A merchant's webhook endpoint: records every POST, fails the first ``fail_next``."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        receiver = self.server.receiver  # type: ignore[attr-defined]
        receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
        if receiver.fail_next:
            receiver.fail_next -= 1
            self.send_response(receiver.fail_status)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/webhooks")
    server.receiver = receiver  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@dataclass
class RunningSandbox:
    base_url: str
    client: httpx.Client
    clock: ManualClock
    config: SandboxConfig

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/admin/api/{API_VERSION}/graphql.json"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post(
            self.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": self.config.access_token},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.client.request(method, f"{self.base_url}/_sandbox{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json()

    def advance(self, seconds: float) -> None:
        self.admin("POST", "/clock/advance", {"seconds": seconds})

    def flush(self) -> None:
        self.admin("POST", "/webhooks/flush")


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    served = serve_in_thread(app, name="the sandbox")
    return served.server, served.thread, served.url


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    running: list[tuple[uvicorn.Server, threading.Thread, httpx.Client]] = []

    def start(**overrides: Any) -> RunningSandbox:
        clock = ManualClock()
        settings: dict[str, Any] = {
            "access_token": TOKEN,
            "webhook_secret": SECRET,
            "clock": clock,
            "webhook_retry_delays": (60, 300, 900),
            "seed": 7,
        }
        settings.update(overrides)
        config = SandboxConfig(**settings)
        server, thread, base_url = _serve(create_app(config))
        client = httpx.Client(timeout=10)
        running.append((server, thread, client))
        return RunningSandbox(base_url, client, clock, config)

    yield start
    for server, thread, client in running:
        client.close()
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def sandbox(start_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return start_sandbox()
