"""Every refusal as an RFC 9457 problem document that names the field at fault."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from ordermesh.domain import errors
from ordermesh.entrypoints.api.responses import JsonResponse
from ordermesh.ports.storage import ConcurrencyConflict

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:ordermesh:problem:"

# Most specific first: the first class an error is an instance of decides the status.
_STATUS: Sequence[tuple[type[errors.DomainError], int]] = (
    (errors.UnknownSkus, 422),
    (errors.ValidationFailed, 422),
    (errors.NotFound, 404),
    (errors.AlreadyExists, 409),
    (errors.IllegalTransition, 409),
    (errors.InsufficientStock, 409),
    (errors.StockInvariantBroken, 409),
)


# One title per problem type, the same on every occurrence (RFC 9457 §3.1.3).
TITLES = {
    "validation-failed": "The request is not valid",
    "unknown-sku": "Unknown SKU",
    "not-found": "Not found",
    "already-exists": "Already exists",
    "illegal-transition": "Not allowed in the current state",
    "insufficient-stock": "Not enough stock",
    "stock-invariant": "Stock figures would become impossible",
    "concurrency-conflict": "Changed while processing",
    "idempotency-key-reused": "Idempotency-Key reused",
    "idempotency-key-in-use": "Idempotency-Key in use",
    "internal-error": "Internal error",
    "not-ready": "Not ready",
    "not-migrated": "Database not migrated",
}


_PROBLEM_DOC = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No key, or an unknown or revoked one", **_PROBLEM_DOC},
    403: {"description": "The key's role may not do this", **_PROBLEM_DOC},
    404: {"description": "Not found", **_PROBLEM_DOC},
    409: {"description": "Conflicts with the current state", **_PROBLEM_DOC},
    422: {"description": "Invalid input; `errors` names each field", **_PROBLEM_DOC},
}
"""Documented on every /api/v1 route, so the OpenAPI document shows the problem format."""

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


class ProblemResponse(JsonResponse):
    media_type = PROBLEM_JSON


class Problem(Exception):
    """A refusal made by the API layer itself (bad header, idempotency key reused, …)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field_errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.field_errors = field_errors or []
        self.headers = headers
        self.title = title


class ItemsRefused(errors.ValidationFailed):
    """Items of a batch refused, each named by its index (`items[3].title`)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} item(s) refused, nothing applied", field=problems[0][0])


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    field_errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{code}" if code else "about:blank",
        "title": title or TITLES.get(code or "") or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "errors": field_errors or [],
    }
    if instance:
        body["instance"] = instance
    return ProblemResponse(body, status_code=status, headers=headers)


def field_path(loc: Sequence[str | int]) -> str:
    """("body", "lines", 0, "quantity") → "lines[0].quantity"; query and header names as given."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        where = parts.pop(0)
        if not parts:
            return "body" if where == "body" else str(where)
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def status_of(exc: errors.DomainError) -> int:
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def domain_field_errors(exc: errors.DomainError) -> list[dict[str, Any]]:
    if isinstance(exc, errors.InsufficientStock):
        return [
            {
                "field": f"lines[{short.line_no - 1}].quantity",
                "message": f"{short.requested} of {short.sku} wanted, {short.available} available",
                "sku": short.sku,
                "requested": short.requested,
                "available": short.available,
            }
            for short in exc.lines
        ]
    if isinstance(exc, ItemsRefused):
        return [{"field": where, "message": message} for where, message in exc.problems]
    if isinstance(exc, errors.UnknownSkus):
        return [
            {"field": exc.field or "lines", "message": f"no product with SKU {sku}", "sku": sku}
            for sku in exc.skus
        ]
    return [{"field": exc.field, "message": exc.message}] if exc.field else []


async def _domain_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, errors.DomainError)
    return problem(
        status_of(exc),
        exc.message,
        code=exc.code,
        field_errors=domain_field_errors(exc),
        instance=request.url.path,
    )


async def _api_problem(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, Problem)
    return problem(
        exc.status,
        exc.detail,
        code=exc.code,
        title=exc.title,
        field_errors=exc.field_errors,
        headers=exc.headers,
        instance=request.url.path,
    )


async def _request_invalid(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    found = [
        {
            # A JSON syntax error's location is a character offset, not a field.
            "field": "body" if e.get("type") == "json_invalid" else field_path(e.get("loc", ())),
            "message": e.get("msg", "invalid"),
        }
        for e in exc.errors()
    ]
    described = "; ".join(f"{e['field']}: {e['message']}" for e in found)
    return problem(
        422,
        f"the request is not valid: {described}",
        code="validation-failed",
        field_errors=found,
        instance=request.url.path,
    )


async def _http_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem(
        exc.status_code, detail, headers=dict(exc.headers or {}), instance=request.url.path
    )


async def _conflict(request: Request, exc: Exception) -> ProblemResponse:
    return problem(
        409,
        "the data changed while this request ran; send it again",
        code="concurrency-conflict",
        headers={"Retry-After": "1"},
        instance=request.url.path,
    )


def internal_error() -> ProblemResponse:
    """What the caller sees of a bug: an apology and no internals (the log has the rest)."""
    return problem(
        500,
        "something went wrong on our side; it has been logged",
        code="internal-error",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(Problem, _api_problem)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ConcurrencyConflict, _conflict)
