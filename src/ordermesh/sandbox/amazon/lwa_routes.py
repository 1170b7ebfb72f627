"""POST /auth/o2/token, the Login with Amazon token endpoint."""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ordermesh.sandbox.amazon.lwa import LwaError
from ordermesh.sandbox.amazon.transport import json_response


async def token(request: Request) -> Response:
    sandbox = request.app.state.sandbox
    sandbox.tick()
    content_type = request.headers.get("content-type", "")
    form: dict[str, str]
    if content_type.startswith("application/json"):
        try:
            raw = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raw = {}
        form = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    else:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    try:
        body = sandbox.lwa.exchange(form)
    except LwaError as refused:
        sandbox.stats.record("lwaToken", refused.status)
        return json_response(refused.body, refused.status)
    sandbox.stats.record("lwaToken", 200)
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def routes() -> list[Route]:
    return [Route("/auth/o2/token", token, methods=["POST"])]
