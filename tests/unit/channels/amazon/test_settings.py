"""Where an Amazon account's calls go, and how its credentials are kept."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ordermesh.adapters.channels.amazon.settings import AmazonAccountSettings, AmazonCredentials
from ordermesh.adapters.channels.credentials import CredentialBox, CredentialsUnreadable

BASE = {
    "selling_partner_id": "A1SELLER",
    "marketplace_ids": ["A1PA6795UKMFR9"],
    "lwa_client_id": "x",
}


def test_a_production_account_talks_to_its_regions_host_and_amazons_lwa() -> None:
    eu = AmazonAccountSettings(**BASE, region="EU")

    assert eu.base_url == "https://sellingpartnerapi-eu.amazon.com"
    assert eu.token_url == "https://api.amazon.com/auth/o2/token"


def test_amazons_sandbox_and_ordermeshs_sandbox_are_chosen_per_account() -> None:
    amazon_sandbox = AmazonAccountSettings(**BASE, region="FE", endpoint="amazon_sandbox")
    ours = AmazonAccountSettings(
        **BASE, region="NA", endpoint="custom", api_base_url="http://127.0.0.1:8100/"
    )

    assert amazon_sandbox.base_url == "https://sandbox.sellingpartnerapi-fe.amazon.com"
    assert (ours.base_url, ours.token_url) == (
        "http://127.0.0.1:8100",
        "http://127.0.0.1:8100/auth/o2/token",
    )


def test_a_custom_endpoint_without_a_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="api_base_url"):
        AmazonAccountSettings(**BASE, region="NA", endpoint="custom")


def test_credentials_are_sealed_and_open_only_under_the_same_key() -> None:
    secrets = AmazonCredentials(lwa_client_secret="s3cret", refresh_token="Atzr|abc").sealable()
    sealed = CredentialBox("key one, long enough").seal(secrets)

    assert "s3cret" not in sealed
    assert "Atzr" not in sealed
    assert CredentialBox("key one, long enough").open(sealed) == secrets
    with pytest.raises(CredentialsUnreadable, match="ORDERMESH_SECRET_KEY"):
        CredentialBox("another key").open(sealed)


def test_credentials_never_show_in_a_repr() -> None:
    credentials = AmazonCredentials(lwa_client_secret="s3cret", refresh_token="Atzr|abc")

    assert "s3cret" not in repr(credentials)
    assert "Atzr" not in repr(credentials)
