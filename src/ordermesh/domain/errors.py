"""Domain errors: each carries what a person needs to understand and fix the problem."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


class DomainError(Exception):
    """Base of every refusal the domain makes. `code` is stable; `field` names the input at fault."""

    code = "domain-error"
    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class ValidationFailed(DomainError):
    code = "validation-failed"


class NotFound(DomainError):
    code = "not-found"


class AlreadyExists(DomainError):
    code = "already-exists"


@dataclass(frozen=True, slots=True)
class ShortLine:
    """One order line (or bundle component) that stock could not fill."""

    line_no: int
    sku: str
    requested: int
    available: int

    @property
    def missing(self) -> int:
        return self.requested - self.available


class InsufficientStock(DomainError):
    """Every short line of an order, reported together so the seller sees the whole picture."""

    code = "insufficient-stock"

    def __init__(self, lines: list[ShortLine]) -> None:
        self.lines = lines
        described = ", ".join(
            f"line {s.line_no} {s.sku}: {s.requested} wanted, {s.available} available"
            for s in lines
        )
        super().__init__(f"not enough stock for {len(lines)} line(s): {described}")


class IllegalTransition(DomainError):
    code = "illegal-transition"
    field = "status"

    def __init__(self, order_ref: str, current: str, target: str, why: str) -> None:
        self.current, self.target = current, target
        super().__init__(f"order {order_ref} cannot go from {current} to {target}: {why}")


class StockInvariantBroken(DomainError):
    """A movement would leave reserved above on-hand or a figure below zero."""

    code = "stock-invariant"

    def __init__(self, sku: str, location: str, why: str) -> None:
        self.sku, self.location = sku, location
        super().__init__(f"{sku} at {location}: {why}", field="quantity")


class UnknownSkus(DomainError):
    code = "unknown-sku"
    field = "lines"

    def __init__(self, skus: list[str]) -> None:
        self.skus = skus
        super().__init__(f"unknown SKU(s): {', '.join(skus)}")


@dataclass(slots=True)
class RowError:
    """A rejected row of an import: where it was, which field, and why."""

    line: int
    field: str | None
    reason: str
    raw: dict[str, str] = dataclasses.field(default_factory=dict)
