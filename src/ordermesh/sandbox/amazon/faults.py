"""Failures armed at runtime through /_sandbox/faults, so a client's error handling can be
exercised on demand."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

REQUEST_FAULTS = frozenset({"500", "503", "timeout", "truncated_json"})
PAGE_FAULTS = frozenset({"duplicate_page", "overlapping_page"})
KINDS = REQUEST_FAULTS | PAGE_FAULTS | {"late_update"}
ANY_OPERATION = "*"


@dataclass(slots=True)
class Fault:
    operation: str
    kind: str
    remaining: int
    delay_seconds: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.served: dict[str, int] = {}

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, operation: str, kinds: frozenset[str]) -> Fault | None:
        """Consume one shot of the first armed fault of these kinds for this operation."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.operation in (operation, ANY_OPERATION):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    self.served[fault.kind] = self.served.get(fault.kind, 0) + 1
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
