"""Reads for accounts: the figures behind the staff status page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone

from accounts.models import RefreshAttempt, TeslaLink


def link_status_summary() -> dict[str, Any]:
    """Links by health, refreshes in the last 24 h by outcome, and the next due refresh."""
    now = timezone.now()
    by_health = dict(TeslaLink.objects.values_list("health").annotate(n=Count("pk")).order_by())
    attempts = dict(
        RefreshAttempt.objects.filter(created_at__gte=now - dt.timedelta(hours=24))
        .values_list("outcome")
        .annotate(n=Count("pk"))
        .order_by()
    )
    soonest = TeslaLink.objects.filter(
        health__in=[TeslaLink.Health.OK, TeslaLink.Health.RETRYING]
    ).aggregate(at=Min("access_token_expires_at"))["at"]
    margin = dt.timedelta(seconds=settings.TESLA_REFRESH_MARGIN_SECONDS)
    return {
        "health": [
            (choice, label, by_health.get(choice, 0)) for choice, label in TeslaLink.Health.choices
        ],
        "attempts": [
            (choice, label, attempts.get(choice, 0))
            for choice, label in RefreshAttempt.Outcome.choices
        ],
        "next_due": max(soonest - margin, now) if soonest else None,
        "total": sum(by_health.values()),
    }
