"""Stock sync as the API, the CLI and the dashboard show it: plain dicts of JSON values
(numbers, text, ISO times), one shape for all three."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ordermesh.ports.stock_sync import DriftReport, ListingFigure, QueueStatus
from ordermesh.services.stock_sync_jobs import ChannelHealth


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def figure_view(figure: ListingFigure) -> dict[str, Any]:
    """A listing's figure, how it was computed, and where its push stands."""
    e = figure.explanation
    demand = e.demand
    return {
        "channel_account": e.channel_account,
        "channel_sku": e.channel_sku,
        "sku": e.sku,
        "available_to_sell": e.quantity,
        "pushed": e.pushed,
        "free": e.free,
        "pending_orders": e.pending_orders,
        "locations": [
            {
                "sku": f.sku,
                "location": f.location,
                "on_hand": f.on_hand,
                "reserved": f.reserved,
                "available": f.available,
            }
            for f in e.locations
        ],
        "components": [
            {"sku": p.sku, "per_kit": p.per_kit, "available": p.available, "kits": p.kits}
            for p in e.components
        ],
        "buffer": {
            "units_held": e.buffer,
            "units": e.buffer_units,
            "percent": str(e.buffer_percent),
            "source": e.buffer_source,
        },
        "max_quantity": e.max_quantity,
        "in_flight_margin": {
            "units_held": e.margin,
            "units_sold": demand.units_sold if demand else 0,
            "window_seconds": _seconds(demand.window) if demand else None,
            "import_lag_seconds": _seconds(demand.import_lag) if demand else None,
        },
        "rules": [str(r) for r in e.rules],
        "notes": list(e.notes),
        "push": {
            "queued": figure.queued,
            "confirmed": figure.confirmed,
            "status": figure.status,
            "urgent": figure.urgent,
            "last_error": figure.last_error,
        },
    }


def queue_view(q: QueueStatus) -> dict[str, Any]:
    return {
        "depth": q.depth,
        "urgent": q.urgent,
        "in_flight": q.in_flight,
        "oldest_pending_age_seconds": _seconds(q.oldest_pending_age),
        "sent": q.sent,
        "failed": q.failed_attempts,
        "retrying": q.retrying,
        "rejected": q.rejected,
        "last_error": q.last_error,
        "last_sent_at": _time(q.last_sent_at),
    }


def health_view(h: ChannelHealth) -> dict[str, Any]:
    return {
        "channel_account": h.channel_account,
        "name": h.name,
        "channel": h.channel,
        **queue_view(h.queue),
        "behind": h.behind,
        "alert": h.reason,
        "consecutive_failures": h.consecutive_failures,
        "rate_limits": h.rate_limits,
    }


def drift_view(report: DriftReport) -> dict[str, Any]:
    return {
        "accounts": [
            {
                "channel_account": r.channel_account,
                "checked_at": _time(r.checked_at),
                "checked": r.checked,
                "drifted": r.drifted,
                "error": r.error,
            }
            for r in report.runs
        ],
        "drift": [
            {
                "channel_account": d.channel_account,
                "channel_sku": d.channel_sku,
                "sku": d.sku,
                "found_at": _time(d.found_at),
                "ours": d.ours,
                "theirs": d.theirs,
            }
            for d in report.recent
        ],
    }
