"""What every SP-API operation does around its own logic: request ids, access tokens, usage
plans, armed faults, and Amazon's `errors[]` bodies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ordermesh.sandbox.amazon.clock import parse_iso
from ordermesh.sandbox.amazon.faults import REQUEST_FAULTS
from ordermesh.sandbox.amazon.lwa import AccessDenied
from ordermesh.sandbox.amazon.state import SandboxError
from ordermesh.sandbox.amazon.static_cases import StaticCase
from ordermesh.sandbox.amazon.usage_plans import plan_for

if TYPE_CHECKING:
    from ordermesh.sandbox.amazon.sandbox import Sandbox


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def error_body(code: str, message: str, details: str | None = None) -> dict[str, Any]:
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"errors": [error]}


def error_response(status: int, code: str, message: str, details: str | None = None) -> Response:
    return json_response(error_body(code, message, details), status)


@dataclass(slots=True)
class Call:
    request: Request
    sandbox: Sandbox
    seller_id: str
    operation: str

    @property
    def now(self) -> datetime:
        return self.sandbox.clock.now()

    @property
    def params(self) -> Query:
        return Query(self.request)

    async def json_body(self) -> dict[str, Any]:
        raw = await self.request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise SandboxError(400, "InvalidInput", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise SandboxError(400, "InvalidInput", "The request body must be a JSON object.")
        return body


Handler = Callable[[Call], Awaitable[Response]]


def invalid(message: str) -> SandboxError:
    return SandboxError(400, "InvalidInput", message)


class Query:
    """Query parameters read the way SP-API reads them: arrays as comma-separated lists (or
    repeated keys), dates in ISO 8601."""

    def __init__(self, request: Request) -> None:
        self._params = request.query_params

    def has(self, name: str) -> bool:
        return name in self._params

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._params.get(name)
        if value is None or value == "":
            if required:
                raise invalid(f"Missing required parameter {name}.")
            return None
        return value

    def date(self, name: str) -> datetime | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return parse_iso(value)
        except ValueError:
            raise invalid(f"{name} {value!r} is not a valid ISO 8601 date-time.") from None

    def array(
        self,
        name: str,
        *,
        required: bool = False,
        allowed: frozenset[str] | None = None,
        max_items: int | None = None,
    ) -> list[str]:
        values = [
            part.strip()
            for raw in self._params.getlist(name)
            for part in raw.split(",")
            if part.strip()
        ]
        if required and not values:
            raise invalid(f"Missing required parameter {name}.")
        if max_items is not None and len(values) > max_items:
            raise invalid(f"{name} accepts at most {max_items} values.")
        if allowed is not None:
            for value in values:
                if value not in allowed:
                    raise invalid(
                        f"{value!r} is not a valid value for {name}. "
                        f"Valid values: {', '.join(sorted(allowed))}."
                    )
        return values

    def integer(self, name: str, *, default: int, low: int, high: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise invalid(f"{name} must be an integer between {low} and {high}.") from None
        if not low <= number <= high:
            raise invalid(f"{name} must be an integer between {low} and {high}.")
        return number

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            raise invalid(f"{name} must be true or false.")
        return value.lower() == "true"


def _truncate(response: Response) -> Response:
    body = bytes(response.body)
    cut = body[: max(1, len(body) // 2)]
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(cut, status_code=response.status_code, headers=headers)


UNLIMITED = "1000.0"
"""The rate advertised while the sandbox's rate limits are off (requests per second)."""


def operation(
    name: str, handler: Handler, *, grantless_scope: str | None = None
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sandbox: Sandbox = request.app.state.sandbox
        sandbox.tick()
        plan = plan_for(name)
        headers = {
            "x-amzn-RequestId": str(uuid.uuid4()),
            # With its limits off the sandbox says so the way Amazon tells a seller granted a
            # bigger plan: a higher rate in the header, which well-behaved clients follow.
            "x-amzn-RateLimit-Limit": plan.header if sandbox.limiter.enabled else UNLIMITED,
        }
        response = await _serve(request, sandbox, name, handler, grantless_scope)
        response.headers.update(headers)
        sandbox.stats.record(name, response.status_code)
        return response

    endpoint.__name__ = name
    return endpoint


async def _serve(
    request: Request,
    sandbox: Sandbox,
    name: str,
    handler: Handler,
    grantless_scope: str | None,
) -> Response:
    try:
        seller_id = sandbox.lwa.seller_for(
            request.headers.get("x-amz-access-token"), grantless_scope=grantless_scope
        )
    except AccessDenied as denied:
        return error_response(
            403, "Unauthorized", "Access to requested resource is denied.", str(denied)
        )
    if not sandbox.limiter.try_acquire(seller_id, name):
        return error_response(
            429, "QuotaExceeded", "You exceeded your quota for the requested resource."
        )
    static = await sandbox.static_cases.match(request)
    if static is not None:
        return _static_response(static)
    fault = sandbox.faults.take(name, REQUEST_FAULTS)
    if fault is not None:
        if fault.kind == "500":
            return error_response(
                500, "InternalFailure", "We encountered an internal error. Please try again."
            )
        if fault.kind == "503":
            return error_response(
                503, "ServiceUnavailable", "Service temporarily unavailable. Please try again."
            )
        if fault.kind == "timeout":
            # The request has arrived whole and is acted on; only the answer comes too late,
            # which is the timeout a client cannot tell from one that never arrived.
            await request.body()
            await asyncio.sleep(fault.delay_seconds)
    call = Call(request=request, sandbox=sandbox, seller_id=seller_id, operation=name)
    try:
        response = await handler(call)
    except SandboxError as refused:
        response = error_response(refused.status, refused.code, refused.message, refused.details)
    if fault is not None and fault.kind == "truncated_json":
        response = _truncate(response)
    return response


def _static_response(case: StaticCase) -> Response:
    if case.status == 204 or case.response is None:
        return Response(status_code=case.status)
    return json_response(case.response, case.status)


async def static_fallback(request: Request) -> Response | None:
    """Answer a static case of an operation the dynamic sandbox does not implement."""
    sandbox: Sandbox = request.app.state.sandbox
    case = await sandbox.static_cases.match(request)
    if case is None:
        return None
    headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "x-amzn-RateLimit-Limit": plan_for(case.operation_id).header,
    }
    try:
        sandbox.lwa.seller_for(request.headers.get("x-amz-access-token"))
    except AccessDenied as denied:
        response = error_response(
            403, "Unauthorized", "Access to requested resource is denied.", str(denied)
        )
    else:
        response = _static_response(case)
    response.headers.update(headers)
    sandbox.stats.record(case.operation_id, response.status_code)
    return response
