"""JSON rendered by orjson: several times faster than the standard library on our payloads."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    """Aware datetimes as ISO 8601, Decimals refused (money leaves as text, never a float)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
