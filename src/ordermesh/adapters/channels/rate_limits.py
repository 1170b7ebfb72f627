"""Token buckets shared by every worker through the database, one per (seller, operation).

A bucket refills continuously at `rate` tokens a second up to `burst`. Taking a token is one
guarded UPDATE (compare-and-set on the row as read), so two workers can never spend the same
token, on SQLite or PostgreSQL; a caller that finds the bucket empty is told how long to wait
instead of firing a request the channel would refuse with 429."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.adapters.db.repositories import insert_ignoring_conflicts
from ordermesh.ports.clock import Clock

_b = t.rate_limit_buckets.c
_CAS_ATTEMPTS = 20
_EPSILON = 1e-9
_MIN_WAIT = 0.001
KEPT_BACK = 1.0
"""Tokens every bucket of a burst of two or more keeps back. A request reaches the channel a
little after it took its token, and not always equally later (a thread switch, a busy event
loop): two requests spaced exactly 1/rate apart here can arrive closer together there, and at
full pace the second is refused (a flash sale drew 23 429s in 1,489 patches). One token in
hand absorbs up to 1/rate of such jitter and costs one request of the burst, none of the rate."""


@dataclass(frozen=True, slots=True)
class UsagePlan:
    rate: float
    """Requests per second, sustained."""
    burst: float
    """How many requests may go at once after a quiet spell."""


class SqlTokenBuckets:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def _transaction(self, work: Any) -> Any:
        with self.db.write() as conn:
            return work(conn)

    def take(self, key: str, plan: UsagePlan) -> float:
        """Take one token: 0.0 if taken, else the seconds until one is due (nothing taken)."""

        def attempt(conn: Connection) -> float | None:
            now = self.clock.now()
            row = conn.execute(
                select(_b.tokens, _b.rate, _b.burst, _b.updated_at).where(_b.key == key)
            ).first()
            if row is None:
                conn.execute(
                    insert_ignoring_conflicts(conn, t.rate_limit_buckets).values(
                        key=key,
                        tokens=plan.burst,
                        rate=plan.rate,
                        burst=plan.burst,
                        updated_at=now,
                    )
                )
                return None
            elapsed = max(0.0, (now - row.updated_at).total_seconds())
            available = min(row.burst, row.tokens + elapsed * row.rate)
            needed = 1.0 + (KEPT_BACK if row.burst >= 2 else 0.0)
            if available < needed - _EPSILON:
                if row.rate <= 0:
                    return 60.0
                # Never less than a millisecond: a wait that rounds to no time at all would
                # spin on a clock that counts in microseconds.
                return max(_MIN_WAIT, (needed - available) / row.rate)
            taken = conn.execute(
                update(t.rate_limit_buckets)
                .where(
                    _b.key == key,
                    _b.tokens == row.tokens,
                    _b.updated_at == row.updated_at,
                )
                .values(tokens=max(0.0, available - 1.0), updated_at=max(now, row.updated_at))
            )
            return 0.0 if taken.rowcount == 1 else None

        for _ in range(_CAS_ATTEMPTS):
            wait = self._transaction(attempt)
            if wait is not None:
                return wait
        # Many workers raced for the same bucket: let this one step back briefly.
        return 0.05

    def drain(self, key: str) -> None:
        """The channel said 429: whatever we believed, the bucket is empty for everyone."""
        now = self.clock.now()
        self._transaction(
            lambda conn: conn.execute(
                update(t.rate_limit_buckets).where(_b.key == key).values(tokens=0.0, updated_at=now)
            )
        )

    def adjust_rate(self, key: str, rate: float) -> None:
        """The channel told us the rate it applies (sellers with more traffic get more)."""
        if rate <= 0:
            return
        self._transaction(
            lambda conn: conn.execute(
                update(t.rate_limit_buckets).where(_b.key == key, _b.rate != rate).values(rate=rate)
            )
        )

    def levels(self, prefix: str) -> list[dict[str, Any]]:
        """Every bucket whose key starts with `prefix`, refilled to now: what each operation
        may still send at once (`available` of `burst`) and how fast it refills (`rate`/s)."""
        now = self.clock.now()
        with self.db.reader.connect() as conn:
            rows = conn.execute(
                select(t.rate_limit_buckets)
                .where(_b.key.startswith(prefix, autoescape=True))
                .order_by(_b.key)
            ).all()
        return [
            {
                "operation": row.key[len(prefix) :],
                "available": round(
                    min(
                        row.burst,
                        row.tokens + max(0.0, (now - row.updated_at).total_seconds()) * row.rate,
                    ),
                    3,
                ),
                "burst": row.burst,
                "rate_per_second": row.rate,
            }
            for row in rows
        ]

    def level(self, key: str) -> dict[str, Any] | None:
        with self.db.reader.connect() as conn:
            row = conn.execute(select(t.rate_limit_buckets).where(_b.key == key)).first()
        return dict(row._mapping) if row is not None else None
