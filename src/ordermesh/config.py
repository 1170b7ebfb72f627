"""Settings from the environment (ORDERMESH_*). Secrets have no usable default outside development."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "development-only-secret-key-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERMESH_", env_file=None, extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/ordermesh.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str = DEV_SECRET
    """Encrypts channel credentials at rest and signs sessions."""
    worker: bool = True
    """Run the outbox dispatcher and periodic jobs inside the serve process."""
    db_pool_size: int = Field(default=10, ge=1)
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    channel_sync_seconds: float = Field(default=60.0, gt=0)
    """How often the worker pulls changed orders from each active channel account; for a
    channel with a tight usage plan (Amazon) the shortest wait between two syncs."""
    channel_sync_max_lag_seconds: float = Field(default=600.0, gt=0)
    """Amazon accounts are synced when their expected orders fill pages, but never later than
    this after the last sync. Lower (down to channel_sync_seconds) imports sooner, at more
    SP-API requests per order; see services/sync_cadence.py."""
    stock_reconcile_seconds: float = Field(default=900.0, gt=0)
    """How often the worker reads back every channel's quantities to find and heal drift."""
    stock_sync_behind_seconds: float = Field(default=120.0, gt=0)
    """A channel whose oldest waiting stock push is older than this is behind (alerted)."""

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production" and (
            self.secret_key == DEV_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "ORDERMESH_SECRET_KEY must be set to a random value of at least 32 characters "
                "in production (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return self
