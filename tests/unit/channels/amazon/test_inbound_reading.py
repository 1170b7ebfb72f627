"""Reading what Amazon sends on the inbound side: the account health report (leniently, as
its own schema example disagrees with the schema), the all-orders flat file, FBA summaries."""

from __future__ import annotations

from datetime import UTC, datetime

from ordermesh.adapters.channels.amazon import fba, health, order_report
from ordermesh.domain.commands import ChannelState
from ordermesh.domain.orders import FulfilledBy
from ordermesh.ports.marketplace import MetricStatus
from tests.unit.channels.amazon.models import model

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
US = "ATVPDKIKX0DER"


def test_the_schemas_own_example_is_read_despite_its_mismatches() -> None:
    [example] = model("accountHealthReport-2020-11-18.json")["examples"]

    read = health.read_report(example, NOW)

    # SUSPENDED is outside the schema's enum: kept as Amazon wrote it.
    assert read.account_statuses["A1AM78C64UM0Y8"] == "SUSPENDED"
    assert read.rating == {US: "WARNED"}, "the example's ahrStatus spelling"
    metrics = {m.key: m for m in read.metrics}
    cancel = metrics["preFulfillmentCancellationRate"]  # the example says prefulfillmentCancelRate
    assert (cancel.rate, cancel.count, cancel.orders) == (0.005, 551, 17197)
    assert cancel.meets_target is True
    odr = metrics["orderDefectRate.mfn"]
    assert (odr.rate, odr.target, odr.condition, odr.count) == (0.009, 0.01, "LESS_THAN", 1078)
    late = metrics["lateShipmentRate"]
    assert (late.count, late.orders, late.status) == (27896, 870669, MetricStatus.GOOD)
    assert metrics["validTrackingRate"].target == 0.95
    assert metrics["listingPolicyViolations"].status is MetricStatus.BAD
    assert read.warnings == ()


def test_missing_and_odd_fields_are_skipped_with_a_warning_not_a_crash() -> None:
    report = {
        "accountStatuses": [{"status": "NORMAL"}, {"marketplaceId": US, "status": "NORMAL"}],
        "performanceMetrics": [
            "nonsense",
            {
                "marketplaceId": US,
                "lateShipmentRate": {"rate": "0.02", "status": "SOMETHING_NEW"},
                "orderDefectRate": 7,
                "brandNewMetric": {"rate": 1},
            },
        ],
    }

    read = health.read_report(report, NOW)

    [late] = read.metrics
    assert late.rate == 0.02
    assert late.status is MetricStatus.UNKNOWN
    assert late.target is None
    assert late.meets_target is None
    assert read.account_statuses == {US: "NORMAL"}
    assert len(read.warnings) == 3
    assert health.read_report([], NOW).warnings == ("the report is not a JSON object",)


COLUMNS = (
    "amazon-order-id\tpurchase-date\tlast-updated-date\torder-status\tfulfillment-channel\t"
    "sales-channel\tship-service-level\tsku\tasin\tquantity\tcurrency\titem-price\titem-tax\t"
    "item-promotion-discount\tship-city\tship-country\tis-business-order"
)


def _row(*values: str) -> str:
    return "\t".join(values)


