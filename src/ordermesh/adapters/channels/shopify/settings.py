"""A Shopify shop as ordermesh connects to it: where, with which credentials, which locations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ordermesh.domain.errors import ValidationFailed
from ordermesh.ports.channels import ChannelAccount

CHANNEL = "shopify"

API_VERSION = "2026-10"
"""The one Admin API version the connector speaks, the stable version shopify.dev lists as
latest. Shopify serves a version for at least twelve months; moving on is a change here plus
the queries in connector.py, tested against the sandbox."""

_SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


@dataclass(frozen=True, slots=True)
class ShopifySettings:
    shop_domain: str
    """The shop's permanent `<name>.myshopify.com` domain; webhooks name it in
    X-Shopify-Shop-Domain, so it identifies the account."""
    access_token: str = field(repr=False)
    """The Admin API access token (`shpat_…`) of the installed app."""
    webhook_secret: str = field(repr=False)
    """The app's client secret: Shopify signs webhooks with it."""
    locations: Mapping[str, str] = field(default_factory=dict)
    """Shopify location id (numeric, as in `gid://shopify/Location/<id>`) → ordermesh location."""
    admin_url: str | None = None
    """Where the Admin API answers; None means https://<shop_domain>. Set for the sandbox."""
    stock_location: str | None = None
    """The Shopify location id whose `available` quantity carries ordermesh's figure for the
    shop. Unset, it is the one mapped location, or the shop's primary location when none is
    mapped; with several mapped it must be chosen (see `push_location`)."""

    def __post_init__(self) -> None:
        if not _SHOP_DOMAIN.match(self.shop_domain):
            raise ValidationFailed(
                f"{self.shop_domain!r} is not a shop's myshopify.com domain "
                "(such as my-shop.myshopify.com)",
                field="settings.shop_domain",
            )
        if not self.access_token:
            raise ValidationFailed("a Shopify access token is needed", field="secrets.access_token")
        if not self.webhook_secret:
            raise ValidationFailed(
                "the app's client secret is needed to verify webhooks",
                field="secrets.webhook_secret",
            )
        # Refused when connected, not at the first push: ordermesh's figure must land in one
        # place, so with several locations mapped one must be chosen.
        self.push_location()

    @property
    def graphql_url(self) -> str:
        base = (self.admin_url or f"https://{self.shop_domain}").rstrip("/")
        return f"{base}/admin/api/{API_VERSION}/graphql.json"

    def location_code(self, shopify_location_id: str) -> str | None:
        return self.locations.get(shopify_location_id)

    def shopify_location(self, location_code: str) -> str | None:
        """The Shopify location id that an ordermesh location stands for, if it is mapped."""
        for shopify_id, code in self.locations.items():
            if code == location_code:
                return shopify_id
        return None

    def push_location(self) -> str | None:
        """The Shopify location that stock pushes set and reconciliation reads: the chosen
        one, else the only mapped one. None when the shop's primary location is meant (nothing
        mapped). Raises ValidationFailed when several are mapped and none chosen, because
        ordermesh's figure is one number per listing and must land in one place."""
        if self.stock_location:
            return self.stock_location
        if len(self.locations) == 1:
            return next(iter(self.locations))
        if not self.locations:
            return None
        raise ValidationFailed(
            f"{len(self.locations)} Shopify locations are mapped; choose the one that carries "
            "ordermesh's stock figure in settings.stock_location",
            field="settings.stock_location",
        )

    def account_settings(self) -> dict[str, Any]:
        """What goes in clear in the channel account's settings."""
        out: dict[str, Any] = {"shop_domain": self.shop_domain, "locations": dict(self.locations)}
        if self.admin_url:
            out["admin_url"] = self.admin_url
        if self.stock_location:
            out["stock_location"] = self.stock_location
        return out

    def account_secrets(self) -> dict[str, str]:
        """What is sealed in the channel account's credentials."""
        return {"access_token": self.access_token, "webhook_secret": self.webhook_secret}

    @classmethod
    def from_account(cls, account: ChannelAccount) -> ShopifySettings:
        s, secrets = account.settings, account.secrets
        return cls(
            shop_domain=str(s.get("shop_domain", "")).strip().lower(),
            access_token=secrets.get("access_token", ""),
            webhook_secret=secrets.get("webhook_secret", ""),
            locations={str(k): str(v) for k, v in (s.get("locations") or {}).items()},
            admin_url=s.get("admin_url"),
            stock_location=str(s["stock_location"]) if s.get("stock_location") else None,
        )
