"""Re-sign before exp: move a config's exp forward and push it again before cars drop it."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fleetportal import queueing
from telemetry.models import (
    TelemetryConfig,
    TelemetryRun,
)
from telemetry.services import push


def _resign_margin() -> dt.timedelta:
    return dt.timedelta(seconds=settings.TELEMETRY_RESIGN_MARGIN_SECONDS)


def telemetry_resign_due() -> list[int]:
    """Configs whose exp falls inside the margin and that are on some car."""
    cutoff = timezone.now() + _resign_margin()
    return list(
        TelemetryConfig.objects.filter(
            exp__isnull=False,
            exp__lte=cutoff,
            assignments__isnull=False,
        )
        .distinct()
        .values_list("pk", flat=True)
    )


def telemetry_config_resign(*, config_id: int) -> TelemetryRun | None:
    """Move exp forward by the config's own lifetime and push the new version to every
    assigned vehicle, before the cars drop it."""
    margin = _resign_margin()
    now = timezone.now()
    # Before moving exp: with the broker down the config stays due, and the next sweep retries.
    queueing.broker_check()
    with transaction.atomic():
        # Locked and re-checked: two sweeps must not both extend (and push) one config.
        config = TelemetryConfig.objects.select_for_update().filter(pk=config_id).first()
        if config is None or config.exp is None or config.exp > now + margin:
            return None
        current = config.versions.order_by("-number").first()
        lifetime = config.exp - (current.created_at if current else config.created_at)
        lifetime = max(lifetime, 2 * margin, dt.timedelta(days=1))
        config.exp = now + lifetime
        config.save(update_fields=["exp", "updated_at"])
    return push.telemetry_push_start(config=config, user=None, kind=TelemetryRun.Kind.RESIGN)
