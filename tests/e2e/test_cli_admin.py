"""Setting ordermesh up and looking around from a terminal: init, keys, orders, stock."""

from __future__ import annotations

import importlib.util
import re

import pytest
from typer.testing import CliRunner

from ordermesh.bootstrap import bootstrap
from ordermesh.domain.access import Role
from ordermesh.entrypoints.cli import main
from ordermesh.entrypoints.cli.main import app
from tests.builders.catalogue import a_location, a_product, an_order, stock

runner = CliRunner()


def test_init_creates_a_new_database_and_is_safe_to_run_again(tmp_path):
    env = {"ORDERMESH_DATABASE_URL": f"sqlite:///{tmp_path}/new/ordermesh.db"}

    first = runner.invoke(app, ["init"], env=env)
    second = runner.invoke(app, ["init"], env=env)
    upgraded = runner.invoke(app, ["db", "upgrade"], env=env)

    assert (first.exit_code, second.exit_code, upgraded.exit_code) == (0, 0, 0)
    [revision] = re.findall(r"revision (\w+)\.", first.output)
    assert revision != "None"
    assert f"revision {revision}." in second.output
    assert f"Database at revision {revision}." in upgraded.output


def test_commands_on_a_database_never_initialised_say_to_run_init(tmp_path):
    env = {"ORDERMESH_DATABASE_URL": f"sqlite:///{tmp_path}/empty.db"}

    result = runner.invoke(app, ["orders", "list"], env=env)

    assert result.exit_code == 2
    assert "ordermesh init" in result.output


def test_a_created_key_is_printed_alone_on_the_last_line_and_authenticates(om, cli):
    result = cli("apikey", "create", "--role", "operator", "--name", "ERP sync")

    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    principal = om.api_keys.authenticate(key)
    assert principal is not None
    assert (principal.name, principal.role) == ("ERP sync", Role.OPERATOR)


def test_a_created_key_opens_the_api(om, cli):
    if importlib.util.find_spec("ordermesh.entrypoints.api.app") is None:
        pytest.skip("the API does not exist yet")
    from fastapi.testclient import TestClient

    from ordermesh.entrypoints.api.app import create_app

    key = cli("apikey", "create", "--role", "viewer").stdout.strip().splitlines()[-1]

    response = TestClient(create_app(om)).get(
        "/api/v1/me", headers={"Authorization": f"Bearer {key}"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "viewer"


def test_a_revoked_key_no_longer_authenticates(om, cli):
    key = cli("apikey", "create", "--role", "admin").stdout.strip().splitlines()[-1]
    [listed] = om.api_keys.list()

    listing = cli("apikey", "list")
    revoked = cli("apikey", "revoke", listed["id"])

    assert listed["prefix"] in listing.output
    assert revoked.exit_code == 0
    assert cli("apikey", "list").output.count("admin") >= 1
    assert _fresh_authenticate(om, key) is None


def _fresh_authenticate(om, key):
    """Ask the database, not this process's short cache (the CLI revoked it elsewhere)."""
    other = bootstrap(om.settings, migrate=False)
    try:
        return other.api_keys.authenticate(key)
    finally:
        other.close()


def test_revoking_an_unknown_key_fails_with_a_message(cli):
    result = cli("apikey", "revoke", "key_nope")

    assert result.exit_code == 1
    assert "no active API key key_nope" in result.output


def test_an_unknown_role_is_refused(cli):
    result = cli("apikey", "create", "--role", "root")

    assert result.exit_code == 2


@pytest.fixture
def shop(om):
    a_location(om, "WH1")
    a_product(om, "MUG-1", "Stoneware Mug")
    stock(om, "MUG-1", 5)
    return om


def test_orders_list_and_show_tell_the_story_of_an_order(shop, cli):
    order = an_order(shop, ("MUG-1", 2), buyer_name="Ada Buyer")

    listed = cli("orders", "list", "--status", "allocated")
    shown = cli("orders", "show", order.order_id)

    assert listed.exit_code == 0, listed.output
    assert "Ada Buyer" in listed.output
    assert shown.exit_code == 0, shown.output
    assert "MUG-1" in shown.output
    assert "WH1" in shown.output
    assert "open → allocated" in shown.output


def test_showing_an_unknown_order_fails(shop, cli):
    result = cli("orders", "show", "ord_nope")

    assert result.exit_code == 1
    assert "no order ord_nope" in result.output


def test_stock_show_gives_figures_per_location_and_the_last_movements(shop, cli):
    an_order(shop, ("MUG-1", 2))

    result = cli("stock", "show", "MUG-1")

    assert result.exit_code == 0, result.output
    assert "│ WH1      │ 5       │ 2        │ 3 " in result.output
    assert "reservation" in result.output
    assert "receipt" in result.output


def test_a_sandbox_that_is_not_installed_exits_2_with_a_message(monkeypatch):
    monkeypatch.setattr(
        main.importlib,
        "import_module",
        lambda name: (_ for _ in ()).throw(ModuleNotFoundError(name=name)),
    )

    result = runner.invoke(app, ["sandbox", "amazon", "--port", "1"])

    assert result.exit_code == 2
    assert "not part of this installation" in result.output
