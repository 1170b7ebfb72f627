import json
from tests.contract.shopify_sandbox.conftest import *  # noqa

def test_smoke(sandbox):
    r = sandbox.graphql("""{ orders(first: 5) { nodes { id } pageInfo { hasNextPage endCursor } } locations(first: 5) { nodes { id name } } }""")
    print(json.dumps(r, indent=1))
    ids = sandbox.admin("POST", "/generate", {"count": 3})
    print(ids)
    r = sandbox.graphql("""query($q: String) { orders(first: 2, sortKey: UPDATED_AT, query: $q) { edges { cursor node { id legacyResourceId name createdAt updatedAt displayFinancialStatus displayFulfillmentStatus totalPriceSet { shopMoney { amount currencyCode } } shippingAddress { city countryCodeV2 } lineItems(first: 5) { nodes { id sku quantity variant { id } originalUnitPriceSet { shopMoney { amount } } } } fulfillmentOrders(first: 3) { nodes { id status assignedLocation { location { id } } lineItems(first: 5) { nodes { id remainingQuantity lineItem { id } } } } } refunds { id } } } pageInfo { hasNextPage endCursor } } }""", {"q": "updated_at:>'2020-01-01T00:00:00Z'"})
    print(json.dumps(r, indent=1)[:3000])
    print(sandbox.admin("GET", "/stats"))
