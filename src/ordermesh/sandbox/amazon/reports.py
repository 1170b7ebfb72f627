"""Reports API 2021-06-30: order reports whose processing moves IN_QUEUE → IN_PROGRESS → DONE
on the sandbox clock, and the account health report."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from ordermesh.sandbox.amazon.clock import iso
from ordermesh.sandbox.amazon.wire import orders_flat_file

if TYPE_CHECKING:
    from ordermesh.sandbox.amazon.sandbox import Sandbox

ORDERS_BY_UPDATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
ORDERS_BY_DATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
ACCOUNT_HEALTH = "GET_V2_SELLER_PERFORMANCE_REPORT"
REPORT_TYPES = frozenset({ORDERS_BY_UPDATE, ORDERS_BY_DATE})


@dataclass(slots=True)
class Report:
    report_id: str
    report_type: str
    marketplace_ids: list[str]
    created: datetime
    data_start: datetime
    data_end: datetime
    status: str = "IN_QUEUE"
    started: datetime | None = None
    finished: datetime | None = None
    document_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "reportId": self.report_id,
            "reportType": self.report_type,
            "marketplaceIds": self.marketplace_ids,
            "dataStartTime": iso(self.data_start),
            "dataEndTime": iso(self.data_end),
            "createdTime": iso(self.created),
            "processingStatus": self.status,
        }
        if self.started is not None:
            body["processingStartTime"] = iso(self.started)
        if self.finished is not None:
            body["processingEndTime"] = iso(self.finished)
        if self.document_id is not None:
            body["reportDocumentId"] = self.document_id
        return body


class ReportDesk:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self.reports: dict[str, Report] = {}
        self._counter = 50000

    def create(
        self,
        report_type: str,
        marketplace_ids: list[str],
        data_start: datetime | None,
        data_end: datetime | None,
    ) -> Report:
        now = self._sandbox.clock.now()
        with self._lock:
            self._counter += 1
            report = Report(
                report_id=str(self._counter),
                report_type=report_type,
                marketplace_ids=marketplace_ids,
                created=now,
                data_start=data_start or now - timedelta(days=30),
                data_end=data_end or now,
            )
            self.reports[report.report_id] = report
            return report

    def advance(self) -> None:
        now = self._sandbox.clock.now()
        step = timedelta(seconds=self._sandbox.config.report_processing_seconds / 2)
        with self._lock:
            for report in self.reports.values():
                if report.status == "IN_QUEUE" and now >= report.created + step:
                    report.status = "IN_PROGRESS"
                    report.started = now
                if report.status == "IN_PROGRESS" and now >= report.created + 2 * step:
                    self._finish(report, now)

    def _finish(self, report: Report, now: datetime) -> None:
        if report.report_type == ACCOUNT_HEALTH:
            content = orjson.dumps(self._account_health(report, now))
            content_type = "application/json"
        else:
            state = self._sandbox.state
            with state.lock:
                orders = [
                    order
                    for order in state.visible_orders(now)
                    if order.marketplace_id in report.marketplace_ids
                    and report.data_start
                    <= (
                        order.last_updated
                        if report.report_type == ORDERS_BY_UPDATE
                        else order.created
                    )
                    <= report.data_end
                ]
                orders.sort(key=lambda order: order.created)
                content = orders_flat_file(orders).encode("utf-8")
            content_type = "text/tab-separated-values; charset=UTF-8"
        document = self._sandbox.documents.create("report", content_type, content)
        report.status = "DONE"
        report.finished = now
        report.document_id = document.document_id

    def _account_health(self, report: Report, now: datetime) -> dict[str, Any]:
        """A healthy seller, in the shape of accountHealthReport-2020-11-18.json."""
        start = iso(now - timedelta(days=60))
        end = iso(now)
        window = {"reportingDateFrom": start, "reportingDateTo": end}

        def rate(value: float, target: float, condition: str) -> dict[str, Any]:
            return {
                "reportingDateRange": window,
                "status": "GOOD",
                "targetValue": target,
                "targetCondition": condition,
                "rate": value,
            }

        metrics = []
        for marketplace_id in report.marketplace_ids:
            metrics.append(
                {
                    "marketplaceId": marketplace_id,
                    "lateShipmentRate": rate(0.01, 0.04, "LESS_THAN"),
                    "preFulfillmentCancellationRate": rate(0.005, 0.025, "LESS_THAN"),
                    "validTrackingRate": rate(0.99, 0.95, "GREATER_THAN"),
                    "onTimeDeliveryRate": rate(0.97, 0.9, "GREATER_THAN"),
                }
            )
        return {
            "accountStatuses": [
                {"marketplaceId": m, "status": "NORMAL"} for m in report.marketplace_ids
            ],
            "performanceMetrics": metrics,
        }
