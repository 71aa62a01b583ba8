"""The history of fields marked "keep history": its retention."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from telemetry.models import StreamPoint

PURGE_BATCH = 5000


def telemetry_history_purge(*, now: dt.datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete history points older than TELEMETRY_HISTORY_RETENTION_DAYS; returns how many.

    In batches of primary keys, each its own short statement: one DELETE of a month of
    one-minute points for a whole fleet would hold its locks (and grow the WAL) for as long as
    it ran, while the consumer keeps writing new points.
    """
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.TELEMETRY_HISTORY_RETENTION_DAYS)
    old = StreamPoint.objects.filter(at__lt=cutoff).order_by("pk")
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += StreamPoint.objects.filter(pk__in=ids).delete()[0]
