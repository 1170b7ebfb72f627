"""Login with Amazon as SP-API clients see it: refresh tokens exchanged for hour-long access
tokens at POST /auth/o2/token."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ordermesh.sandbox.amazon.clock import Clock
from ordermesh.sandbox.amazon.config import SandboxConfig


class LwaError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error_description": description, "error": error}


class AccessDenied(Exception):
    """Why an SP-API call's x-amz-access-token was refused (sent as `details`)."""


@dataclass(slots=True)
class _AccessToken:
    seller_id: str | None
    expires_at: datetime
    scope: str | None


class LwaAuthority:
    def __init__(self, config: SandboxConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._refresh_tokens: dict[str, str] = {config.refresh_token: config.seller_id}
        self._revoked: set[str] = set()
        self._access: dict[str, _AccessToken] = {}
        self.issued = 0

    def exchange(self, form: dict[str, str]) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if grant_type not in ("refresh_token", "client_credentials"):
            if not grant_type:
                raise LwaError(
                    400,
                    "invalid_request",
                    "The request is missing a required parameter : grant_type",
                )
            raise LwaError(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server",
            )
        client_id = form.get("client_id")
        client_secret = form.get("client_secret")
        if not client_id or not client_secret:
            raise LwaError(
                400, "invalid_request", "The request is missing a required parameter : client_id"
            )
        if client_id != self._config.client_id or client_secret != self._config.client_secret:
            raise LwaError(401, "invalid_client", "Client authentication failed")
        lifetime = self._config.access_token_lifetime_seconds
        token = "Atza|" + secrets.token_urlsafe(48)
        expires_at = self._clock.now() + timedelta(seconds=lifetime)
        if grant_type == "client_credentials":
            scope = form.get("scope")
            if not scope:
                raise LwaError(
                    400, "invalid_request", "The request is missing a required parameter : scope"
                )
            with self._lock:
                self._access[token] = _AccessToken(None, expires_at, scope)
                self.issued += 1
            return {
                "access_token": token,
                "scope": scope,
                "token_type": "bearer",
                "expires_in": lifetime,
            }
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            raise LwaError(
                400,
                "invalid_request",
                "The request is missing a required parameter : refresh_token",
            )
        with self._lock:
            seller_id = self._refresh_tokens.get(refresh_token)
            if seller_id is None or refresh_token in self._revoked:
                raise LwaError(
                    400,
                    "invalid_grant",
                    "The request has an invalid grant parameter : refresh_token. "
                    "User may have revoked or didn't grant the permission.",
                )
            self._access[token] = _AccessToken(seller_id, expires_at, None)
            self.issued += 1
        return {
            "access_token": token,
            "refresh_token": refresh_token,
            "token_type": "bearer",
            "expires_in": lifetime,
        }

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke a refresh token (the configured one by default) and every access token it
        produced, as when a seller removes the app's authorisation."""
        target = refresh_token or self._config.refresh_token
        with self._lock:
            self._revoked.add(target)
            seller_id = self._refresh_tokens.get(target)
            self._access = {
                token: grant
                for token, grant in self._access.items()
                if grant.seller_id is None or grant.seller_id != seller_id
            }

    def restore(self, refresh_token: str | None = None) -> None:
        with self._lock:
            self._revoked.discard(refresh_token or self._config.refresh_token)

    def seller_for(self, token: str | None, *, grantless_scope: str | None = None) -> str:
        if not token:
            raise AccessDenied("Access token is missing in the request header.")
        with self._lock:
            grant = self._access.get(token)
        if grant is None:
            raise AccessDenied("The access token you provided is revoked, malformed or invalid.")
        if self._clock.now() >= grant.expires_at:
            raise AccessDenied("The access token you provided has expired.")
        if grant.seller_id is None:
            if grantless_scope is None or grant.scope != grantless_scope:
                raise AccessDenied("The access token you provided is not valid for this operation.")
            return self._config.seller_id
        return grant.seller_id
