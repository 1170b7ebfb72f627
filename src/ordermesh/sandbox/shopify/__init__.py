"""A stateful simulator of a Shopify shop: Admin GraphQL API and webhooks over real HTTP.

It shares no code with ordermesh's Shopify connector, so the connector is tested against an
independent reading of Shopify's documentation rather than against itself.
"""

from __future__ import annotations

from ordermesh.sandbox.shopify.app import create_app
from ordermesh.sandbox.shopify.config import API_VERSION, ManualClock, SandboxConfig, SystemClock

__all__ = ["API_VERSION", "ManualClock", "SandboxConfig", "SystemClock", "create_app"]
