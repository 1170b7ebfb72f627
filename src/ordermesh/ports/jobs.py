from __future__ import annotations

from typing import Protocol


class Wakeup(Protocol):
    """Nudges a background worker (the outbox dispatcher) to look sooner. Losing a nudge loses
    nothing: the outbox table is the truth and the worker also polls."""

    def wake(self) -> None: ...


class NoWakeup:
    def wake(self) -> None:
        return None
