"""The API served for real: uvicorn on a free loopback port in a thread, httpx as the client;
the CLI run in this process against the test database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from click.testing import Result
from typer.testing import CliRunner

from ordermesh.bootstrap import Ordermesh
from ordermesh.entrypoints.api.server import config
from ordermesh.entrypoints.cli.main import app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(om: Ordermesh) -> Iterator[str]:
    """Serve the API and dashboard until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(config(om, "127.0.0.1", port))
    # Signal handlers belong to the main thread, which pytest keeps.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Api:
    """A client per role, all against one running server."""

    url: str
    admin: httpx.Client
    operator: httpx.Client
    viewer: httpx.Client
    anonymous: httpx.Client


def _client(url: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


@pytest.fixture
def api(om: Ordermesh) -> Iterator[Api]:
    keys = {
        role: om.api_keys.create(f"{role} key", role)[1] for role in ("admin", "operator", "viewer")
    }
    with serving(om) as url:
        clients = Api(
            url,
            _client(url, keys["admin"]),
            _client(url, keys["operator"]),
            _client(url, keys["viewer"]),
            _client(url, None),
        )
        try:
            yield clients
        finally:
            for c in (clients.admin, clients.operator, clients.viewer, clients.anonymous):
                c.close()


@pytest.fixture
def cli(database_url: str) -> Callable[..., Result]:
    """`cli("orders", "list")` runs `ordermesh orders list` against the test database, with a
    terminal wide enough that tables are not cut."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(
            app, list(args), env={"ORDERMESH_DATABASE_URL": database_url, "COLUMNS": "200"}
        )

    return invoke
