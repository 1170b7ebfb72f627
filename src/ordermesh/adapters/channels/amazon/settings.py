"""One Amazon seller account: who it is, where its SP-API lives, and its LWA credentials.

Non-secret settings are stored in clear (`channel_accounts.settings`); the LWA client secret
and refresh token only ever sealed (`channel_accounts.secrets`). The endpoints are settings of
the account, so one ordermesh can talk to production, Amazon's sandbox and ordermesh's own
sandbox at the same time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

CHANNEL = "amazon"
LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
REGION_HOSTS = {
    "NA": "https://sellingpartnerapi-na.amazon.com",
    "EU": "https://sellingpartnerapi-eu.amazon.com",
    "FE": "https://sellingpartnerapi-fe.amazon.com",
}
SANDBOX_HOSTS = {
    "NA": "https://sandbox.sellingpartnerapi-na.amazon.com",
    "EU": "https://sandbox.sellingpartnerapi-eu.amazon.com",
    "FE": "https://sandbox.sellingpartnerapi-fe.amazon.com",
}
Region = Literal["NA", "EU", "FE"]


class AmazonAccountSettings(BaseModel):
    """What may be shown on a screen."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    selling_partner_id: str = Field(min_length=1)
    region: Region
    marketplace_ids: tuple[str, ...] = Field(min_length=1, max_length=50)
    lwa_client_id: str = Field(min_length=1)
    endpoint: Literal["production", "amazon_sandbox", "custom"] = "production"
    api_base_url: str | None = None
    """Required for `custom` (ordermesh's sandbox, a proxy); else derived from the region."""
    lwa_token_url: str | None = None
    """Defaults to Amazon's LWA, or to `{api_base_url}/auth/o2/token` for `custom`."""
    page_size: int = Field(default=100, ge=1, le=100)

    @field_validator("api_base_url", "lwa_token_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _custom_needs_a_url(self) -> AmazonAccountSettings:
        if self.endpoint == "custom" and not self.api_base_url:
            raise ValueError("a custom endpoint needs api_base_url")
        return self

    @property
    def base_url(self) -> str:
        if self.api_base_url:
            return self.api_base_url
        hosts = SANDBOX_HOSTS if self.endpoint == "amazon_sandbox" else REGION_HOSTS
        return hosts[self.region]

    @property
    def token_url(self) -> str:
        if self.lwa_token_url:
            return self.lwa_token_url
        if self.endpoint == "custom":
            return f"{self.base_url}/auth/o2/token"
        return LWA_TOKEN_URL


class AmazonCredentials(BaseModel):
    """What is sealed at rest and never logged."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    lwa_client_secret: SecretStr
    refresh_token: SecretStr

    def sealable(self) -> dict[str, str]:
        return {
            "lwa_client_secret": self.lwa_client_secret.get_secret_value(),
            "refresh_token": self.refresh_token.get_secret_value(),
        }


def read_account(
    settings: Mapping[str, Any], secrets: Mapping[str, str]
) -> tuple[AmazonAccountSettings, AmazonCredentials]:
    return AmazonAccountSettings.model_validate(dict(settings)), AmazonCredentials.model_validate(
        dict(secrets)
    )


def stored(settings: AmazonAccountSettings) -> dict[str, Any]:
    return settings.model_dump(mode="json", exclude_none=True)
