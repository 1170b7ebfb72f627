"""The dashboard in a real browser: Debian's Chromium driven by Playwright for Python.

One browser for the whole session (a persistent context on a fresh profile directory); each
test gets a fresh shop on SQLite, served by uvicorn on a free loopback port, and a new tab with
no cookies. Screenshots land in test-output/screenshots/ for a person to look at."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn

from ordermesh.bootstrap import Ordermesh, bootstrap
from ordermesh.config import Settings
from ordermesh.domain import commands as c
from ordermesh.entrypoints.api.app import create_app
from tests.builders.catalogue import BERLIN, a_location, a_product, stock

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "a long enough password"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=DESKTOP,
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    browser.clear_cookies()  # type: ignore[attr-defined]
    tab = browser.new_page()  # type: ignore[attr-defined]
    tab.set_viewport_size(DESKTOP)
    try:
        yield tab
    finally:
        tab.close()


@dataclass
class Shop:
    """A seller's shop with staff of every role, stock and a few orders, served for real."""

    om: Ordermesh
    url: str = ""
    orders: dict[str, str] = field(default_factory=dict)
    """Channel order id → our order id."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _app(om: Ordermesh):
    app = create_app(om)
    # Once the lead mounts the dashboard inside create_app, do not mount it twice.
    return app


def _order(om: Ordermesh, ref: str, buyer: str, *lines: tuple[str, int], ship_in_hours: float):
    result = om.handle(
        c.CreateOrder(
            tuple(c.NewLine(sku, qty, unit_price="9.90") for sku, qty in lines),
            BERLIN,
            buyer_name=buyer,
            channel_order_id=ref,
            ship_by=om.clock.now() + timedelta(hours=ship_in_hours),
        )
    )
    return result.order_id


@pytest.fixture
def shop(sqlite_url: str) -> Iterator[Shop]:
    om = bootstrap(Settings(database_url=sqlite_url, env="test", worker=False), migrate=False)
    for name, role in (("alice", "admin"), ("olga", "operator"), ("victor", "viewer")):
        om.users.create(name, PASSWORD, role)
    a_location(om, "WH1")
    for sku in ("MUG-1", "MUG-2", "TEE-1"):
        a_product(om, sku, title=f"Product {sku}")
    stock(om, "MUG-1", 3)
    stock(om, "TEE-1", 40)
    the_shop = Shop(om)
    the_shop.orders = {
        "WEB-1001": _order(om, "WEB-1001", "Ada Lovelace", ("MUG-1", 2), ship_in_hours=2.5),
        "WEB-1002": _order(om, "WEB-1002", "Grace Hopper", ("TEE-1", 1), ship_in_hours=30),
        "WEB-1003": _order(om, "WEB-1003", "Alan Turing", ("MUG-2", 1), ship_in_hours=50),
    }
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(om), host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.01)
    the_shop.url = f"http://127.0.0.1:{port}"
    try:
        yield the_shop
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        om.close()


def log_in(page, shop: Shop, username: str, then: str = "/") -> None:
    page.goto(f"{shop.url}{then}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{shop.url}{then}")


def screenshot(page, name: str, *, phone: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if phone:
        page.set_viewport_size(PHONE)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    if phone:
        page.set_viewport_size(DESKTOP)
