"""What the connector sends Amazon for a shipment and for stock, checked against Amazon's own
schemas, and how Amazon's answers become results for the seller."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema
import orjson
import pytest

from ordermesh.adapters.channels.amazon import mapping, wire
from ordermesh.ports.shipping import ShipmentNotice, ShippedLine
from ordermesh.ports.stock_sync import PushOutcome
from tests.unit.channels.amazon.models import model

SELLER = "A1SELLER0001"


def _definition(model_name: str, name: str) -> dict[str, Any]:
    definitions = model(model_name)["definitions"]
    return {**definitions[name], "definitions": definitions}


def a_notice(**overrides: Any) -> ShipmentNotice:
    fields: dict[str, Any] = {
        "shipment_id": "shp_01JD8Z6F0Q7M",
        "order_id": "ord_1",
        "channel_account": "acc_1",
        "channel_order_id": "112-0000000-0000001",
        "marketplace": "ATVPDKIKX0DER",
        "carrier": "UPS",
        "tracking_number": "1Z999AA10123456784",
        "shipped_at": datetime(2026, 11, 2, 16, 30, tzinfo=timezone(timedelta(hours=1))),
        "lines": (
            ShippedLine("MUG-BLUE", 2, "40000000000001"),
            ShippedLine("MUG-RED", 1, "40000000000002"),
        ),
        "service": "Ground",
    }
    return ShipmentNotice(**{**fields, **overrides})


def test_a_confirmation_follows_amazons_request_schema() -> None:
    body = mapping.confirm_shipment_body(a_notice(), "ATVPDKIKX0DER")

    jsonschema.Draft4Validator(_definition("ordersV0.json", "ConfirmShipmentRequest")).validate(
        body
    )
    detail = body["packageDetail"]
    assert detail["carrierCode"] == "UPS"
    assert "carrierName" not in detail
    assert detail["shippingMethod"] == "Ground"
    assert detail["shipDate"] == "2026-11-02T15:30:00Z", "ISO 8601 in UTC"
    assert detail["orderItems"] == [
        {"orderItemId": "40000000000001", "quantity": 2},
        {"orderItemId": "40000000000002", "quantity": 1},
    ]


def test_the_package_reference_is_a_positive_number_stable_across_retries() -> None:
    first = mapping.package_reference_id("shp_01JD8Z6F0Q7M")

    assert first == mapping.package_reference_id("shp_01JD8Z6F0Q7M")
    assert first.isdigit()
    assert int(first) >= 1
    assert first != mapping.package_reference_id("shp_01JD8Z6F0Q7N")
    assert mapping.package_reference_id("42") == "42", "a numeric id is used as it is"


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("ups", "UPS"),
        ("Fed Ex", "FedEx"),
        ("Royal Mail", "Royal Mail"),
        ("hermes", "Hermes Logistik Gruppe"),
        ("Deutsche Post", "Deutsche Post"),
        ("DHL Paket", "DHL"),
        ("Yamato", "YamatoTransport"),
    ],
)
def test_carriers_amazon_knows_are_sent_by_their_code(written: str, code: str) -> None:
    assert mapping.carrier_code(written) == code


def test_an_unknown_carrier_goes_as_other_with_its_name() -> None:
    body = mapping.confirm_shipment_body(a_notice(carrier="Kuehne Express"), "ATVPDKIKX0DER")

    assert body["packageDetail"]["carrierCode"] == "Other"
    assert body["packageDetail"]["carrierName"] == "Kuehne Express"


def test_a_line_without_amazons_order_item_id_cannot_be_confirmed() -> None:
    notice = a_notice(lines=(ShippedLine("MUG-BLUE", 1, None),))

    with pytest.raises(mapping.Unmappable, match="orderItemId"):
        mapping.confirm_shipment_body(notice, "ATVPDKIKX0DER")


def test_the_quantity_patch_follows_amazons_patch_request_schema() -> None:
    body = mapping.quantity_patch_body(7)

    schema = _definition("listingsItems_2021-08-01.json", "ListingsItemPatchRequest")
    jsonschema.Draft4Validator(schema).validate(body)
    assert body["patches"][0]["value"] == [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}]
    assert mapping.quantity_patch_body(-3)["patches"][0]["value"][0]["quantity"] == 0


def test_the_listings_feed_follows_amazons_feed_schema() -> None:
    document = orjson.loads(mapping.listings_feed(SELLER, [("MUG-BLUE", 4), ("MUG 2/red", 0)]))

    jsonschema.Draft7Validator(model("listings-feed-schema-v2.json")).validate(document)
    for message in document["messages"]:
        jsonschema.Draft7Validator(model("listings-feed-message-schema-v2.json")).validate(message)
    assert [(m["messageId"], m["sku"]) for m in document["messages"]] == [
        (1, "MUG-BLUE"),
        (2, "MUG 2/red"),
    ]


def test_amazons_example_processing_report_rejects_the_skus_with_errors() -> None:
    example = model("listings-feed-processing-report-schema-v2.example.json")
    report = wire.ProcessingReport.model_validate(example)
    skus = ["My-SKU-A", "My-SKU-X", "My-SKU-Y", "My-SKU-B", "My-SKU-C"]

    results = {r.channel_sku: r for r in mapping.push_results_of_report(skus, report)}

    assert {sku for sku, r in results.items() if r.outcome is PushOutcome.REJECTED} == {
        "My-SKU-B",
        "My-SKU-C",
    }
    assert "batteries_required" in results["My-SKU-B"].error
    assert "supplier_declared_dg_hz_regulation" in results["My-SKU-B"].error
    assert results["My-SKU-A"].outcome is PushOutcome.SENT


def test_warnings_do_not_reject_and_an_issue_is_tied_by_message_id() -> None:
    report = wire.ProcessingReport.model_validate(
        {
            "issues": [
                {"messageId": 1, "code": "1", "severity": "WARNING", "message": "look at me"},
                {
                    "messageId": 2,
                    "sku": "WRONG",
                    "code": "100",
                    "severity": "ERROR",
                    "message": "no",
                },
            ]
        }
    )

    results = mapping.push_results_of_report(["A", "B"], report)

    assert [(r.channel_sku, r.outcome) for r in results] == [
        ("A", PushOutcome.SENT),
        ("B", PushOutcome.REJECTED),
    ]


def test_a_rejected_patch_carries_amazons_error() -> None:
    submission = wire.ListingSubmission.model_validate(
        {
            "sku": "MUG-BLUE",
            "status": "INVALID",
            "submissionId": "f1dc2914-75dd-11ea-bc55-0242ac130003",
            "issues": [
                {"code": "90220", "message": "'quantity' is invalid.", "severity": "ERROR"},
                {"code": "1", "message": "a hint", "severity": "INFO"},
            ],
        }
    )

    result = mapping.push_result_of_submission("MUG-BLUE", submission)

    assert result.outcome is PushOutcome.REJECTED
    assert result.error == "90220: 'quantity' is invalid."


def test_merchant_listings_report_gives_the_merchant_quantity_and_none_for_fba() -> None:
    text = (
        "item-name\tseller-sku\tprice\tquantity\tfulfillment-channel\tstatus\r\n"
        "Blue mug\tMUG-BLUE\t9.99\t12\tDEFAULT\tActive\r\n"
        "Red mug\tMUG-RED\t9.99\t0\tDEFAULT\tInactive\r\n"
        "FBA mug\tMUG-FBA\t9.99\t\tAMAZON_NA\tActive\r\n"
    )

    assert mapping.merchant_quantities(text) == {"MUG-BLUE": 12, "MUG-RED": 0, "MUG-FBA": None}


def test_a_report_without_the_columns_we_need_is_refused() -> None:
    with pytest.raises(mapping.Unmappable, match="seller-sku"):
        mapping.merchant_quantities("sku\tqty\r\nA\t1\r\n")


def test_ship_date_of_a_naive_time_is_taken_as_utc() -> None:
    body = mapping.confirm_shipment_body(
        a_notice(shipped_at=datetime(2026, 11, 2, 9, 0)), "ATVPDKIKX0DER"
    )
    assert body["packageDetail"]["shipDate"] == "2026-11-02T09:00:00Z"
