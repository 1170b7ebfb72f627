"""Who may call the sandbox's Admin API, and at which version."""

from __future__ import annotations

from collections.abc import Callable

from ordermesh.sandbox.shopify import API_VERSION, SandboxConfig

from .conftest import TOKEN, Receiver, RunningSandbox

SHOP_QUERY = {"query": "{ shop { name myshopifyDomain currencyCode } }"}


def test_a_call_without_the_access_token_is_refused_with_401(sandbox: RunningSandbox) -> None:
    response = sandbox.client.post(sandbox.graphql_url, json=SHOP_QUERY)

    assert response.status_code == 401
    assert "Invalid API key or access token" in response.json()["errors"]


def test_a_call_with_a_wrong_token_is_refused_with_401(sandbox: RunningSandbox) -> None:
    response = sandbox.client.post(
        sandbox.graphql_url, json=SHOP_QUERY, headers={"X-Shopify-Access-Token": "shpat_nope"}
    )

    assert response.status_code == 401
    assert sandbox.admin("GET", "/stats")["unauthorized"] == 1


def test_the_right_token_reads_the_shop(sandbox: RunningSandbox) -> None:
    response = sandbox.client.post(
        sandbox.graphql_url, json=SHOP_QUERY, headers={"X-Shopify-Access-Token": TOKEN}
    )

    assert response.status_code == 200
    assert response.headers["X-Shopify-API-Version"] == API_VERSION
    assert response.json()["data"]["shop"] == {
        "name": "ordermesh-demo",
        "myshopifyDomain": "ordermesh-demo.myshopify.com",
        "currencyCode": "USD",
    }


def test_a_token_is_generated_when_none_is_given() -> None:
    first, second = SandboxConfig(), SandboxConfig()

    assert first.access_token.startswith("shpat_")
    assert first.access_token != second.access_token
    assert first.webhook_secret != second.webhook_secret
    assert SandboxConfig(access_token=None).access_token.startswith("shpat_")  # type: ignore[arg-type]


def test_an_older_version_falls_forward_to_the_pinned_one(sandbox: RunningSandbox) -> None:
    response = sandbox.client.post(
        f"{sandbox.base_url}/admin/api/2024-01/graphql.json",
        json=SHOP_QUERY,
        headers={"X-Shopify-Access-Token": TOKEN},
    )

    assert response.status_code == 200
    assert response.headers["X-Shopify-API-Version"] == API_VERSION


def test_a_malformed_version_is_not_found(sandbox: RunningSandbox) -> None:
    response = sandbox.client.post(
        f"{sandbox.base_url}/admin/api/2026-13/graphql.json",
        json=SHOP_QUERY,
        headers={"X-Shopify-Access-Token": TOKEN},
    )

    assert response.status_code == 404


def test_uninstalling_the_app_revokes_the_token_and_sends_app_uninstalled(
    start_sandbox: Callable[..., RunningSandbox], receiver: Receiver
) -> None:
    sandbox = start_sandbox(webhook_url=receiver.url)

    sandbox.admin("POST", "/app/uninstall")
    sandbox.flush()

    response = sandbox.client.post(
        sandbox.graphql_url, json=SHOP_QUERY, headers={"X-Shopify-Access-Token": TOKEN}
    )
    assert response.status_code == 401
    assert [r.topic for r in receiver.received] == ["app/uninstalled"]
    assert receiver.received[0].payload["myshopify_domain"] == "ordermesh-demo.myshopify.com"

    sandbox.admin("POST", "/generate", {"count": 2})
    sandbox.flush()

    assert [r.topic for r in receiver.received] == ["app/uninstalled"]
