"""An ASGI app (a sandbox, or the API beside them) served by uvicorn on a thread of this
process, on a loopback port: what the demo, the simulations, the benchmarks and the tests run
the sandboxes on."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class Served:
    """An app being served until `stop()` (or the end of a `with` block)."""

    name: str
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def loopback_socket(port: int | None = None, host: str = "127.0.0.1") -> socket.socket:
    """A socket bound on `port` if it is free, else on any free port: bound before the server
    starts, so its URL can be handed out (to a sandbox that calls back) beforehand."""
    for wanted in (port, 0) if port else (0,):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, wanted))
        except OSError:
            sock.close()
            continue
        return sock
    raise OSError(f"no free port on {host}")


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def serve_in_thread(
    app: Any, sock: socket.socket | None = None, *, name: str = "a server", **config: Any
) -> Served:
    """Serve `app` on `sock` (a free loopback port if None) and return once it listens.
    `config` overrides uvicorn's settings (by default the asyncio loop and h11, quiet)."""
    sock = sock or loopback_socket()
    settings: dict[str, Any] = {
        "log_level": "warning",
        "lifespan": "on",
        "loop": "asyncio",
        "http": "h11",
        "access_log": False,
        **config,
    }
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    # Signal handlers belong to the main thread, whose own server (or test runner) keeps them.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"serving {name}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{name} did not start")
        time.sleep(0.01)
    return Served(name, url_of(sock), server, thread)
