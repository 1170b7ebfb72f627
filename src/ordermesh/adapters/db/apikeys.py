"""API keys: shown once, stored as a SHA-256 hash (they are long random secrets, so a fast
hash is safe; passwords get argon2). Looked up by a public prefix, compared in constant time,
and cached briefly so that authentication is not a query on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from typing import Any

from sqlalchemy import func, insert, select, update

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.domain.access import Principal, Role
from ordermesh.domain.errors import NotFound, ValidationFailed
from ordermesh.domain.ids import new_id
from ordermesh.ports.clock import Clock

_k = t.api_keys.c
KEY_PREFIX = "om"
CACHE_SECONDS = 30.0


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlApiKeys:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: Role | str) -> tuple[Principal, str]:
        """Returns the principal and the key in plain text — the only time it is visible."""
        try:
            role = Role(role)
        except ValueError as exc:
            allowed = ", ".join(r.value for r in Role)
            raise ValidationFailed(f"role must be one of {allowed}", field="role") from exc
        if not name.strip():
            raise ValidationFailed("an API key needs a name", field="name")
        key_id = new_id("key")
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        plain = f"{KEY_PREFIX}_{prefix}_{secret}"
        with self.db.write() as conn:
            conn.execute(
                insert(t.api_keys).values(
                    id=key_id,
                    name=name.strip(),
                    prefix=prefix,
                    key_hash=_hash(plain),
                    role=str(role),
                    created_at=self.clock.now(),
                )
            )
        return Principal(key_id, name.strip(), role), plain

    def authenticate(self, presented: str) -> Principal | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(presented)
        if cached and cached[0] > now:
            return cached[1]
        principal = self._lookup(presented)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[presented] = (now + CACHE_SECONDS, principal)
        return principal

    def _lookup(self, presented: str) -> Principal | None:
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        with self.db.reader.connect() as conn:
            row = conn.execute(
                select(_k.id, _k.name, _k.role, _k.key_hash).where(
                    _k.prefix == parts[1], _k.revoked_at.is_(None)
                )
            ).first()
        if row is None or not hmac.compare_digest(row.key_hash, _hash(presented)):
            return None
        return Principal(row.id, row.name, Role(row.role))

    def revoke(self, key_id: str) -> None:
        with self.db.write() as conn:
            done = conn.execute(
                update(t.api_keys)
                .where(_k.id == key_id, _k.revoked_at.is_(None))
                .values(revoked_at=self.clock.now())
            )
        if done.rowcount == 0:
            raise NotFound(f"no active API key {key_id}", field="id")
        with self._lock:
            self._cache.clear()

    def list(self) -> list[dict[str, Any]]:
        with self.db.reader.connect() as conn:
            rows = conn.execute(
                select(_k.id, _k.name, _k.prefix, _k.role, _k.created_at, _k.revoked_at).order_by(
                    _k.created_at
                )
            ).all()
        return [dict(r._mapping) for r in rows]

    def count_active(self) -> int:
        with self.db.reader.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(t.api_keys).where(_k.revoked_at.is_(None))
                ).scalar_one()
            )
