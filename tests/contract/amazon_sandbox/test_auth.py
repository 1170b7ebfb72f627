"""Login with Amazon and the x-amz-access-token check on every SP-API call."""

from __future__ import annotations

from amazon_sandbox_harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    RunningSandbox,
    SpApiClient,
)

SEARCH_SINCE = {"createdAfter": "2026-01-01T00:00:00Z"}


def _token_request(amazon: RunningSandbox, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    form.update(overrides)
    return form


def test_refresh_token_buys_an_hour_long_bearer_token(amazon: RunningSandbox) -> None:
    response = amazon.http.post("/auth/o2/token", data=_token_request(amazon))

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("Atza|")
    assert body["refresh_token"] == REFRESH_TOKEN


def test_wrong_client_secret_is_invalid_client(amazon: RunningSandbox) -> None:
    response = amazon.http.post(
        "/auth/o2/token", data=_token_request(amazon, client_secret="guess")
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_description"]


def test_unknown_refresh_token_is_invalid_grant(amazon: RunningSandbox) -> None:
    response = amazon.http.post(
        "/auth/o2/token", data=_token_request(amazon, refresh_token="Atzr|nope")
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_revoked_refresh_token_is_invalid_grant_and_kills_its_access_tokens(
    amazon: RunningSandbox, client: SpApiClient
) -> None:
    assert client.search_orders(**SEARCH_SINCE).status_code == 200

    assert amazon.admin("POST", "/revoke", json={}).status_code == 204

    refused = amazon.http.post("/auth/o2/token", data=_token_request(amazon))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert client.search_orders(**SEARCH_SINCE).status_code == 403


def test_call_without_access_token_is_denied_in_sp_api_shape(amazon: RunningSandbox) -> None:
    response = amazon.http.get("/orders/2026-01-01/orders", params=SEARCH_SINCE)

    assert response.status_code == 403
    assert response.headers["x-amzn-RequestId"]
    error = response.json()["errors"][0]
    assert error["code"] == "Unauthorized"
    assert error["message"] == "Access to requested resource is denied."


def test_garbage_access_token_is_denied(client: SpApiClient) -> None:
    client.token = "Atza|forged"

    response = client.search_orders(**SEARCH_SINCE)

    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "Unauthorized"


def test_access_token_expires_after_an_hour(amazon: RunningSandbox, client: SpApiClient) -> None:
    amazon.advance(3599)
    assert client.search_orders(**SEARCH_SINCE).status_code == 200

    amazon.advance(2)
    expired = client.search_orders(**SEARCH_SINCE)

    assert expired.status_code == 403
    assert "expired" in expired.json()["errors"][0]["details"]
    assert amazon.client().search_orders(**SEARCH_SINCE).status_code == 200


def test_grantless_token_needs_a_scope(amazon: RunningSandbox) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    missing = amazon.http.post("/auth/o2/token", data=form)
    granted = amazon.http.post(
        "/auth/o2/token", data={**form, "scope": "sellingpartnerapi::notifications"}
    )

    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    assert granted.status_code == 200
    assert granted.json()["scope"] == "sellingpartnerapi::notifications"


def test_unsupported_grant_type(amazon: RunningSandbox) -> None:
    response = amazon.http.post(
        "/auth/o2/token", data=_token_request(amazon, grant_type="password")
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
