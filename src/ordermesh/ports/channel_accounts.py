"""What managing channel accounts asks of storage and of the channel adapters: keep the
accounts, know each channel's rules, and read the rate-limit budget an account has left."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from ordermesh.ports.channels import ChannelAccount


class ChannelAccountStore(Protocol):
    def register(
        self,
        *,
        channel: str,
        name: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
        sync_from: datetime,
    ) -> ChannelAccount:
        """Raises AlreadyExists (field `name`) for a name in use."""
        ...

    def get(self, account_id: str) -> ChannelAccount:
        """Raises NotFound for an unknown account."""
        ...

    def list(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Accounts without their credentials: at least `id`, oldest first."""
        ...

    def change(
        self,
        account_id: str,
        *,
        name: str | None = None,
        settings: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        status: str | None = None,
    ) -> None: ...

    def orders_by_account(self) -> dict[str, int]: ...


class ChannelRules(Protocol):
    """What the channel adapters know about each channel's accounts."""

    def check(self, channel: str, settings: Mapping[str, Any], secrets: Mapping[str, str]) -> None:
        """Raises ValidationFailed naming the field (`settings.region`, `secrets.access_token`)."""
        ...

    def secret_names(self, channel: str) -> tuple[str, ...]: ...

    def rate_limit_prefix(self, account: ChannelAccount) -> str | None:
        """The start of the keys of the account's token buckets; None if it has none."""
        ...


class RateLimitLevels(Protocol):
    def levels(self, prefix: str) -> list[dict[str, Any]]:
        """Per bucket under `prefix`: `operation`, `available`, `burst`, `rate_per_second`."""
        ...
