"""Opaque page tokens over result snapshots.

The first page of a search fixes the list of matching ids; later pages slice that list and
render each order as it is now. Without faults, a client therefore sees every match exactly
once even while orders change between its page requests."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(slots=True)
class Cursor:
    ids: list[str]
    offset: int
    fingerprint: str
    bound: datetime
    expires_at: datetime
    # The response echoes the bound under the name of the window the search used.
    bound_name: str = "lastUpdatedBefore"


class PageTokens:
    def __init__(self) -> None:
        self._cursors: dict[str, Cursor] = {}
        self._lock = threading.Lock()

    def issue(self, cursor: Cursor) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._cursors[token] = cursor
        return token

    def get(self, token: str, now: datetime) -> Cursor | None:
        with self._lock:
            cursor = self._cursors.get(token)
            if cursor is None or now >= cursor.expires_at:
                return None
            return cursor

    def purge(self, now: datetime) -> None:
        with self._lock:
            self._cursors = {t: c for t, c in self._cursors.items() if now < c.expires_at}


TOKEN_LIFETIME = timedelta(hours=24)
