"""Reports API 2021-06-30: order reports whose processing moves IN_QUEUE → IN_PROGRESS → DONE
on the sandbox clock, and the account health report."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from ordermesh.sandbox.amazon.clock import iso
from ordermesh.sandbox.amazon.listings_report import MERCHANT_LISTINGS, merchant_listings_flat_file
from ordermesh.sandbox.amazon.state import CANCELED, Order
from ordermesh.sandbox.amazon.wire import orders_flat_file

if TYPE_CHECKING:
    from ordermesh.sandbox.amazon.sandbox import Sandbox

ORDERS_BY_UPDATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_LAST_UPDATE_GENERAL"
ORDERS_BY_DATE = "GET_FLAT_FILE_ALL_ORDERS_DATA_BY_ORDER_DATE_GENERAL"
# The report type name is not in the copied models; the notes mark it "(verify)".
ACCOUNT_HEALTH = "GET_V2_SELLER_PERFORMANCE_REPORT"
REPORT_TYPES = frozenset({ORDERS_BY_UPDATE, ORDERS_BY_DATE, ACCOUNT_HEALTH, MERCHANT_LISTINGS})


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
        elif report.report_type == MERCHANT_LISTINGS:
            with self._sandbox.state.lock:
                text = merchant_listings_flat_file(self._sandbox.state.listings.values())
            content = text.encode("utf-8")
            content_type = "text/tab-separated-values; charset=UTF-8"
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
                if not orders:
                    # The model: a report is cancelled automatically "if there is no data to
                    # return".
                    report.status = "CANCELLED"
                    report.finished = now
                    return
                orders.sort(key=lambda order: order.created)
                content = orders_flat_file(orders).encode("utf-8")
            content_type = "text/tab-separated-values; charset=UTF-8"
        compression = None
        if len(content) >= self._sandbox.config.gzip_reports_over_bytes:
            content, compression = gzip.compress(content, mtime=0), "GZIP"
        document = self._sandbox.documents.create("report", content_type, content)
        document.compression = compression
        report.status = "DONE"
        report.finished = now
        report.document_id = document.document_id

    def _account_health(self, report: Report, now: datetime) -> dict[str, Any]:
        """Seller performance computed from the sandbox's own orders, in the shape of
        accountHealthReport-2020-11-18.json (whose `required` lists both `ahrStatus` and
        `fulfillmentType`, so both are sent)."""
        state = self._sandbox.state
        metrics = []
        with state.lock:
            for marketplace_id in report.marketplace_ids:
                orders = [o for o in state.orders.values() if o.marketplace_id == marketplace_id]
                metrics.append(_performance(marketplace_id, orders, now))
        return {
            "accountStatuses": [
                {"marketplaceId": m, "status": "NORMAL"} for m in report.marketplace_ids
            ],
            "performanceMetrics": metrics,
        }


def _window(now: datetime, days: int) -> dict[str, str]:
    return {"reportingDateFrom": iso(now - timedelta(days=days)), "reportingDateTo": iso(now)}


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _judged(rate: float, target: float, condition: str, whole: int) -> dict[str, Any]:
    if not whole:
        status = "NONE"
    elif condition == "LESS_THAN":
        status = "GOOD" if rate < target else "BAD"
    else:
        status = "GOOD" if rate > target else "BAD"
    return {"status": status, "rate": rate, "targetValue": target, "targetCondition": condition}


def _performance(marketplace_id: str, orders: list[Order], now: datetime) -> dict[str, Any]:
    def recent(days: int) -> list[Order]:
        return [o for o in orders if o.created >= now - timedelta(days=days)]

    mfn_30 = [o for o in recent(30) if o.fulfillment_channel == "MFN"]
    late = sum(
        1
        for o in mfn_30
        if (min((p.created for p in o.packages.values()), default=None) or now) > o.latest_ship
        and o.status != CANCELED
    )
    mfn_7 = [o for o in recent(7) if o.fulfillment_channel == "MFN"]
    cancelled = sum(1 for o in mfn_7 if o.cancel_reason == "SellerCanceled")
    packages = [p for o in mfn_30 for p in o.packages.values()]
    tracked = sum(1 for p in packages if p.tracking_number)
    window_30 = _window(now, 30)
    zero_ok = {"count": 0, "status": "GOOD"}

    def defect_rate(channel: str) -> dict[str, Any]:
        count = sum(1 for o in recent(60) if o.fulfillment_channel == channel)
        return {
            "reportingDateRange": _window(now, 60),
            "orderCount": count,
            "orderWithDefects": zero_ok,
            "claims": zero_ok,
            "chargebacks": zero_ok,
            "negativeFeedback": zero_ok,
            "fulfillmentType": channel,
            **_judged(0.0, 0.01, "LESS_THAN", count),
        }

    def listing_level() -> dict[str, Any]:
        return {
            "reportingDateRange": _window(now, 180),
            "defectsCount": 0,
            "status": "GOOD",
            "targetValue": 0,
            "targetCondition": "EQUALS",
        }

    units = sum(line.quantity_shipped for o in mfn_30 for line in o.lines)
    return {
        "marketplaceId": marketplace_id,
        "invoiceDefectRate": {
            "reportingDateRange": window_30,
            "orderCount": len(mfn_30),
            "invoiceDefect": zero_ok,
            "missingInvoice": zero_ok,
            "lateInvoice": zero_ok,
            **_judged(0.0, 0.05, "LESS_THAN", len(mfn_30)),
        },
        "lateShipmentRate": {
            "reportingDateRange": window_30,
            "orderCount": len(mfn_30),
            "lateShipmentCount": late,
            **_judged(_rate(late, len(mfn_30)), 0.04, "LESS_THAN", len(mfn_30)),
        },
        "orderDefectRate": {"mfn": defect_rate("MFN"), "afn": defect_rate("AFN")},
        "onTimeDeliveryRate": {
            "reportingDateRange": _window(now, 14),
            "shipmentCountWithValidTracking": tracked,
            "onTimeDeliveryCount": tracked,
            **_judged(_rate(tracked, tracked), 0.97, "GREATER_THAN", tracked),
        },
        "unitOnTimeDeliveryRate": {
            "reportingDateRange": _window(now, 14),
            "unitOnTimeDeliveryCount": units,
            "totalUnitCount": units,
            **_judged(_rate(units, units), 0.9, "GREATER_THAN", units),
        },
        "validTrackingRate": {
            "reportingDateRange": window_30,
            "shipmentCount": len(packages),
            "validTrackingCount": tracked,
            **_judged(_rate(tracked, len(packages)), 0.95, "GREATER_THAN", len(packages)),
        },
        "preFulfillmentCancellationRate": {
            "reportingDateRange": _window(now, 7),
            "orderCount": len(mfn_7),
            "cancellationCount": cancelled,
            **_judged(_rate(cancelled, len(mfn_7)), 0.025, "LESS_THAN", len(mfn_7)),
        },
        "warningStates": [],
        "accountHealthRating": {
            "ahrStatus": "GREAT",
            "accountHealthRatingStatus": "GREAT",
            "reportingDateRange": _window(now, 180),
        },
        "listingPolicyViolations": listing_level(),
        "productAuthenticityCustomerComplaints": listing_level(),
        "productConditionCustomerComplaints": listing_level(),
        "productSafetyCustomerComplaints": listing_level(),
        "receivedIntellectualPropertyComplaints": listing_level(),
        "restrictedProductPolicyViolations": listing_level(),
        "suspectedIntellectualPropertyViolations": listing_level(),
        "foodAndProductSafetyIssues": listing_level(),
        "otherPolicyViolations": listing_level(),
        "documentRequests": listing_level(),
    }
