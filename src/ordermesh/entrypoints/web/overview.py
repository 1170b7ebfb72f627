"""The overview: what needs the team now. Its panels refresh themselves every few seconds."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from ordermesh.entrypoints.web.context import Web

AT_RISK_CHOICES = (4, 12, 24, 48)
CHART_DAYS = 90
COVER_DAYS = 30
"""Days of sales that days-of-cover averages over."""
REFRESH_SECONDS = 15


def _filters(channel: str | None, hours: int | None) -> dict[str, Any]:
    return {
        "channel": channel or "",
        "hours": hours if hours in AT_RISK_CHOICES else 24,
    }


def _panels(web: Web, filters: dict[str, Any]) -> dict[str, Any]:
    q = web.om.queries
    now = web.om.clock.now().astimezone(UTC)
    today = datetime.combine(now.date(), time.min, tzinfo=UTC)
    week = today - timedelta(days=today.weekday())
    channel = filters["channel"] or None
    at_risk_total, at_risk = q.orders_at_risk(timedelta(hours=filters["hours"]), channel=channel)
    backorders_total, backorders = q.orders_waiting("backordered", channel=channel)
    holds_total, holds = q.orders_waiting("held", channel=channel)
    alerts_total, alerts = q.stock_alerts()
    # The stock alerts come from the worker's latest snapshot, once it has taken one.
    taken = q.snapshot_times()
    alerts_as_of = taken.get("stock_alerts")
    return {
        "now": now,
        "today": _count_table(q.order_counts(today, channel=channel)),
        "week": _count_table(q.order_counts(week, channel=channel)),
        "at_risk": at_risk,
        "at_risk_total": at_risk_total,
        "backorders": backorders,
        "backorders_total": backorders_total,
        "holds": holds,
        "holds_total": holds_total,
        "alerts": alerts,
        "alerts_total": alerts_total,
        "alerts_as_of": alerts_as_of,
        # Days before today in "this week" come from the worker's snapshot of the last days.
        "week_as_of": taken.get("recent_days") if week < today else None,
        "outbox": q.outbox_status(),
        "accounts": q.channel_accounts(),
        "refresh": REFRESH_SECONDS,
    }


def _count_table(counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Rows per channel, a column per status seen, with totals: ready to draw as a table."""
    statuses = sorted({s for by_status in counts.values() for s in by_status})
    rows = [
        {"channel": ch, "cells": [by.get(s, 0) for s in statuses], "total": sum(by.values())}
        for ch, by in sorted(counts.items())
    ]
    return {
        "statuses": statuses,
        "rows": rows,
        "totals": [sum(r["cells"][i] for r in rows) for i in range(len(statuses))],
        "total": sum(r["total"] for r in rows),
    }


def routes(web: Web) -> APIRouter:
    router = APIRouter()

    @router.get("/")
    def overview(
        request: Request, channel: str | None = None, hours: int | None = None
    ) -> Response:
        web.user(request)
        filters = _filters(channel, hours)
        context = {
            "filters": filters,
            "channels": web.channels(),
            "at_risk_choices": AT_RISK_CHOICES,
            **_panels(web, filters),
        }
        return web.render(request, "overview.html", context)

    @router.get("/overview/panels")
    def panels(request: Request, channel: str | None = None, hours: int | None = None) -> Response:
        web.user(request)
        filters = _filters(channel, hours)
        return web.render(
            request, "overview_panels.html", {"filters": filters, **_panels(web, filters)}
        )

    @router.get("/overview/charts")
    def charts(request: Request, channel: str | None = None) -> Response:
        """The charts, loaded after the page. Both read what the worker keeps up to date (a
        rollup of orders per day, a snapshot of days of cover), never months of orders."""
        web.user(request)
        q = web.om.queries
        context = {
            "chart": q.orders_per_day(CHART_DAYS, channel=channel or None),
            "cover": q.stock_cover(COVER_DAYS),
            "cover_as_of": q.snapshot_times().get("stock_cover"),
            "chart_days": CHART_DAYS,
            "cover_days": COVER_DAYS,
        }
        return web.render(request, "overview_charts.html", context)

    return router
