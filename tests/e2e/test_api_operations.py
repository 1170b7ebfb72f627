"""Probes and metrics: what the platform running ordermesh looks at."""

from __future__ import annotations

import time

import httpx

from ordermesh.bootstrap import bootstrap
from ordermesh.config import Settings
from tests.builders.catalogue import a_location, a_product, an_order, stock
from tests.e2e.conftest import serving
from tests.e2e.test_api_problems import ORDER


def test_health_and_ready_need_no_key(api):
    assert api.anonymous.get("/health").json() == {"status": "ok"}
    ready = api.anonymous.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_a_database_without_the_schema_is_not_ready(tmp_path):
    om = bootstrap(
        Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", env="test", worker=False),
        migrate=False,
    )
    try:
        with serving(om) as url:
            answer = httpx.get(f"{url}/ready")
            alive = httpx.get(f"{url}/health")
    finally:
        om.close()

    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert "ordermesh db upgrade" in answer.json()["detail"]
    assert alive.status_code == 200


def _samples(text: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


def test_metrics_count_requests_by_route_and_status_and_show_the_business(api, om):
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 1)
    an_order(om, ("MUG-1", 1))
    an_order(om, ("MUG-1", 1))
    api.operator.post("/api/v1/orders", json=ORDER)
    api.viewer.get("/api/v1/orders/ord_missing")

    metrics = api.anonymous.get("/metrics")

    assert metrics.status_code == 200
    samples = _samples(metrics.text)
    created = 'ordermesh_http_requests_total{method="POST",route="/api/v1/orders",status="201"}'
    missing = (
        'ordermesh_http_requests_total{method="GET",route="/api/v1/orders/{order_id}",status="404"}'
    )
    assert samples[created] == 1
    assert samples[missing] == 1
    assert any(k.startswith("ordermesh_http_request_duration_seconds_bucket") for k in samples)
    assert samples['ordermesh_orders{status="allocated"}'] == 1
    assert samples['ordermesh_orders{status="backordered"}'] == 2
    assert samples["ordermesh_outbox_pending"] > 0
    assert "ordermesh_outbox_oldest_pending_age_seconds" in samples


def test_the_outbox_endpoint_shows_the_backlog(api, om):
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 3)

    status = api.viewer.get("/api/v1/outbox").json()

    assert status["counts"]["pending"] >= 1
    assert status["oldest_pending_age_seconds"] >= 0


def test_the_openapi_document_lists_the_routes(api):
    spec = api.anonymous.get("/openapi.json").json()

    assert spec["info"]["title"] == "ordermesh"
    assert {"/api/v1/orders", "/api/v1/orders/{order_id}", "/api/v1/stock/levels"} <= set(
        spec["paths"]
    )
    assert api.anonymous.get("/docs").status_code == 200


def test_the_in_process_worker_runs_while_serving(om, monkeypatch):
    monkeypatch.setattr(om.settings, "worker", True)
    a_location(om)
    a_product(om)
    stock(om, "MUG-1", 3)
    assert om.queries.outbox_status()["counts"].get("pending")

    with serving(om):
        deadline = time.monotonic() + 10
        while om.queries.outbox_status()["counts"].get("pending") and time.monotonic() < deadline:
            time.sleep(0.05)

    assert not om.queries.outbox_status()["counts"].get("pending")
