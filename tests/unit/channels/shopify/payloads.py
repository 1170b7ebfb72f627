"""Shopify orders as Shopify sends them: an Admin GraphQL node and an `orders/*` webhook body,
shaped after the examples on shopify.dev (field names, nullability, money as strings)."""

from __future__ import annotations

import copy
import json
from typing import Any

GRAPHQL_ORDER: dict[str, Any] = {
    "id": "gid://shopify/Order/5678901234",
    "legacyResourceId": "5678901234",
    "name": "#1042",
    "createdAt": "2026-01-05T09:00:00Z",
    "updatedAt": "2026-01-05T09:02:30Z",
    "processedAt": "2026-01-05T08:59:58Z",
    "cancelledAt": None,
    "cancelReason": None,
    "displayFinancialStatus": "PAID",
    "displayFulfillmentStatus": "UNFULFILLED",
    "email": "ada@example.com",
    "currencyCode": "USD",
    "totalPriceSet": {
        "shopMoney": {"amount": "57.50", "currencyCode": "USD"},
        "presentmentMoney": {"amount": "57.50", "currencyCode": "USD"},
    },
    "shippingAddress": {
        "name": "Ada Lovelace",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "company": None,
        "address1": "350 Fifth Avenue",
        "address2": "Floor 34",
        "city": "New York",
        "province": "New York",
        "provinceCode": "NY",
        "zip": "10118",
        "country": "United States",
        "countryCodeV2": "US",
        "phone": "+1 212 555 0100",
    },
    "lineItems": {
        "pageInfo": {"hasNextPage": False, "endCursor": "eyJsYXN0X2lkIjoy"},
        "nodes": [
            {
                "id": "gid://shopify/LineItem/11001",
                "sku": "MUG-BLUE",
                "quantity": 2,
                "currentQuantity": 2,
                "variant": {"id": "gid://shopify/ProductVariant/44001"},
                "originalUnitPriceSet": {
                    "shopMoney": {"amount": "12.50", "currencyCode": "USD"},
                    "presentmentMoney": {"amount": "12.50", "currencyCode": "USD"},
                },
            },
            {
                "id": "gid://shopify/LineItem/11002",
                "sku": "TEE-M",
                "quantity": 1,
                "currentQuantity": 1,
                "variant": {"id": "gid://shopify/ProductVariant/44002"},
                "originalUnitPriceSet": {
                    "shopMoney": {"amount": "32.50", "currencyCode": "USD"},
                    "presentmentMoney": {"amount": "32.50", "currencyCode": "USD"},
                },
            },
        ],
    },
}

WEBHOOK_ORDER: dict[str, Any] = {
    "id": 5678901234,
    "admin_graphql_api_id": "gid://shopify/Order/5678901234",
    "app_id": 580111,
    "browser_ip": "203.0.113.7",
    "buyer_accepts_marketing": False,
    "cancel_reason": None,
    "cancelled_at": None,
    "closed_at": None,
    "confirmed": True,
    "contact_email": "ada@example.com",
    "created_at": "2026-01-05T04:00:00-05:00",
    "currency": "USD",
    "current_subtotal_price": "57.50",
    "current_total_price": "57.50",
    "email": "ada@example.com",
    "financial_status": "paid",
    "fulfillment_status": None,
    "name": "#1042",
    "note": None,
    "number": 42,
    "order_number": 1042,
    "presentment_currency": "USD",
    "processed_at": "2026-01-05T03:59:58-05:00",
    "subtotal_price": "57.50",
    "tags": "",
    "test": False,
    "total_discounts": "0.00",
    "total_price": "57.50",
    "total_tax": "0.00",
    "updated_at": "2026-01-05T04:02:30-05:00",
    "billing_address": None,
    "customer": {"id": 207119551, "email": "ada@example.com", "first_name": "Ada"},
    "discount_applications": [],
    "fulfillments": [],
    "line_items": [
        {
            "id": 11001,
            "admin_graphql_api_id": "gid://shopify/LineItem/11001",
            "current_quantity": 2,
            "fulfillable_quantity": 2,
            "fulfillment_service": "manual",
            "fulfillment_status": None,
            "gift_card": False,
            "grams": 350,
            "name": "Mug - Blue",
            "price": "12.50",
            "price_set": {
                "shop_money": {"amount": "12.50", "currency_code": "USD"},
                "presentment_money": {"amount": "12.50", "currency_code": "USD"},
            },
            "product_id": 632910392,
            "quantity": 2,
            "requires_shipping": True,
            "sku": "MUG-BLUE",
            "taxable": True,
            "title": "Mug",
            "total_discount": "0.00",
            "variant_id": 44001,
            "variant_title": "Blue",
            "vendor": None,
            "tax_lines": [],
            "discount_allocations": [],
        },
        {
            "id": 11002,
            "admin_graphql_api_id": "gid://shopify/LineItem/11002",
            "current_quantity": 1,
            "fulfillable_quantity": 1,
            "fulfillment_status": None,
            "name": "Tee - M",
            "price": "32.50",
            "product_id": 632910393,
            "quantity": 1,
            "requires_shipping": True,
            "sku": "TEE-M",
            "title": "Tee",
            "variant_id": 44002,
            "tax_lines": [],
        },
    ],
    "refunds": [],
    "shipping_address": {
        "first_name": "Ada",
        "address1": "350 Fifth Avenue",
        "phone": "+1 212 555 0100",
        "city": "New York",
        "zip": "10118",
        "province": "New York",
        "country": "United States",
        "last_name": "Lovelace",
        "address2": "Floor 34",
        "company": None,
        "latitude": 40.7484,
        "longitude": -73.9857,
        "name": "Ada Lovelace",
        "country_code": "US",
        "province_code": "NY",
    },
    "shipping_lines": [{"id": 271878346, "title": "Standard", "price": "0.00"}],
}


def graphql_order(**changes: Any) -> dict[str, Any]:
    order = copy.deepcopy(GRAPHQL_ORDER)
    order.update(changes)
    return order


def webhook_order(**changes: Any) -> dict[str, Any]:
    order = copy.deepcopy(WEBHOOK_ORDER)
    order.update(changes)
    return order


def webhook_body(**changes: Any) -> bytes:
    return json.dumps(webhook_order(**changes)).encode()
