"""`ordermesh sandbox amazon` calls cli.run: it prints the credentials it accepts."""

from __future__ import annotations

from typing import Any

import pytest

from ordermesh.sandbox.amazon import cli


def test_run_prints_the_credentials_and_serves_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kwargs: served.update(app=app, **kwargs))

    cli.run(
        8123,
        client_id="my-client",
        client_secret="my-secret",
        refresh_token="Atzr|mine",
        seller_id="AMYSELLER",
        orders_per_minute=5,
        rate_limits=False,
    )

    printed = capsys.readouterr().out
    for value in ("my-client", "my-secret", "Atzr|mine", "AMYSELLER", "http://127.0.0.1:8123"):
        assert value in printed
    config = served["app"].state.sandbox.config
    assert (config.orders_per_minute, config.rate_limits, served["port"]) == (5, False, 8123)
