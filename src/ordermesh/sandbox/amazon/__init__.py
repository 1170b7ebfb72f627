"""A stateful simulator of Amazon's Selling Partner API, served over real HTTP.

It shares no code with the ordermesh connectors: it reads the wire format from Amazon's own
models, so a connector tested against it is tested against an independent reading."""

from __future__ import annotations

from ordermesh.sandbox.amazon.clock import Clock, ManualClock, SystemClock
from ordermesh.sandbox.amazon.config import SandboxConfig
from ordermesh.sandbox.amazon.sandbox import Sandbox, create_app
from ordermesh.sandbox.amazon.state import OrderRequest

__all__ = [
    "Clock",
    "ManualClock",
    "OrderRequest",
    "Sandbox",
    "SandboxConfig",
    "SystemClock",
    "create_app",
]