def test_the_order_report_groups_items_and_keeps_open_orders_apart() -> None:
    content = "\n".join(
        [
            COLUMNS,
            _row(
                "111-1",
                "2026-10-01T10:00:00+00:00",
                "2026-10-02T09:00:00+00:00",
                "Shipped",
                "Amazon",
                "Amazon.com",
                "Standard",
                "MUG",
                "B0A",
                "2",
                "USD",
                "20.00",
                "1.60",
                "-2.00",
                "Seattle",
                "US",
                "false",
            ),
            _row(
                "111-1",
                "2026-10-01T10:00:00+00:00",
                "2026-10-02T09:00:00+00:00",
                "Shipped",
                "Amazon",
                "Amazon.com",
                "Standard",
                "CUP",
                "B0B",
                "1",
                "USD",
                "5.00",
                "",
                "",
                "Seattle",
                "US",
                "false",
            ),
            _row(
                "222-2",
                "2026-10-01T11:00:00+00:00",
                "2026-10-01T11:30:00+00:00",
                "Pending",
                "Merchant",
                "Amazon.de",
                "Expedited",
                "MUG",
                "B0A",
                "1",
                "",
                "",
                "",
                "",
                "Berlin",
                "DE",
                "true",
            ),
            _row(
                "333-3",
                "2026-10-01T12:00:00+00:00",
                "2026-10-01T12:30:00+00:00",
                "Cancelled",
                "Merchant",
                "Amazon.de",
                "Standard",
                "MUG",
                "B0A",
                "1",
                "EUR",
                "9.00",
                "",
                "",
                "Berlin",
                "DE",
                "true",
            ),
            _row(
                "S02-4",
                "2026-10-01T12:00:00+00:00",
                "2026-10-01T12:30:00+00:00",
                "Shipped",
                "Amazon",
                "Non-Amazon",
                "Standard",
                "MUG",
                "B0A",
                "1",
                "USD",
                "9.00",
                "",
                "",
                "Austin",
                "US",
                "false",
            ),
            _row(
                "444-4",
                "yesterday",
                "2026-10-01T12:30:00+00:00",
                "Shipped",
                "Amazon",
                "Amazon.com",
                "Standard",
                "MUG",
                "B0A",
                "1",
                "USD",
                "9.00",
                "",
                "",
                "",
                "",
                "",
            ),
            "",
        ]
    )

    versions, open_ids, unreadable = order_report.read_report(content, "acc-1")

    assert open_ids == ["222-2"], "Pending: read again in full through getOrder"
    assert [u.channel_order_id for u in unreadable] == ["444-4"]
    assert "purchase-date" in unreadable[0].reason
    shipped, cancelled = (v.order for v in versions)
    assert shipped.state == ChannelState.SHIPPED
    assert cancelled.state == ChannelState.CANCELLED
    assert shipped.fulfilled_by is FulfilledBy.MARKETPLACE
    assert shipped.marketplace == US
    assert [(ln.channel_sku, ln.quantity, ln.unit_price) for ln in shipped.lines] == [
        ("MUG", 2, "10.00"),
        ("CUP", 1, "5.00"),
    ]
    assert shipped.lines[0].discount == "2.00"
    assert shipped.total == "25.00"
    assert shipped.shipping_address is None, "the report has no street"
    assert cancelled.is_business
    assert cancelled.currency == "EUR"
    assert versions[0].key == "111-1@2026-10-02T09:00:00.000000Z#report"


def test_an_fba_summary_keeps_fulfillable_reserved_and_inbound_apart() -> None:
    summary = {
        "sellerSku": "MUG",
        "asin": "B0A",
        "fnSku": "X00A",
        "lastUpdatedTime": "2026-11-01T08:00:00Z",
        "inventoryDetails": {
            "fulfillableQuantity": 12,
            "inboundWorkingQuantity": 5,
            "inboundShippedQuantity": 3,
            "reservedQuantity": {"totalReservedQuantity": 4, "pendingCustomerOrderQuantity": 2},
            "unfulfillableQuantity": {"totalUnfulfillableQuantity": 1},
        },
    }

    stock = fba.read_summary(summary, US)

    assert stock is not None
    assert (stock.fulfillable, stock.reserved, stock.reserved_for_orders) == (12, 4, 2)
    assert (stock.inbound, stock.unfulfillable, stock.researching) == (8, 1, 0)
    assert fba.read_summary({"asin": "B0A"}, US) is None
    empty = fba.read_summary({"sellerSku": "CUP"}, US)
    assert empty is not None
    assert empty.fulfillable == 0
