"""Connecting channel accounts from the command line."""

from __future__ import annotations

from ordermesh.bootstrap import bootstrap
from ordermesh.config import Settings

AMAZON = (
    "channels", "add", "amazon", "--name", "Amazon EU", "--seller-id", "A2SELLER",
    "--region", "EU", "--marketplace", "A1PA6795UKMFR9", "--marketplace", "A1F83G8C2ARO7P",
    "--client-id", "amzn1.application-oa2-client.x", "--client-secret", "s3cret",
    "--refresh-token", "Atzr|token",
)  # fmt: skip


def test_an_amazon_account_is_connected_with_its_secrets_sealed_and_shows_in_status(
    cli, database_url
):
    added = cli(*AMAZON)
    assert added.exit_code == 0, added.output
    assert "Connected amazon account Amazon EU" in added.output

    status = cli("channels", "status")
    assert "Amazon EU" in status.output
    assert "active" in status.output
    assert "s3cret" not in status.output

    om = bootstrap(Settings(database_url=database_url, env="test", worker=False), migrate=False)
    try:
        [account] = om.channel_adapters.accounts.list()
        stored = om.channel_adapters.accounts.get(account["id"])
        assert stored.secrets["refresh_token"] == "Atzr|token"
        with om.db.reader.connect() as conn:
            raw = conn.exec_driver_sql("SELECT secrets FROM channel_accounts").scalar_one()
        assert "Atzr|token" not in raw
    finally:
        om.close()


def test_the_same_name_twice_is_refused(cli):
    assert cli(*AMAZON).exit_code == 0
    again = cli(*AMAZON)
    assert again.exit_code != 0
    assert "named 'Amazon EU' exists" in again.output


def test_a_custom_endpoint_without_its_url_is_refused_naming_the_setting(cli):
    refused = cli(*AMAZON, "--endpoint", "custom")
    assert refused.exit_code != 0
    assert "custom endpoint needs api_base_url" in refused.output
    assert "No channel accounts yet" in cli("channels", "status").output


def test_a_shopify_shop_needs_its_webhook_secret(cli):
    refused = cli(
        "channels", "add", "shopify", "--name", "Shop", "--shop", "demo.myshopify.com",
        "--access-token", "shpat_x", "--webhook-secret", "",
    )  # fmt: skip
    assert refused.exit_code != 0
    assert "client secret is needed" in refused.output
    ok = cli(
        "channels", "add", "shopify", "--name", "Shop", "--shop", "demo.myshopify.com",
        "--access-token", "shpat_x", "--webhook-secret", "whsec",
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output


SHOP = (
    "channels", "add", "shopify", "--name", "Shop", "--shop", "demo.myshopify.com",
    "--access-token", "shpat_x", "--webhook-secret", "whsec",
)  # fmt: skip


def test_a_shops_locations_are_mapped_to_ours_and_one_carries_the_figure(cli, database_url):
    added = cli(
        *SHOP, "--location", "80123456789=WH1", "--location", "gid://shopify/Location/42=3PL",
        "--stock-location", "80123456789",
    )  # fmt: skip
    assert added.exit_code == 0, added.output

    om = bootstrap(Settings(database_url=database_url, env="test", worker=False), migrate=False)
    try:
        [account] = om.channel_adapters.accounts.list()
        settings = om.channel_adapters.accounts.get(account["id"]).settings
        assert settings["locations"] == {"80123456789": "WH1", "42": "3PL"}
        assert settings["stock_location"] == "80123456789"
    finally:
        om.close()


def test_a_location_pair_written_wrong_is_refused_saying_how_to_write_it(cli):
    refused = cli(*SHOP, "--location", "WH1")
    assert refused.exit_code != 0
    assert "SHOPIFY_LOCATION_ID=LOCATION" in refused.output


def test_two_mapped_locations_without_the_one_carrying_the_figure_are_refused(cli):
    refused = cli(*SHOP, "--location", "1=WH1", "--location", "2=3PL")
    assert refused.exit_code != 0
    assert "stock_location" in refused.output
