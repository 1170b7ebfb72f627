"""How big each benchmark runs: full sizes for figures, toy sizes for the smoke test."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    label: str
    skus: int
    hot_skus: int
    clients: tuple[int, ...]
    seconds: float
    warmup: float
    import_orders: int
    import_probe: int
    import_batches: tuple[int, ...]
    api_connections: int
    api_seconds: float
    api_orders: int
    """Orders in the database before the API's GET is measured."""
    dashboard_orders: int
    dashboard_samples: int


FULL = Sizes(
    label="full",
    skus=100_000,
    hot_skus=10,
    clients=(1, 4, 16),
    seconds=5.0,
    warmup=1.0,
    import_orders=100_000,
    import_probe=3_000,
    import_batches=(100, 500, 2_000),
    api_connections=32,
    api_seconds=10.0,
    api_orders=2_000,
    dashboard_orders=1_000_000,
    dashboard_samples=40,
)

QUICK = Sizes(
    label="quick",
    skus=500,
    hot_skus=10,
    clients=(1, 4),
    seconds=0.4,
    warmup=0.1,
    import_orders=200,
    import_probe=60,
    import_batches=(20, 60),
    api_connections=4,
    api_seconds=1.0,
    api_orders=20,
    dashboard_orders=3_000,
    dashboard_samples=5,
)
