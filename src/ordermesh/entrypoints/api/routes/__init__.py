"""The /api/v1 routes, one module per area.

Each router carries the full prefix itself: FastAPI reports the route a request matched
without the prefixes of the routers it was included through, and metrics want the full path."""

from __future__ import annotations

API = "/api/v1"
