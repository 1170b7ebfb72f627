"""Run the API (and the dashboard) with uvicorn: one process, uvloop and httptools when
installed, access log off (the metrics count requests; a log line each would cost more)."""

from __future__ import annotations

import gc
import importlib.util
import logging

import uvicorn
from fastapi import FastAPI

from ordermesh.bootstrap import Ordermesh
from ordermesh.entrypoints.api.app import create_app


def application(om: Ordermesh) -> FastAPI:
    """The API with the dashboard beside it."""
    return create_app(om)


def config(
    om: Ordermesh,
    host: str,
    port: int,
    *,
    access_log: bool = False,
) -> uvicorn.Config:
    fast = importlib.util.find_spec("uvloop") and importlib.util.find_spec("httptools")
    return uvicorn.Config(
        application(om),
        host=host,
        port=port,
        loop="uvloop" if fast else "asyncio",
        http="httptools" if fast else "h11",
        access_log=access_log,
        log_level=om.settings.log_level.lower(),
        # A logging setup already made (structured logs) stays in charge; without one,
        # uvicorn's own shows where the server listens.
        log_config=None if logging.getLogger().handlers else uvicorn.config.LOGGING_CONFIG,
        # Keep-alive long enough for benchmark and SDK clients that pool connections.
        timeout_keep_alive=30,
    )


def settle_garbage_collector() -> None:
    """Measured under load: full collections walked every object made at start-up (the
    schema, compiled statements, templates, the app) and paused requests for up to 0.3 s.
    Frozen, those objects are never scanned again; a larger first generation collects
    request garbage less often. Objects made later are collected as before."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def serve(om: Ordermesh, host: str | None = None, port: int | None = None) -> None:
    """Serve until interrupted (the lifespan starts the in-process worker if enabled)."""
    server = uvicorn.Server(config(om, host or om.settings.host, port or om.settings.port))
    settle_garbage_collector()
    server.run()
