"""Amazon's static sandbox: the request/response pairs in the models' `x-amzn-api-sandbox`
blocks, answered verbatim when a request matches one of them.

They are read from a folder of model files given in the config, so nothing of Amazon's is
copied into this package; without that folder the sandbox is purely dynamic."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request

_NO_BODY = object()


@dataclass(frozen=True, slots=True)
class StaticCase:
    model: str
    operation_id: str
    method: str
    path_template: str
    pattern: re.Pattern[str]
    status: int
    path: dict[str, str]
    query: dict[str, Any]
    body: Any
    response: Any


def _pattern(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{regex}$")


def _cases_of(model_name: str, model: dict[str, Any]) -> list[StaticCase]:
    cases = []
    base = model.get("basePath", "").rstrip("/")
    for template, methods in model.get("paths", {}).items():
        for method, op in methods.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            where = {p.get("name"): p.get("in") for p in op.get("parameters", [])}
            for status, response in op["responses"].items():
                for case in response.get("x-amzn-api-sandbox", {}).get("static", []):
                    params = case.get("request", {}).get("parameters", {})
                    path, query, body = {}, {}, _NO_BODY
                    for name, spec in params.items():
                        value = spec.get("value") if isinstance(spec, dict) else None
                        if name == "body" or where.get(name) == "body":
                            body = value
                        elif where.get(name) == "path":
                            path[name] = str(value)
                        elif where.get(name) == "query":
                            query[name] = value
                    # Cases that constrain nothing would answer every request; they describe
                    # Amazon's default reply, which the dynamic sandbox gives instead.
                    if not path and not query and (body is _NO_BODY or not body):
                        continue
                    cases.append(
                        StaticCase(
                            model=model_name,
                            operation_id=str(op.get("operationId")),
                            method=method.upper(),
                            path_template=base + template,
                            pattern=_pattern(base + template),
                            status=int(status),
                            path=path,
                            query=query,
                            body=body,
                            response=case.get("response"),
                        )
                    )
    return cases


def _query_matches(expected: Any, request: Request, name: str) -> bool:
    values = [part for raw in request.query_params.getlist(name) for part in raw.split(",") if part]
    if isinstance(expected, list):
        return values == [str(v) for v in expected]
    if isinstance(expected, bool):
        return values == [str(expected).lower()]
    return values == [str(expected)]


class StaticCases:
    def __init__(self, cases: list[StaticCase]) -> None:
        # The most specific case wins: Amazon lists a paging case that repeats the first
        # page's parameters plus a NextToken.
        self.cases = sorted(
            cases,
            key=lambda c: -(len(c.path) + len(c.query) + (c.body is not _NO_BODY)),
        )

    @classmethod
    def load(cls, directory: str | Path | None) -> StaticCases:
        if directory is None:
            return cls([])
        cases: list[StaticCase] = []
        for file in sorted(Path(directory).glob("*.json")):
            model = orjson.loads(file.read_bytes())
            if isinstance(model, dict) and "paths" in model:
                cases.extend(_cases_of(file.name, model))
        return cls(cases)

    async def match(self, request: Request) -> StaticCase | None:
        if not self.cases:
            return None
        path = request.url.path
        body: Any = _NO_BODY
        for case in self.cases:
            if case.method != request.method:
                continue
            found = case.pattern.match(path)
            if found is None:
                continue
            if any(found.group(name) != value for name, value in case.path.items()):
                continue
            if not all(_query_matches(v, request, k) for k, v in case.query.items()):
                continue
            if case.body is not _NO_BODY:
                if body is _NO_BODY:
                    try:
                        body = orjson.loads(await request.body())
                    except orjson.JSONDecodeError:
                        body = None
                if body != case.body:
                    continue
            return case
        return None
