"""Dashboard sign-in, sessions, CSRF and roles over real HTTP (no browser), on both databases."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from ordermesh.bootstrap import Ordermesh
from ordermesh.entrypoints.api.app import create_app
from tests.builders.catalogue import a_location, a_product, an_order, stock
from tests.e2e.conftest import free_port

PASSWORD = "a long enough password"


@contextmanager
def dashboard(om: Ordermesh) -> Iterator[str]:
    app = create_app(om)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@contextmanager
def signed_in(url: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as client:
        token = csrf_of(client.get("/login"))
        answer = client.post(
            "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
        )
        assert answer.status_code == 303, answer.text
        yield client


@pytest.fixture
def url(om: Ordermesh) -> Iterator[str]:
    for name, role in (("olga", "operator"), ("victor", "viewer")):
        om.users.create(name, PASSWORD, role)
    with dashboard(om) as base:
        yield base


def test_a_stranger_is_sent_to_the_login_page_and_back_after_signing_in(url: str) -> None:
    with httpx.Client(base_url=url) as browser:
        answer = browser.get("/orders?status=open")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=%2Forders%3Fstatus%3Dopen"
        token = csrf_of(browser.get(answer.headers["location"]))
        signed = browser.post(
            "/login",
            data={
                "username": "olga",
                "password": PASSWORD,
                "csrf_token": token,
                "next": "/orders?status=open",
            },
        )
    assert signed.status_code == 303
    assert signed.headers["location"] == "/orders?status=open"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(url: str) -> None:
    with httpx.Client(base_url=url) as browser:
        token = csrf_of(browser.get("/login"))
        for username in ("olga", "nobody"):
            answer = browser.post(
                "/login",
                data={"username": username, "password": "guess", "csrf_token": token},
            )
            assert answer.status_code == 401
            assert "do not match an active account" in answer.text


def test_login_never_redirects_to_another_site(url: str) -> None:
    with httpx.Client(base_url=url) as browser:
        token = csrf_of(browser.get("/login"))
        answer = browser.post(
            "/login",
            data={
                "username": "olga",
                "password": PASSWORD,
                "csrf_token": token,
                "next": "//evil.example/phish",
            },
        )
    assert answer.headers["location"] == "/"


def test_a_form_without_the_sessions_csrf_token_is_refused(om: Ordermesh, url: str) -> None:
    a_location(om)
    a_product(om, "MUG-1")
    with signed_in(url, "olga") as olga:
        answer = olga.post(
            "/inventory/receive",
            data={"sku": "MUG-1", "location": "WH1", "quantity": "5", "csrf_token": "forged"},
        )
        assert answer.status_code == 403
        assert om.queries.stock_levels(sku="MUG-1").items == []

        token = csrf_of(olga.get("/inventory"))
        done = olga.post(
            "/inventory/receive",
            data={"sku": "MUG-1", "location": "WH1", "quantity": "5", "csrf_token": token},
        )
        assert done.status_code == 303
        assert om.queries.stock_levels(sku="MUG-1").items[0]["available"] == 5


def test_a_viewer_reads_everything_and_changes_nothing(om: Ordermesh, url: str) -> None:
    a_location(om)
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 5)
    order_id = an_order(om, ("MUG-1", 1)).order_id
    with signed_in(url, "victor") as victor:
        pages = (
            "/",
            "/overview/panels",
            "/overview/charts",
            "/orders",
            "/orders/rows?status=allocated",
            f"/orders/{order_id}",
            "/inventory",
            "/inventory/movements",
            "/products",
            "/channels",
        )
        for page in pages:
            assert victor.get(page).status_code == 200, page
        assert victor.get("/users").status_code == 403
        token = csrf_of(victor.get("/orders"))
        for path, form in (
            (f"/orders/{order_id}/cancel", {"reason": "no"}),
            ("/orders/bulk", {"action": "hold", "order_ids": order_id}),
            ("/inventory/receive", {"sku": "MUG-1", "location": "WH1", "quantity": "1"}),
        ):
            answer = victor.post(path, data={**form, "csrf_token": token})
            assert answer.status_code == 403, path
    order = om.queries.get_order(order_id)
    assert order["status"] == "allocated"
    assert order["holds"] == []


def test_a_disabled_users_session_stops_working(om: Ordermesh, url: str) -> None:
    with signed_in(url, "olga") as olga:
        assert olga.get("/orders").status_code == 200
        user_id = next(u["id"] for u in om.users.list() if u["username"] == "olga")
        om.users.disable(user_id)
        answer = olga.get("/orders")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


def test_passwords_are_stored_as_argon2_hashes(om: Ordermesh) -> None:
    from ordermesh.adapters.db import tables as t

    om.users.create("nina", PASSWORD, "operator")
    with om.db.reader.connect() as conn:
        stored = conn.execute(
            select(t.users.c.password_hash).where(t.users.c.username == "nina")
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert om.users.authenticate("nina", PASSWORD).role == "operator"
    assert om.users.authenticate("nina", "wrong password") is None


def test_the_first_admin_is_made_once(om: Ordermesh) -> None:
    username, password = om.users.ensure_first_admin()
    assert om.users.authenticate(username, password).role == "admin"
    assert om.users.ensure_first_admin() is None


def test_pages_allow_scripts_from_this_site_alone(url: str) -> None:
    answer = httpx.get(f"{url}/login")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_staff_find_an_order_by_its_channel_id_or_the_buyers_name(om: Ordermesh, url: str) -> None:
    a_location(om)
    a_product(om, "MUG-1")
    stock(om, "MUG-1", 5)
    for ref, buyer in (("WEB-1", "Ada Lovelace"), ("WEB-10", "Grace Hopper")):
        an_order(om, ("MUG-1", 1), channel_order_id=ref, buyer_name=buyer)
    with signed_in(url, "olga") as olga:
        exact = olga.get("/orders/rows", params={"q": "WEB-1"}).text
        prefix = olga.get("/orders/rows", params={"q": "WEB"}).text
        buyer = olga.get("/orders/rows", params={"q": "grace"}).text
    assert ">WEB-1<" in exact
    assert ">WEB-10<" not in exact
    assert ">WEB-1<" in prefix
    assert ">WEB-10<" in prefix
    assert ">WEB-10<" in buyer
    assert ">WEB-1<" not in buyer
