"""Retention of what the stream leaves behind: history points of fields marked "keep
history", and the errors and alerts cars reported."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from telemetry.models import StreamEvent, StreamPoint

PURGE_BATCH = 5000


def _delete_in_batches(rows: QuerySet, batch: int) -> int:
    """Delete `rows` in batches of primary keys, each its own short statement: one DELETE of a
    month of one-minute points for a whole fleet would hold its locks (and grow the WAL) for
    as long as it ran, while the consumer keeps writing new rows."""
    rows = rows.order_by("pk")
    deleted = 0
    while True:
        ids = list(rows.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += rows.model.objects.filter(pk__in=ids).delete()[0]


def telemetry_history_purge(*, now: dt.datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete history points, and stream errors and alerts, received before
    TELEMETRY_HISTORY_RETENTION_DAYS; returns how many rows went. Latest values and the
    signal counts per day stay (the usage figures are read from the counts)."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.TELEMETRY_HISTORY_RETENTION_DAYS)
    return _delete_in_batches(
        StreamPoint.objects.filter(at__lt=cutoff), batch
    ) + _delete_in_batches(StreamEvent.objects.filter(received_at__lt=cutoff), batch)
