"""The Channels page: every channel account with its sync health, "sync now", and the forms to
connect and edit an account. Credentials are write-only here as in the API: a form never shows
them, and a blank credential field on the edit form keeps the stored one."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from ordermesh.domain.access import Role
from ordermesh.domain.commands import SyncChannel
from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.web.context import Web, check_csrf, redirect
from ordermesh.services.channel_accounts import AccountChange


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    """As the API names it: `name`, `settings.region`, `secrets.refresh_token`."""
    label: str
    kind: str = "text"
    """text, password (a credential) or select."""
    choices: tuple[str, ...] = ()
    hint: str = ""


FIELDS: dict[str, tuple[Field, ...]] = {
    "amazon": (
        Field("name", "Account name", hint="How your team calls it, e.g. Amazon EU."),
        Field("settings.selling_partner_id", "Selling partner id"),
        Field("settings.region", "Region", "select", ("NA", "EU", "FE")),
        Field(
            "settings.marketplace_ids",
            "Marketplace ids",
            hint="Separated by commas, e.g. A1PA6795UKMFR9, A1F83G8C2ARO7P.",
        ),
        Field("settings.lwa_client_id", "LWA client id"),
        Field(
            "settings.endpoint", "Endpoint", "select", ("production", "amazon_sandbox", "custom")
        ),
        Field("settings.api_base_url", "API URL", hint="Only for a custom endpoint."),
        Field("secrets.lwa_client_secret", "LWA client secret", "password"),
        Field("secrets.refresh_token", "Refresh token", "password"),
    ),
    "shopify": (
        Field("name", "Account name", hint="How your team calls it, e.g. Our shop."),
        Field("settings.shop_domain", "Shop domain", hint="your-shop.myshopify.com"),
        Field(
            "settings.admin_url",
            "Admin API URL",
            hint="Leave blank for Shopify itself; set it for a sandbox.",
        ),
        Field("secrets.access_token", "Admin API access token", "password"),
        Field("secrets.webhook_secret", "App client secret", "password", hint="Signs webhooks."),
    ),
}
CHANNEL_NAMES = {"amazon": "Amazon", "shopify": "Shopify"}


@dataclass
class AccountForm:
    """An account form as shown or last submitted, with an error per field (None: the form)."""

    channel: str
    account: dict[str, Any] | None = None
    """The account being edited; None when connecting a new one."""
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str | None, str] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[Field, ...]:
        return FIELDS[self.channel]


def _shown(account: dict[str, Any]) -> dict[str, str]:
    values = {"name": account["name"]}
    for key, value in account["settings"].items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value is not None and not isinstance(value, dict):
            values[f"settings.{key}"] = str(value)
    return values


def _read(form: FormData, state: AccountForm) -> tuple[dict[str, Any], dict[str, str]]:
    """Settings and credentials from the form. Blank settings are left out (on an edit: removed);
    blank credentials are left out (on an edit: kept)."""
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for spec in state.fields:
        raw = str(form.get(spec.name) or "").strip()
        if spec.kind != "password":
            state.values[spec.name] = raw
        if spec.name.startswith("settings."):
            key = spec.name.removeprefix("settings.")
            if key == "marketplace_ids":
                settings[key] = [m for m in re.split(r"[\s,]+", raw) if m] or None
            else:
                settings[key] = raw or None
        elif spec.name.startswith("secrets.") and raw:
            secrets[spec.name.removeprefix("secrets.")] = raw
    if state.account is None:
        settings = {k: v for k, v in settings.items() if v is not None}
    return settings, secrets


def _place_error(state: AccountForm, exc: DomainError) -> None:
    where = exc.field or ""
    # `settings.marketplace_ids.0` belongs next to `settings.marketplace_ids`.
    target = next(
        (f.name for f in state.fields if where == f.name or where.startswith(f.name + ".")), None
    )
    state.errors[target] = exc.message


def routes(web: Web) -> APIRouter:
    router = APIRouter()

    def page(request: Request) -> Response:
        context = {
            "accounts": web.om.channel_accounts.views(),
            "outbox": web.om.queries.outbox_status(),
            "channel_names": CHANNEL_NAMES,
        }
        return web.render(request, "channels.html", context)

    def form_page(request: Request, state: AccountForm, status_code: int = 200) -> Response:
        context = {"form": state, "channel_names": CHANNEL_NAMES}
        return web.render(request, "channel_form.html", context, status_code=status_code)

    @router.get("/channels")
    def channels(request: Request) -> Response:
        web.user(request)
        return page(request)

    @router.post("/channels/{account_id}/sync", dependencies=[Depends(check_csrf)])
    def sync_now(request: Request, account_id: str) -> Response:
        principal = web.require(request, Role.OPERATOR)
        web.om.channel_accounts.view(account_id)  # an unknown account fails before any call
        report = web.om.channels.sync(SyncChannel(account_id, actor=f"user:{principal.name}"))
        imported = report.imported
        if report.status == "synced":
            message = (
                f"Synced: {report.fetched} order version(s) read, {imported.created} new, "
                f"{imported.updated} updated."
            )
        else:
            message = f"Not synced ({report.status.replace('_', ' ')}): {report.error}"
        if not request.headers.get("hx-request"):
            return redirect("/channels", request, message)
        context = {
            "a": web.om.channel_accounts.view(account_id),
            "message": message,
            "channel_names": CHANNEL_NAMES,
        }
        return web.render(request, "channels_row.html", context)

    @router.get("/channels/new")
    def new_account(request: Request, channel: str = "shopify") -> Response:
        web.require(request, Role.ADMIN)
        return form_page(request, AccountForm(channel if channel in FIELDS else "shopify"))

    @router.post("/channels/new", dependencies=[Depends(check_csrf)])
    async def add_account(request: Request) -> Response:
        web.require(request, Role.ADMIN)
        form = await request.form()
        channel = str(form.get("channel") or "")
        if channel not in FIELDS:
            return form_page(request, AccountForm("shopify", errors={None: "Choose a channel."}))
        state = AccountForm(channel)
        settings, secrets = _read(form, state)
        try:
            made = web.om.channel_accounts.add(
                channel=channel, name=state.values["name"], settings=settings, secrets=secrets
            )
        except DomainError as exc:
            _place_error(state, exc)
            return form_page(request, state, status_code=422)
        return redirect(
            "/channels", request, f"Connected {made['name']}. The first sync runs soon."
        )

    @router.get("/channels/{account_id}/edit")
    def edit_account(request: Request, account_id: str) -> Response:
        web.require(request, Role.ADMIN)
        account = web.om.channel_accounts.view(account_id)
        state = AccountForm(account["channel"], account, _shown(account))
        state.values["status"] = account["status"]
        return form_page(request, state)

    @router.post("/channels/{account_id}/edit", dependencies=[Depends(check_csrf)])
    async def change_account(request: Request, account_id: str) -> Response:
        web.require(request, Role.ADMIN)
        account = web.om.channel_accounts.view(account_id)
        form = await request.form()
        state = AccountForm(account["channel"], account)
        settings, secrets = _read(form, state)
        status = str(form.get("status") or "") or None
        state.values["status"] = status or account["status"]
        change = AccountChange(
            name=state.values["name"],
            settings=settings,
            secrets=secrets or None,
            status=status if status != account["status"] else None,
            reauthorised=form.get("reauthorised") == "yes",
        )
        try:
            changed = web.om.channel_accounts.change(account_id, change)
        except DomainError as exc:
            _place_error(state, exc)
            return form_page(request, state, status_code=422)
        return redirect("/channels", request, f"Saved {changed['name']}.")

    return router
