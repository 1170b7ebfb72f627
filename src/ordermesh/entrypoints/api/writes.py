"""How the API changes anything: commands run on `om.writes`, behind an optional Idempotency-Key.

`om.writes` has one thread on SQLite, so writes queue in arrival order instead of fighting over
SQLite's lock, and the event loop never waits on a transaction; commands that queue up together
share one transaction and its commit (group commit, see `WriteQueue`). With an Idempotency-Key,
the claim, the command and the stored answer run in the same job: one hop to the writer per
request."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
from fastapi import Request
from starlette.responses import Response

from ordermesh.bootstrap import Ordermesh
from ordermesh.domain.access import Principal
from ordermesh.domain.commands import Command
from ordermesh.entrypoints.api.problems import Problem
from ordermesh.entrypoints.api.responses import JsonResponse

Rendered = tuple[int, Any, dict[str, str]]
"""Status code, JSON body and extra headers of a successful write."""

log = logging.getLogger(__name__)
T = TypeVar("T")

HEADER = "idempotency-key"
_KEPT_HEADERS = ("location",)


class InFlight:
    """Requests of this process holding the same key wait for the first one, then replay it,
    instead of being told to retry."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, scope: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._entries.setdefault(scope, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._entries[scope]


def request_hash(method: str, path: str, body: bytes) -> str:
    """Same method, path and JSON (whatever its key order or spacing) → same hash."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def _check_key(key: str) -> str:
    key = key.strip()
    if not 1 <= len(key) <= 255 or not key.isprintable() or not key.isascii():
        raise Problem(
            422,
            "validation-failed",
            "Idempotency-Key must be 1–255 printable ASCII characters (a UUID is a good choice)",
            field_errors=[{"field": "Idempotency-Key", "message": "1–255 printable characters"}],
        )
    return key


def _run(om: Ordermesh, action: Command | Callable[[], Any]) -> Any:
    return om.handle(action) if isinstance(action, Command) else action()


def _plain(
    om: Ordermesh, action: Command | Callable[[], Any], render: Callable[[Any], Rendered]
) -> Response:
    status, body, headers = render(_run(om, action))
    return JsonResponse(body, status_code=status, headers=headers)


def _idempotent(
    om: Ordermesh,
    principal: str,
    key: str,
    digest: str,
    action: Command | Callable[[], Any],
    render: Callable[[Any], Rendered],
) -> Response:
    store = om.idempotency
    claim = store.claim(principal, key, digest)
    if claim.outcome == "replay":
        saved = orjson.loads(claim.response_body)
        return Response(
            saved["body"].encode(),
            status_code=claim.status_code,
            headers={**saved["headers"], "Idempotent-Replayed": "true"},
            media_type="application/json",
        )
    if claim.outcome == "mismatch":
        raise Problem(
            409,
            "idempotency-key-reused",
            "this Idempotency-Key was already used for a different request; "
            "use a new key for a new request",
            field_errors=[{"field": "Idempotency-Key", "message": "used with another body"}],
        )
    if claim.outcome == "in_progress":
        raise Problem(
            409,
            "idempotency-key-in-use",
            "the first request with this Idempotency-Key is still running; retry shortly",
            field_errors=[{"field": "Idempotency-Key", "message": "request still running"}],
            headers={"Retry-After": "1"},
        )
    try:
        response = _plain(om, action, render)
    except BaseException:
        # Only a success is remembered: after a refusal the caller may fix things and retry.
        try:
            store.release(principal, key)
        except Exception:
            # The refusal matters more to the caller; a stuck claim expires by itself.
            log.exception("could not release Idempotency-Key %r", key)
        raise
    kept = {h: response.headers[h] for h in _KEPT_HEADERS if h in response.headers}
    store.complete(
        principal,
        key,
        response.status_code,
        orjson.dumps({"headers": kept, "body": bytes(response.body).decode()}).decode(),
    )
    return response


async def write(
    request: Request,
    om: Ordermesh,
    principal: Principal,
    action: Command | Callable[[], Any],
    render: Callable[[Any], Rendered],
) -> Response:
    """Run `action` (a command, or a plain callable for configuration writes) on the writer
    and answer with `render(result)`; honour `Idempotency-Key` scoped to the caller."""
    loop = asyncio.get_running_loop()
    raw_key = request.headers.get(HEADER)
    if raw_key is None:
        if isinstance(action, Command):
            # Handed over as a command, so it can share a transaction with the commands
            # queued beside it; answered only once that transaction committed.
            result = await asyncio.wrap_future(om.writes.submit_command(action))
            status, body, headers = render(result)
            return JsonResponse(body, status_code=status, headers=headers)
        return await loop.run_in_executor(om.writes, _plain, om, action, render)
    key = _check_key(raw_key)
    digest = request_hash(request.method, request.url.path, await request.body())
    async with request.app.state.in_flight.hold((principal.id, key)):
        return await loop.run_in_executor(
            om.writes, _idempotent, om, principal.id, key, digest, action, render
        )


async def read(om: Ordermesh, query: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a read on `om.reads`, a pool as wide as the machine has cores."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(om.reads, functools.partial(query, *args, **kwargs))
