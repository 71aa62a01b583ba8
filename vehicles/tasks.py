"""Celery tasks for vehicles: tiny, take ids, call one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from accounts.tasks import retry_countdown
from fleetportal.tesla.errors import TransientError
from vehicles import services


def _max_retries() -> int:
    return settings.VEHICLES_SYNC_MAX_RETRIES


@shared_task(bind=True, max_retries=None)
def vehicles_sync_link(self, link_id: int, run_id: int | None = None) -> str:
    """Sync one link's vehicles; transient Tesla errors (429, 5xx, timeouts) retry with backoff."""
    if run_id is None:
        # Queued without a run (e.g. right after linking): make one now so retries share it.
        run_id = services.vehicles_sync_run_create(link_id=link_id)
        if run_id is None:
            return "no_link"
    try:
        return services.vehicles_sync(link_id=link_id, run_id=run_id).status
    except TransientError as exc:
        final = self.request.retries >= _max_retries()
        services.vehicles_sync_mark_retrying(run_id=run_id, error=str(exc), final=final)
        if final:
            # The next beat sweep starts a fresh sync; nothing is lost by stopping here.
            return "gave_up"
        # 429 carries Retry-After (spec 4.5), honoured up to the cap; otherwise jittered backoff.
        raise self.retry(
            args=[link_id],
            kwargs={"run_id": run_id},
            exc=exc,
            countdown=retry_countdown(self.request.retries, getattr(exc, "retry_after", None)),
        ) from exc


@shared_task
def vehicles_sync_sweep() -> int:
    """Beat's dispatcher: one sync per usable link (skipping links with a sync in flight)."""
    return services.vehicles_sync_sweep()
