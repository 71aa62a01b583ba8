"""The stream's line in /healthz: is a consumer connected, and how old is the last message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from telemetry.models import StreamConsumer

# A consumer beats every few seconds (telemetry/stream/client.py): one silent for longer than
# this is gone (killed, or its host is down).
STALE_SECONDS = 30


def stream_report() -> dict[str, Any]:
    """status: "ok" (a consumer is connected), "disconnected" (consumers run but reach no
    broker), "down" (no consumer beat recently) or "no_consumer" (none ever ran)."""
    now = timezone.now()
    rows = list(StreamConsumer.objects.values("connected", "heartbeat_at", "last_message_at"))
    if not rows:
        return {"status": "no_consumer"}
    stale = now - timedelta(seconds=STALE_SECONDS)
    alive = [row for row in rows if row["heartbeat_at"] and row["heartbeat_at"] >= stale]
    connected = [row for row in alive if row["connected"]]
    last = max((row["last_message_at"] for row in rows if row["last_message_at"]), default=None)
    return {
        "status": "ok" if connected else "disconnected" if alive else "down",
        "consumers": len(alive),
        "connected": len(connected),
        "last_message_age_s": round((now - last).total_seconds(), 1) if last else None,
    }
