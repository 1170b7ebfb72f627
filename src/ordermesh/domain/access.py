"""Who may do what: roles shared by API keys and dashboard users."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    VIEWER = "viewer"
    """Reads everything, changes nothing."""
    OPERATOR = "operator"
    """Works orders and stock day to day."""
    ADMIN = "admin"
    """Also manages keys, users, channels and settings."""

    def allows(self, required: Role) -> bool:
        order = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]
        return order.index(self) >= order.index(required)


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: an API key or a logged-in user."""

    id: str
    name: str
    role: Role
