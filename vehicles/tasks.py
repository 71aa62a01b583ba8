"""Celery tasks for vehicles: tiny, take ids, call one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from fleetportal.queueing import run_failure_handler
from fleetportal.tasks import TeslaTask
from teslafleet.errors import TransientError
from vehicles import services


def _max_retries() -> int:
    return settings.VEHICLES_SYNC_MAX_RETRIES


# A sync that dies on an unexpected error ends its run as failed, naming the error's class;
# otherwise the run would stay "running" and block "Sync now". Queued without a run id, the
# run is the link's running one (a link syncs one at a time).
_fail_run = run_failure_handler(
    lambda args, kwargs, error: services.vehicles_sync_fail(
        run_id=kwargs.get("run_id", args[1] if len(args) > 1 else None),
        link_id=kwargs.get("link_id", args[0] if args else None),
        error=error,
    )
)


@shared_task(bind=True, base=TeslaTask, on_failure=_fail_run)
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
        final = self.final_try(_max_retries())
        services.vehicles_sync_mark_retrying(run_id=run_id, error=str(exc), final=final)
        if final:
            # The next beat sweep starts a fresh sync; nothing is lost by stopping here.
            return "gave_up"
        raise self.retry_transient(exc, args=[link_id], kwargs={"run_id": run_id}) from exc


@shared_task
def vehicles_sync_runs_sweep() -> dict[str, int]:
    """Beat's safety net: re-queue syncs whose task was lost, or fail them."""
    return services.vehicles_sync_runs_sweep()


@shared_task
def vehicles_sync_sweep() -> int:
    """Beat's dispatcher: one sync per usable link (skipping links with a sync in flight)."""
    return services.vehicles_sync_sweep()


@shared_task
def vehicles_pairing_recheck(access_id: int) -> str:
    """Once, a short while after the pairing link was opened: is the portal's key paired now?"""
    return services.vehicles_pairing_recheck(access_id=access_id)
