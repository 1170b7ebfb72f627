"""Channel accounts: connect Amazon and Shopify accounts, see their sync health, change them,
and sync one now. Credentials are write-only: answers say only whether each is set."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ordermesh.domain.commands import SyncChannel
from ordermesh.entrypoints.api import problems
from ordermesh.entrypoints.api.deps import Admin, OmDep, Operator, Viewer
from ordermesh.entrypoints.api.responses import JsonResponse
from ordermesh.entrypoints.api.routes import API
from ordermesh.entrypoints.api.schemas import Body
from ordermesh.entrypoints.api.writes import Rendered, read, write
from ordermesh.services.channel_accounts import AccountChange

router = APIRouter(prefix=API, tags=["channels"], responses=problems.RESPONSES)


class NewChannelAccount(Body):
    channel: Literal["amazon", "shopify"]
    name: str = Field(min_length=1, max_length=200, examples=["Amazon EU"])
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Amazon: selling_partner_id, region (NA, EU, FE), marketplace_ids, "
        "lwa_client_id, endpoint (production, amazon_sandbox, custom), api_base_url. "
        "Shopify: shop_domain, locations (Shopify location id → ordermesh location), admin_url.",
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Amazon: lwa_client_secret, refresh_token. Shopify: access_token, "
        "webhook_secret. Stored encrypted, never returned.",
    )
    sync_from: AwareDatetime | None = Field(
        None, description="Where the first sync starts reading; default a week ago."
    )


class ChannelAccountChange(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = Field(
        None, description="Merged over the current settings; a key set to null is removed."
    )
    secrets: dict[str, str] | None = Field(
        None, description="Replaces the credentials named (rotation); others are kept."
    )
    status: Literal["active", "paused"] | None = Field(
        None, description="paused stops its syncs; active resumes a paused account."
    )
    reauthorised: bool = Field(
        False, description="The seller authorised ordermesh again: syncs resume."
    )


def _located(view: dict[str, Any], status: int = 200) -> Rendered:
    return status, view, {"Location": f"{API}/channel-accounts/{view['id']}"}


@router.post("/channel-accounts", status_code=201)
async def add_account(body: NewChannelAccount, request: Request, om: OmDep, who: Admin) -> Response:
    """Connect a channel account. Settings are checked before anything is stored; the
    refusal names the field (`settings.region`, `secrets.access_token`). Role: admin."""

    def add() -> dict[str, Any]:
        return om.channel_accounts.add(
            channel=body.channel,
            name=body.name,
            settings=body.settings,
            secrets=body.secrets,
            sync_from=body.sync_from,
        )

    return await write(request, om, who, add, lambda view: _located(view, 201))


@router.get("/channel-accounts")
async def list_accounts(om: OmDep, who: Viewer) -> Response:
    """Every account: status, cursor, last sync and error, orders brought in, rate-limit
    budget per operation, stock push queue. Role: viewer."""
    return JsonResponse({"items": await read(om, om.channel_accounts.views)})


@router.get("/channel-accounts/{account_id}")
async def get_account(account_id: str, om: OmDep, who: Viewer) -> Response:
    """One account, as in the list. Role: viewer."""
    return JsonResponse(await read(om, om.channel_accounts.view, account_id))


@router.patch("/channel-accounts/{account_id}")
async def change_account(
    account_id: str, body: ChannelAccountChange, request: Request, om: OmDep, who: Admin
) -> Response:
    """Rename, change settings, rotate credentials, pause or resume, or mark the account
    re-authorised. Only what is sent changes. Role: admin."""
    change = AccountChange(
        name=body.name,
        settings=body.settings,
        secrets=body.secrets,
        status=body.status,
        reauthorised=body.reauthorised,
    )
    return await write(
        request, om, who, lambda: om.channel_accounts.change(account_id, change), _located
    )


@router.post("/channel-accounts/{account_id}/sync")
async def sync_account(account_id: str, om: OmDep, who: Operator) -> Response:
    """Pull what changed on the channel now, and answer with what came in. It may wait for
    the channel's rate limits. Role: operator."""
    await read(om, om.channel_accounts.view, account_id)  # 404 before any call to the channel
    # Not on the writer thread: a sync waits on the network, and each of its pages is a
    # command of its own.
    report = await run_in_threadpool(
        om.channels.sync, SyncChannel(account_id, actor=f"api:{who.name}")
    )
    imported = report.imported
    return JsonResponse(
        {
            "account": report.account,
            "status": report.status,
            "since": report.since,
            "until": report.until,
            "pages": report.pages,
            "fetched": report.fetched,
            "created": imported.created,
            "updated": imported.updated,
            "unchanged": imported.unchanged + imported.duplicates,
            "shown_late": report.late,
            "not_imported": report.unreadable,
            "error": report.error,
            "cursor": report.cursor,
            "marketplace_since": report.marketplace_since,
            "marketplace_until": report.marketplace_until,
            "marketplace_fetched": report.marketplace_fetched,
            "marketplace_cursor": report.marketplace_cursor,
        }
    )
