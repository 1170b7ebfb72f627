"""Fixtures of the Amazon sandbox contract tests; the harness itself lives in
amazon_sandbox_harness.py so that test modules can import it by a unique name."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from amazon_sandbox_harness import (
    RunningSandbox,
    SpApiClient,
    StartSandbox,
    running_sandbox,
    stop_shared_server,
)


@pytest.fixture
def start_sandbox() -> Iterator[StartSandbox]:
    """Start sandboxes for one test; all are stopped when it ends."""
    with contextlib.ExitStack() as stack:

        def start(**overrides: Any) -> RunningSandbox:
            return stack.enter_context(running_sandbox(**overrides))

        yield start


@pytest.fixture
def amazon(start_sandbox: StartSandbox) -> RunningSandbox:
    return start_sandbox()


@pytest.fixture
def client(amazon: RunningSandbox) -> SpApiClient:
    return amazon.client()


@pytest.fixture(scope="session", autouse=True)
def _shared_server() -> Iterator[None]:
    yield
    stop_shared_server()
