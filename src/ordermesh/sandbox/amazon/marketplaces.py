"""The marketplaces the sandbox can sell in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Marketplace:
    marketplace_id: str
    country_code: str
    currency: str
    sales_channel: str
    order_id_prefix: str
    sample_cities: tuple[tuple[str, str, str], ...]


MARKETPLACES: dict[str, Marketplace] = {
    m.marketplace_id: m
    for m in (
        Marketplace(
            "ATVPDKIKX0DER",
            "US",
            "USD",
            "Amazon.com",
            "11",
            (("Seattle", "WA", "98109"), ("Austin", "TX", "78701"), ("Boston", "MA", "02110")),
        ),
        Marketplace(
            "A2EUQ1WTGCTBG2",
            "CA",
            "CAD",
            "Amazon.ca",
            "70",
            (("Toronto", "ON", "M5V 2T6"), ("Vancouver", "BC", "V6B 1A1")),
        ),
        Marketplace(
            "A1PA6795UKMFR9",
            "DE",
            "EUR",
            "Amazon.de",
            "30",
            (("Berlin", "BE", "10115"), ("München", "BY", "80331"), ("Hamburg", "HH", "20095")),
        ),
        Marketplace(
            "A1F83G8C2ARO7P",
            "GB",
            "GBP",
            "Amazon.co.uk",
            "20",
            (("London", "London", "EC1A 1BB"), ("Leeds", "West Yorkshire", "LS1 4AP")),
        ),
        Marketplace(
            "A13V1IB3VIYZZH",
            "FR",
            "EUR",
            "Amazon.fr",
            "40",
            (("Paris", "Île-de-France", "75001"), ("Lyon", "Rhône", "69001")),
        ),
    )
}
