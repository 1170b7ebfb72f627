"""Pure reading of the Account Health report (schema accountHealthReport-2020-11-18.json).

Lenient on purpose: the schema's own example disagrees with the schema
(`prefulfillmentCancelRate` vs `preFulfillmentCancellationRate`, `ahrStatus` vs
`accountHealthRatingStatus`, a status `SUSPENDED` outside the enum), and Amazon adds metrics
without notice. So: both spellings are read, unknown statuses are kept as they come, a metric
that cannot be read is skipped with a warning, and anything else in the report is ignored."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ordermesh.ports.marketplace import AccountHealth, HealthMetric, MetricStatus

REPORT_TYPE = "GET_V2_SELLER_PERFORMANCE_REPORT"
"""Not in the copied models; the notes mark the name "(verify)"."""

# report key(s) → the name a seller knows, and the fields holding the count and its base.
_METRICS: tuple[tuple[tuple[str, ...], str, tuple[str, ...], tuple[str, ...]], ...] = (
    (("lateShipmentRate",), "Late Shipment Rate", ("lateShipmentCount",), ("orderCount",)),
    (
        ("preFulfillmentCancellationRate", "prefulfillmentCancelRate"),
        "Pre-fulfilment Cancel Rate",
        ("cancellationCount",),
        ("orderCount",),
    ),
    (
        ("validTrackingRate",),
        "Valid Tracking Rate",
        ("validTrackingCount",),
        ("shipmentCount",),
    ),
    (
        ("onTimeDeliveryRate",),
        "On-Time Delivery Rate",
        ("onTimeDeliveryCount",),
        ("shipmentCountWithValidTracking",),
    ),
    (
        ("unitOnTimeDeliveryRate",),
        "Unit On-Time Delivery Rate",
        ("unitOnTimeDeliveryCount",),
        ("totalUnitCount",),
    ),
    (("invoiceDefectRate",), "Invoice Defect Rate", ("invoiceDefect.count",), ("orderCount",)),
)
_ODR = (("mfn", "Order Defect Rate (seller-fulfilled)"), ("afn", "Order Defect Rate (FBA)"))
_POLICY = (
    ("listingPolicyViolations", "Listing policy violations"),
    ("productAuthenticityCustomerComplaints", "Product authenticity complaints"),
    ("productConditionCustomerComplaints", "Product condition complaints"),
    ("productSafetyCustomerComplaints", "Product safety complaints"),
    ("receivedIntellectualPropertyComplaints", "Intellectual property complaints"),
    ("restrictedProductPolicyViolations", "Restricted product policy violations"),
    ("suspectedIntellectualPropertyViolations", "Suspected intellectual property violations"),
    ("foodAndProductSafetyIssues", "Food and product safety issues"),
    ("otherPolicyViolations", "Other policy violations"),
    ("documentRequests", "Document requests"),
    ("documentRequest", "Document requests"),
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _count(metric: Mapping[str, Any], paths: tuple[str, ...]) -> int | None:
    for path in paths:
        value: Any = metric
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        number = _number(value)
        if number is not None:
            return int(number)
    return None


def _status(value: Any) -> MetricStatus:
    try:
        return MetricStatus(str(value).upper())
    except ValueError:
        return MetricStatus.UNKNOWN


def _metric(
    key: str,
    name: str,
    marketplace: str,
    raw: Mapping[str, Any],
    count: tuple[str, ...],
    base: tuple[str, ...],
) -> HealthMetric:
    window = raw.get("reportingDateRange")
    window = window if isinstance(window, Mapping) else {}
    condition = raw.get("targetCondition")
    return HealthMetric(
        key=key,
        name=name,
        marketplace_id=marketplace,
        status=_status(raw.get("status")),
        rate=_number(raw.get("rate")),
        target=_number(raw.get("targetValue")),
        condition=str(condition).upper() if isinstance(condition, str) else None,
        count=_count(raw, count),
        orders=_count(raw, base),
        window_from=str(window["reportingDateFrom"]) if window.get("reportingDateFrom") else None,
        window_to=str(window["reportingDateTo"]) if window.get("reportingDateTo") else None,
    )


def read_report(report: Any, fetched_at: datetime) -> AccountHealth:
    warnings: list[str] = []
    if not isinstance(report, Mapping):
        return AccountHealth(fetched_at, {}, (), warnings=("the report is not a JSON object",))
    statuses: dict[str, str] = {}
    for entry in report.get("accountStatuses") or []:
        if isinstance(entry, Mapping) and entry.get("marketplaceId"):
            statuses[str(entry["marketplaceId"])] = str(entry.get("status", "UNKNOWN"))
        else:
            warnings.append(f"an account status without a marketplace: {entry!r:.80}")
    metrics: list[HealthMetric] = []
    rating: dict[str, str] = {}
    performance = report.get("performanceMetrics")
    if not isinstance(performance, list):
        warnings.append("no performanceMetrics in the report")
        performance = []
    for block in performance:
        if not isinstance(block, Mapping):
            warnings.append(f"a performance block that is not an object: {block!r:.80}")
            continue
        marketplace = str(block.get("marketplaceId") or "?")
        for keys, name, count, base in _METRICS:
            key = next((k for k in keys if isinstance(block.get(k), Mapping)), None)
            if key is not None:
                metrics.append(_metric(keys[0], name, marketplace, block[key], count, base))
        odr = block.get("orderDefectRate")
        if isinstance(odr, Mapping):
            for channel, name in _ODR:
                if isinstance(odr.get(channel), Mapping):
                    metrics.append(
                        _metric(
                            f"orderDefectRate.{channel}",
                            name,
                            marketplace,
                            odr[channel],
                            ("orderWithDefects.count",),
                            ("orderCount",),
                        )
                    )
        elif odr is not None:
            warnings.append(f"{marketplace}: orderDefectRate is not an object")
        seen: set[str] = set()
        for key, name in _POLICY:
            if isinstance(block.get(key), Mapping) and name not in seen:
                seen.add(name)
                metrics.append(_metric(key, name, marketplace, block[key], ("defectsCount",), ()))
        ahr = block.get("accountHealthRating")
        if isinstance(ahr, Mapping):
            value = ahr.get("accountHealthRatingStatus") or ahr.get("ahrStatus")
            if value:
                rating[marketplace] = str(value)
    return AccountHealth(
        fetched_at=fetched_at,
        account_statuses=statuses,
        metrics=tuple(metrics),
        rating=rating,
        warnings=tuple(warnings),
    )
