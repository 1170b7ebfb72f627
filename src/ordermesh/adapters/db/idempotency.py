"""Idempotency keys: a retried POST gets the answer of the first attempt, not a second order.

A key is claimed (a row with status 0) before the request runs, completed with the response
once it succeeded, and released if it failed, so the caller may retry. Claiming by insert makes
two processes racing on one key safe: exactly one wins, the other sees the claim. A claim left
behind by a crash is taken over after `STALE_CLAIM`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.ports.clock import Clock

_k = t.idempotency_keys.c
IN_PROGRESS = 0
STALE_CLAIM = timedelta(minutes=5)


class ClaimOutcome(enum.StrEnum):
    NEW = "new"
    """The caller owns the key now: run the request, then `complete` or `release`."""
    REPLAY = "replay"
    """Done before with the same request: answer with the stored response."""
    MISMATCH = "mismatch"
    """The key was used for a different request."""
    IN_PROGRESS = "in_progress"
    """The first request with this key is still running."""


@dataclass(frozen=True, slots=True)
class Claim:
    outcome: ClaimOutcome
    status_code: int = 0
    response_body: str = ""


class SqlIdempotencyStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        dialect = sqlite if db.is_sqlite else postgresql
        self._claim = dialect.insert(t.idempotency_keys).on_conflict_do_nothing()

    def claim(self, principal: str, key: str, request_hash: str) -> Claim:
        now = self.clock.now()
        with self.db.write() as conn:
            # RETURNING, not rowcount: drivers disagree on rowcount after ON CONFLICT DO NOTHING.
            inserted = conn.execute(
                self._claim.returning(_k.key).values(
                    principal=principal,
                    key=key,
                    request_hash=request_hash,
                    status_code=IN_PROGRESS,
                    response_body="",
                    created_at=now,
                )
            ).first()
            if inserted is not None:
                return Claim(ClaimOutcome.NEW)
            row = conn.execute(
                select(_k.request_hash, _k.status_code, _k.response_body, _k.created_at).where(
                    _k.principal == principal, _k.key == key
                )
            ).one()
            if row.request_hash != request_hash:
                return Claim(ClaimOutcome.MISMATCH)
            if row.status_code != IN_PROGRESS:
                return Claim(ClaimOutcome.REPLAY, row.status_code, row.response_body)
            if row.created_at < now - STALE_CLAIM and self._take_over(
                conn, principal, key, row.created_at, now
            ):
                return Claim(ClaimOutcome.NEW)
            return Claim(ClaimOutcome.IN_PROGRESS)

    def _take_over(
        self, conn: Connection, principal: str, key: str, seen: datetime, now: datetime
    ) -> bool:
        # Compare-and-set on created_at: of two processes finding the same stale claim, one wins.
        return bool(
            conn.execute(
                update(t.idempotency_keys)
                .where(
                    _k.principal == principal,
                    _k.key == key,
                    _k.status_code == IN_PROGRESS,
                    _k.created_at == seen,
                )
                .values(created_at=now)
            ).rowcount
        )

    def complete(self, principal: str, key: str, status_code: int, response_body: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(t.idempotency_keys)
                .where(_k.principal == principal, _k.key == key)
                .values(status_code=status_code, response_body=response_body)
            )

    def release(self, principal: str, key: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                delete(t.idempotency_keys).where(
                    _k.principal == principal, _k.key == key, _k.status_code == IN_PROGRESS
                )
            )

    def purge(self, older_than: timedelta = timedelta(hours=24)) -> int:
        """Forget keys older than `older_than` (clients retry within minutes, not days)."""
        with self.db.write() as conn:
            done = conn.execute(
                delete(t.idempotency_keys).where(_k.created_at < self.clock.now() - older_than)
            )
        return done.rowcount
