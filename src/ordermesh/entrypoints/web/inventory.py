"""Inventory: levels per SKU and location, the movement ledger, the stock forms and the
stock-count CSV import (parsed by `services.imports`, the same code the CLI uses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from starlette.datastructures import FormData
from starlette.responses import Response

from ordermesh.domain import commands as c
from ordermesh.domain.access import Role
from ordermesh.domain.errors import DomainError, RowError
from ordermesh.entrypoints.web.context import Web, check_csrf, redirect
from ordermesh.services import imports
from ordermesh.services.stock_sync_views import figure_view

LEVELS_PER_PAGE = 100
MOVEMENTS_PER_PAGE = 100

# Each form: its fields in order, with their labels, and which are whole numbers.
FORMS: dict[str, dict[str, Any]] = {
    "receive": {
        "title": "Receive stock",
        "fields": [("sku", "SKU"), ("location", "Location"), ("quantity", "Units received")],
        "numbers": {"quantity"},
        "optional": {"reference"},
    },
    "adjust": {
        "title": "Adjust stock",
        "fields": [
            ("sku", "SKU"),
            ("location", "Location"),
            ("delta", "Change in units (negative to remove)"),
            ("reason", "Reason"),
        ],
        "numbers": {"delta"},
        "optional": {"reference"},
    },
    "transfer": {
        "title": "Transfer stock",
        "fields": [
            ("sku", "SKU"),
            ("source", "From location"),
            ("destination", "To location"),
            ("quantity", "Units"),
        ],
        "numbers": {"quantity"},
        "optional": {"reference"},
    },
    "count": {
        "title": "Record a count",
        "fields": [("sku", "SKU"), ("location", "Location"), ("counted", "Units counted")],
        "numbers": {"counted"},
        "optional": {"reference"},
    },
}
# Where a domain error's field lands on each form when the names differ.
FIELD_ALIASES = {"delta": ("quantity",), "counted": ("quantity",), "source": ("location",)}


@dataclass
class FormState:
    """A stock form as last submitted: its values, and an error per field (None: the form)."""

    name: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str | None, str] = field(default_factory=dict)


@dataclass
class ImportReport:
    filename: str
    applied: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    refused: str | None = None


def _read(form: FormData, name: str) -> FormState:
    spec = FORMS[name]
    names = [f for f, _ in spec["fields"]] + sorted(spec["optional"])
    state = FormState(name, {n: str(form.get(n) or "").strip() for n in names})
    for n, label in spec["fields"]:
        value = state.values[n]
        if not value:
            state.errors[n] = f"{label} is required."
        elif n in spec["numbers"]:
            try:
                int(value)
            except ValueError:
                state.errors[n] = f"{label} must be a whole number, not “{value}”."
    return state


def _command(state: FormState, actor: str) -> c.Command:
    v = state.values
    ref = v.get("reference", "")
    if state.name == "receive":
        return c.ReceiveStock(v["sku"], v["location"].upper(), int(v["quantity"]), ref, actor)
    if state.name == "adjust":
        return c.AdjustStock(
            v["sku"], v["location"].upper(), int(v["delta"]), v["reason"], ref, actor
        )
    if state.name == "transfer":
        return c.TransferStock(
            v["sku"],
            v["source"].upper(),
            v["destination"].upper(),
            int(v["quantity"]),
            ref,
            actor,
        )
    return c.RecordCount(v["sku"], v["location"].upper(), int(v["counted"]), ref, actor)


def _place_error(state: FormState, exc: DomainError) -> None:
    names = [f for f, _ in FORMS[state.name]["fields"]]
    target = exc.field if exc.field in names else None
    if target is None:
        target = next((n for n in names if exc.field in FIELD_ALIASES.get(n, ())), None)
    state.errors[target] = exc.message


def _describe(state: FormState, result: Any) -> str:
    views = result if isinstance(result, list) else [result]
    figures = "; ".join(f"{v.sku} at {v.location}: {v.available} available" for v in views)
    return f"{FORMS[state.name]['title']}: done. {figures}."


def routes(web: Web) -> APIRouter:
    router = APIRouter()

    def page(
        request: Request,
        *,
        sku: str = "",
        location: str = "",
        cursor: str | None = None,
        form: FormState | None = None,
        report: ImportReport | None = None,
        status_code: int = 200,
    ) -> Response:
        levels = web.om.queries.stock_levels(
            sku=sku or None, location=location or None, limit=LEVELS_PER_PAGE, cursor=cursor
        )
        # Per channel listing of the SKU asked for: its figure, why, and its push.
        listings = [figure_view(f) for f in web.om.stock_sync.listings_of(sku)] if sku else []
        accounts = web.om.channel_adapters.accounts.list() if listings else []
        context = {
            "levels": levels.items,
            "listings": listings,
            "account_names": {a["id"]: a["name"] for a in accounts},
            "next_cursor": levels.next_cursor,
            "filters": {"sku": sku, "location": location},
            "locations": web.om.queries.locations(),
            "forms": FORMS,
            "form": form,
            "report": report,
        }
        return web.render(request, "inventory.html", context, status_code=status_code)

    @router.get("/inventory")
    def inventory(
        request: Request, sku: str = "", location: str = "", cursor: str | None = None
    ) -> Response:
        web.user(request)
        return page(request, sku=sku.strip(), location=location.strip(), cursor=cursor)

    @router.get("/inventory/movements")
    def movements(
        request: Request, sku: str = "", location: str = "", cursor: str | None = None
    ) -> Response:
        web.user(request)
        found = web.om.queries.movements(
            sku=sku.strip() or None,
            location=location.strip() or None,
            limit=MOVEMENTS_PER_PAGE,
            cursor=cursor,
        )
        context = {
            "movements": found.items,
            "next_cursor": found.next_cursor,
            "filters": {"sku": sku.strip(), "location": location.strip()},
            "locations": web.om.queries.locations(),
        }
        return web.render(request, "movements.html", context)

    @router.post("/inventory/import", dependencies=[Depends(check_csrf)])
    def import_counts(
        request: Request,
        file: Annotated[UploadFile, File()],
        location: Annotated[str, Form()] = "",
    ) -> Response:
        principal = web.require(request, Role.OPERATOR)
        report = ImportReport(file.filename or "the file")
        try:
            imports.check_bytes(file.file)
            table = imports.read_table(
                imports.open_text(file.file), imports.STOCK_REQUIRED, imports.STOCK_COLUMNS
            )
            parsed = imports.parse_stock(table.rows, default_location=location.strip() or None)
        except imports.FileRefused as exc:
            report.refused = exc.message
            return page(request, report=report, status_code=422)
        result = web.run(
            c.ImportStockCounts(
                tuple(parsed.rows),
                reference=f"dashboard import {report.filename}"[:200],
                actor=f"user:{principal.name}",
            )
        )
        report.applied, report.unchanged = result.applied, result.unchanged
        report.errors = sorted([*parsed.errors, *result.errors], key=lambda e: e.line)
        return page(request, report=report)

    @router.post("/inventory/{name}", dependencies=[Depends(check_csrf)])
    async def stock_form(request: Request, name: str) -> Response:
        principal = web.require(request, Role.OPERATOR)
        if name not in FORMS:
            return page(request, status_code=404)
        state = _read(await request.form(), name)
        if not state.errors:
            try:
                result = await web.run_async(_command(state, f"user:{principal.name}"))
            except DomainError as exc:
                _place_error(state, exc)
            else:
                sku = state.values["sku"]
                return redirect(f"/inventory?sku={sku}", request, _describe(state, result))
        return page(request, form=state, status_code=422)

    return router
