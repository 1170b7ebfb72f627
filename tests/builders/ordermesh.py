"""An ordermesh wired for a test, on a clock the test moves: `with an_ordermesh(url, clock)`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings
from ordermesh.ports.clock import Clock

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class ManualClock:
    """Stands still until the test moves it: `clock.advance(minutes=5)`."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@contextmanager
def an_ordermesh(
    database_url: str, clock: Clock | None = None, **settings: Any
) -> Iterator[Ordermesh]:
    """ordermesh on the test's (already migrated) database with the worker off; `settings`
    replace the defaults, e.g. `channel_sync_seconds=60`."""
    om = bootstrap(
        Settings(database_url=database_url, env="test", worker=False, **settings),
        clock=clock,
        migrate=False,
    )
    try:
        yield om
    finally:
        om.close()
