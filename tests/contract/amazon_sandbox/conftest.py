"""Fixtures of the Amazon sandbox contract tests; the harness itself lives in
amazon_sandbox_harness.py so that test modules can import it by a unique name."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from amazon_sandbox_harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    SELLER_ID,
    RunningSandbox,
    SpApiClient,
    StartSandbox,
    serve,
)

from ordermesh.sandbox.amazon import ManualClock, SandboxConfig, create_app


@pytest.fixture
def start_sandbox() -> Iterator[StartSandbox]:
    """Start a seeded sandbox with a manual clock; keyword arguments override the config."""
    started: list[tuple[uvicorn.Server, threading.Thread, RunningSandbox]] = []

    def start(**overrides: Any) -> RunningSandbox:
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
        server, thread, base_url = serve(app)
        running = RunningSandbox(app.state.sandbox, clock, base_url)
        started.append((server, thread, running))
        return running

    yield start
    for server, thread, running in started:
        running.http.close()
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def amazon(start_sandbox: StartSandbox) -> RunningSandbox:
    return start_sandbox()


@pytest.fixture
def client(amazon: RunningSandbox) -> SpApiClient:
    return amazon.client()
