"""Reports API 2021-06-30: createReport, getReport, getReports, cancelReport,
getReportDocument."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from ordermesh.sandbox.amazon.clock import parse_iso
from ordermesh.sandbox.amazon.reports import REPORT_TYPES
from ordermesh.sandbox.amazon.state import SandboxError
from ordermesh.sandbox.amazon.transport import Call, invalid, json_response, operation


def document_url(call: Call, document_id: str) -> str:
    return f"{str(call.request.base_url).rstrip('/')}/_sandbox/documents/{document_id}"


async def create_report(call: Call) -> Response:
    body = await call.json_body()
    report_type = body.get("reportType")
    if not isinstance(report_type, str) or not report_type:
        raise invalid("reportType is required.")
    if report_type not in REPORT_TYPES:
        raise invalid(
            f"Report type {report_type} is not supported by the sandbox. "
            f"Supported: {', '.join(sorted(REPORT_TYPES))}."
        )
    marketplaces = body.get("marketplaceIds")
    if (
        not isinstance(marketplaces, list)
        or not marketplaces
        or not all(isinstance(m, str) for m in marketplaces)
    ):
        raise invalid("marketplaceIds is required and must be a non-empty array of strings.")
    times: dict[str, Any] = {}
    for name in ("dataStartTime", "dataEndTime"):
        value = body.get(name)
        if value is None:
            times[name] = None
            continue
        try:
            times[name] = parse_iso(str(value))
        except ValueError:
            raise invalid(f"{name} {value!r} is not a valid ISO 8601 date-time.") from None
    if (
        times["dataStartTime"]
        and times["dataEndTime"]
        and times["dataEndTime"] < times["dataStartTime"]
    ):
        raise invalid("dataEndTime must not be before dataStartTime.")
    report = call.sandbox.reports.create(
        report_type, marketplaces, times["dataStartTime"], times["dataEndTime"]
    )
    return json_response({"reportId": report.report_id}, 202)


def _report(call: Call) -> Any:
    report = call.sandbox.reports.reports.get(call.request.path_params["reportId"])
    if report is None:
        raise SandboxError(404, "NotFound", "The report was not found.")
    return report


async def get_report(call: Call) -> Response:
    return json_response(_report(call).as_json())


async def cancel_report(call: Call) -> Response:
    report = _report(call)
    if report.status != "IN_QUEUE":
        raise invalid(f"Only IN_QUEUE reports can be cancelled; this one is {report.status}.")
    report.status = "CANCELLED"
    return Response(status_code=200)


async def get_reports(call: Call) -> Response:
    q = call.params
    types = set(q.array("reportTypes"))
    statuses = set(q.array("processingStatuses"))
    size = q.integer("pageSize", default=10, low=1, high=100)
    if not types and not q.has("nextToken"):
        raise invalid("reportTypes is required when nextToken is not provided.")
    reports = [
        report.as_json()
        for report in sorted(
            call.sandbox.reports.reports.values(), key=lambda r: r.created, reverse=True
        )
        if (not types or report.report_type in types)
        and (not statuses or report.status in statuses)
    ]
    return json_response({"reports": reports[:size]})


async def get_report_document(call: Call) -> Response:
    document_id = call.request.path_params["reportDocumentId"]
    document = call.sandbox.documents.get(document_id)
    if document is None or document.content is None:
        raise SandboxError(404, "NotFound", "The report document was not found.")
    body = {"reportDocumentId": document_id, "url": document_url(call, document_id)}
    if document.compression:
        body["compressionAlgorithm"] = document.compression
    return json_response(body)


def routes() -> list[Route]:
    base = "/reports/2021-06-30"
    return [
        Route(base + "/reports", operation("createReport", create_report), methods=["POST"]),
        Route(base + "/reports", operation("getReports", get_reports), methods=["GET"]),
        Route(base + "/reports/{reportId}", operation("getReport", get_report), methods=["GET"]),
        Route(
            base + "/reports/{reportId}",
            operation("cancelReport", cancel_report),
            methods=["DELETE"],
        ),
        Route(
            base + "/documents/{reportDocumentId}",
            operation("getReportDocument", get_report_document),
            methods=["GET"],
        ),
    ]
