"""GET_MERCHANT_LISTINGS_ALL_DATA: every listing of the seller as a tab-separated flat file
with a header row, the way Seller Central's "All Listings Report" lays it out."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from ordermesh.sandbox.amazon.clock import iso
from ordermesh.sandbox.amazon.state import Listing

MERCHANT_LISTINGS = "GET_MERCHANT_LISTINGS_ALL_DATA"

COLUMNS = (
    "item-name",
    "item-description",
    "listing-id",
    "seller-sku",
    "price",
    "quantity",
    "open-date",
    "image-url",
    "item-is-marketplace",
    "product-id-type",
    "zshop-shipping-fee",
    "item-note",
    "item-condition",
    "zshop-category1",
    "zshop-browse-path",
    "zshop-storefront-feature",
    "asin1",
    "asin2",
    "asin3",
    "will-ship-internationally",
    "expedited-shipping",
    "zshop-boldface",
    "product-id",
    "bid-for-featured-placement",
    "add-delete",
    "pending-quantity",
    "fulfillment-channel",
    "merchant-shipping-group",
    "status",
)

# item-condition codes of the flat file: 11 is New.
_NEW = "11"
# product-id-type 1 is an ASIN.
_ASIN = "1"


def _cell(text: str) -> str:
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def merchant_listings_flat_file(listings: Iterable[Listing]) -> str:
    """One row per listing: the seller's own (DEFAULT channel) offer and its quantity."""
    rows = ["\t".join(COLUMNS)]
    for listing in sorted(listings, key=lambda item: item.sku):
        values = {
            "item-name": _cell(listing.title),
            "listing-id": f"{zlib.crc32(listing.sku.encode()):010d}",
            "seller-sku": _cell(listing.sku),
            "price": f"{listing.price:.2f}",
            "quantity": str(listing.mfn_quantity),
            "open-date": iso(listing.created),
            "item-is-marketplace": "y",
            "product-id-type": _ASIN,
            "item-condition": _NEW,
            "asin1": listing.asin,
            "product-id": listing.asin,
            "pending-quantity": "0",
            "fulfillment-channel": "DEFAULT",
            "merchant-shipping-group": "Migrated Template",
            "status": "Active" if listing.mfn_quantity > 0 else "Inactive",
        }
        rows.append("\t".join(values.get(column, "") for column in COLUMNS))
    return "\r\n".join(rows) + "\r\n"
