"""Feeds (JSON_LISTINGS_FEED end to end), Listings Items and FBA inventory."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from amazon_sandbox_harness import (
    SELLER_ID,
    US,
    RunningSandbox,
    SpApiClient,
    StartSandbox,
    validate_document,
)

from ordermesh.sandbox.amazon.config import SandboxConfig

FEEDS = "feeds_2021-06-30.json"
LISTINGS = "listingsItems_2021-08-01.json"
INVENTORY = "fbaInventory.json"


def _quantity_message(message_id: int, sku: str, quantity: int) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "sku": sku,
        "operationType": "PATCH",
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}],
            }
        ],
    }


def _patch_quantity(client: SpApiClient, path: str, quantity: int) -> Any:
    return client.call(
        LISTINGS,
        "patchListingsItem",
        "PATCH",
        path,
        params={"marketplaceIds": US},
        json={
            "productType": "PRODUCT",
            "patches": [
                {
                    "op": "replace",
                    "path": "/attributes/fulfillment_availability",
                    "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}],
                }
            ],
        },
    )


def _submit(amazon: RunningSandbox, client: SpApiClient, document: dict[str, Any]) -> str:
    created = client.call(
        FEEDS,
        "createFeedDocument",
        "POST",
        "/feeds/2021-06-30/documents",
        json={"contentType": "application/json; charset=UTF-8"},
    )
    assert created.status_code == 201
    upload = amazon.http.put(
        created.json()["url"],
        content=orjson.dumps(document),
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    assert upload.status_code == 200
    feed = client.call(
        FEEDS,
        "createFeed",
        "POST",
        "/feeds/2021-06-30/feeds",
        json={
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [US],
            "inputFeedDocumentId": created.json()["feedDocumentId"],
        },
    )
    assert feed.status_code == 202
    return str(feed.json()["feedId"])


def _processing_report(amazon: RunningSandbox, client: SpApiClient, feed_id: str) -> Any:
    feed = client.call(FEEDS, "getFeed", "GET", f"/feeds/2021-06-30/feeds/{feed_id}").json()
    document = client.call(
        FEEDS,
        "getFeedDocument",
        "GET",
        f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}",
    ).json()
    report = amazon.http.get(document["url"]).json()
    validate_document("listings-feed-processing-report-schema-v2.json", report)
    return feed, report


def test_listings_feed_sets_quantities_and_reports_each_message(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    document = {
        "header": {"sellerId": SELLER_ID, "version": "2.0"},
        "messages": [
            _quantity_message(1, "SKU-0001", 7),
            _quantity_message(2, "SKU-0002", 0),
            _quantity_message(3, "NO-SUCH-SKU", 4),
        ],
    }
    validate_document("listings-feed-schema-v2.json", document)
    feed_id = _submit(amazon, client, document)

    queued = client.call(FEEDS, "getFeed", "GET", f"/feeds/2021-06-30/feeds/{feed_id}").json()
    amazon.advance(31)
    feed, report = _processing_report(amazon, client, feed_id)

    assert queued["processingStatus"] == "IN_QUEUE"
    assert feed["processingStatus"] == "DONE"
    assert report["summary"]["messagesProcessed"] == 3
    assert report["summary"]["messagesAccepted"] == 2
    assert report["summary"]["messagesInvalid"] == 1
    assert report["issues"][0]["sku"] == "NO-SUCH-SKU"
    listings = amazon.sandbox.state.listings
    assert (listings["SKU-0001"].mfn_quantity, listings["SKU-0002"].mfn_quantity) == (7, 0)


@pytest.mark.parametrize(("feed_order", "shown"), [("feed_last", 7), ("as_received", 2)])
def test_a_patch_sent_while_a_feed_is_processed_loses_or_wins_as_configured(
    start_sandbox: StartSandbox, feed_order: str, shown: int
) -> None:
    amazon = start_sandbox(feed_order=feed_order)
    client = amazon.client()
    document = {
        "header": {"sellerId": SELLER_ID, "version": "2.0"},
        "messages": [_quantity_message(1, "SKU-0001", 7)],
    }
    feed_id = _submit(amazon, client, document)
    amazon.advance(10)
    patched = _patch_quantity(client, f"/listings/2021-08-01/items/{SELLER_ID}/SKU-0001", 2)
    assert patched.json()["status"] == "ACCEPTED"
    amazon.advance(21)
    feed, report = _processing_report(amazon, client, feed_id)

    assert feed["processingStatus"] == "DONE"
    assert report["summary"]["messagesAccepted"] == 1
    assert amazon.sandbox.state.listings["SKU-0001"].mfn_quantity == shown


def test_an_unknown_feed_order_is_refused() -> None:
    with pytest.raises(ValueError, match="feed_order must be one of"):
        SandboxConfig(feed_order="random")


def test_a_feed_that_is_not_json_is_fatal(amazon: RunningSandbox, client: SpApiClient) -> None:
    created = client.call(
        FEEDS,
        "createFeedDocument",
        "POST",
        "/feeds/2021-06-30/documents",
        json={"contentType": "application/json"},
    ).json()
    amazon.http.put(created["url"], content=b"<xml/>")
    feed_id = client.call(
        FEEDS,
        "createFeed",
        "POST",
        "/feeds/2021-06-30/feeds",
        json={
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [US],
            "inputFeedDocumentId": created["feedDocumentId"],
        },
    ).json()["feedId"]
    amazon.advance(31)

    feed, report = _processing_report(amazon, client, feed_id)

    assert feed["processingStatus"] == "FATAL"
    assert report["summary"]["errors"] == 1


def test_create_feed_needs_a_known_document(client: SpApiClient) -> None:
    response = client.call(
        FEEDS,
        "createFeed",
        "POST",
        "/feeds/2021-06-30/feeds",
        json={"feedType": "JSON_LISTINGS_FEED", "marketplaceIds": [US], "inputFeedDocumentId": "x"},
    )

    assert response.status_code == 400


def test_patch_listing_quantity_then_read_it_back(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    path = f"/listings/2021-08-01/items/{SELLER_ID}/SKU-0003"
    patched = _patch_quantity(client, path, 12)
    read = client.call(
        LISTINGS,
        "getListingsItem",
        "GET",
        path,
        params={"marketplaceIds": US, "includedData": "summaries,fulfillmentAvailability"},
    )

    assert patched.json()["status"] == "ACCEPTED"
    assert read.json()["fulfillmentAvailability"] == [
        {"fulfillmentChannelCode": "DEFAULT", "quantity": 12}
    ]
    assert read.json()["summaries"][0]["marketplaceId"] == US


def test_listing_of_another_seller_or_unknown_sku(client: SpApiClient) -> None:
    other = client.call(
        LISTINGS,
        "getListingsItem",
        "GET",
        "/listings/2021-08-01/items/AOTHER/SKU-0001",
        params={"marketplaceIds": US},
    )
    unknown = client.call(
        LISTINGS,
        "getListingsItem",
        "GET",
        f"/listings/2021-08-01/items/{SELLER_ID}/NOPE",
        params={"marketplaceIds": US},
    )
    no_marketplace = client.call(
        LISTINGS, "getListingsItem", "GET", f"/listings/2021-08-01/items/{SELLER_ID}/SKU-0001"
    )

    assert other.status_code == 403
    assert unknown.status_code == 404
    assert no_marketplace.status_code == 400


def _search(client: SpApiClient, seller: str = SELLER_ID, **params: Any) -> Any:
    return client.call(
        LISTINGS,
        "searchListingsItems",
        "GET",
        f"/listings/2021-08-01/items/{seller}",
        params={"marketplaceIds": US, **params},
        validate=False,
    )


def test_search_listings_by_sku_reads_up_to_twenty_quantities_in_one_call(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    _patch_quantity(client, f"/listings/2021-08-01/items/{SELLER_ID}/SKU-0002", 3)
    found = client.call(
        LISTINGS,
        "searchListingsItems",
        "GET",
        f"/listings/2021-08-01/items/{SELLER_ID}",
        params={
            "marketplaceIds": US,
            "identifiers": "SKU-0001,SKU-0002,NO-SUCH-SKU",
            "identifiersType": "SKU",
            "includedData": "fulfillmentAvailability",
            "pageSize": 20,
        },
    )

    quantities = {
        item["sku"]: item["fulfillmentAvailability"][0]["quantity"]
        for item in found.json()["items"]
    }
    assert quantities == {"SKU-0001": 50, "SKU-0002": 3}
    assert found.json()["numberOfResults"] == 2
    assert "pagination" not in found.json()
    assert amazon.sandbox.stats.requests["searchListingsItems"] == 1


def test_search_listings_pages_through_every_listing_once(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"sortBy": "sku", "sortOrder": "ASC", "pageSize": 3}
    while True:
        page = client.call(
            LISTINGS,
            "searchListingsItems",
            "GET",
            f"/listings/2021-08-01/items/{SELLER_ID}",
            params={"marketplaceIds": US, **params},
        )
        seen += [item["sku"] for item in page.json()["items"]]
        token = page.json().get("pagination", {}).get("nextToken")
        if token is None:
            break
        params["pageToken"] = token

    assert seen == sorted(amazon.sandbox.state.listings)
    assert page.json()["numberOfResults"] == len(seen)


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"identifiers": "SKU-0001"}, "identifiersType"),
        (
            {"identifiers": ",".join(f"SKU-{n:04d}" for n in range(21)), "identifiersType": "SKU"},
            "identifiers",
        ),
        ({"pageSize": 21}, "pageSize"),
        ({"sortBy": "price"}, "sortBy"),
        ({"pageToken": "made-up"}, "pageToken"),
    ],
)
def test_search_listings_refuses_what_the_model_does_not_allow(
    client: SpApiClient, params: dict[str, Any], names: str
) -> None:
    refused = _search(client, **params)

    assert refused.status_code == 400
    assert names in refused.json()["errors"][0]["message"]


def test_search_listings_of_another_seller_is_denied(client: SpApiClient) -> None:
    assert _search(client, "AOTHER").status_code == 403


def test_search_listings_refuses_a_page_token_with_other_parameters(client: SpApiClient) -> None:
    first = _search(client, pageSize=2)
    token = first.json()["pagination"]["nextToken"]
    other = _search(client, pageSize=3, pageToken=token)

    assert other.status_code == 400
    assert "same as in the request" in other.json()["errors"][0]["message"]


def test_fba_inventory_seeded_with_the_sandbox_only_operations(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    created = client.call(
        INVENTORY,
        "createInventoryItem",
        "POST",
        "/fba/inventory/v1/items",
        json={"sellerSku": "FBA-1", "marketplaceId": US, "productName": "Gadget"},
    )
    body = {"inventoryItems": [{"sellerSku": "FBA-1", "marketplaceId": US, "quantity": 5}]}
    headers = {"x-amzn-idempotency-token": "seed-1"}
    for _ in range(2):
        added = client.call(
            INVENTORY,
            "addInventory",
            "POST",
            "/fba/inventory/v1/items/inventory",
            json=body,
            headers=headers,
        )
        assert added.status_code == 200

    summaries = client.call(
        INVENTORY,
        "getInventorySummaries",
        "GET",
        "/fba/inventory/v1/summaries",
        params={
            "granularityType": "Marketplace",
            "granularityId": US,
            "marketplaceIds": US,
            "details": "true",
            "sellerSku": "FBA-1",
        },
    ).json()

    assert created.status_code == 200
    [summary] = summaries["payload"]["inventorySummaries"]
    assert summary["inventoryDetails"]["fulfillableQuantity"] == 5
    assert summary["productName"] == "Gadget"


def test_fba_inventory_requires_its_granularity(client: SpApiClient) -> None:
    response = client.call(
        INVENTORY,
        "getInventorySummaries",
        "GET",
        "/fba/inventory/v1/summaries",
        params={"marketplaceIds": US},
    )

    assert response.status_code == 400
