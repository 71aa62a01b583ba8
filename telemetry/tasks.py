"""Celery tasks for telemetry: tiny, take ids, call one service."""

from __future__ import annotations

from collections import Counter

from celery import shared_task
from django.conf import settings

from fleetportal.queueing import run_failure_handler
from fleetportal.tasks import TeslaTask, retry_countdown
from telemetry import services
from teslafleet.errors import TransientError


def _max_retries() -> int:
    return settings.TELEMETRY_PUSH_MAX_RETRIES


# A task that dies on an unexpected error (not Tesla's: those are recorded per vehicle) ends
# its run as failed, naming the error's class; otherwise the run would stay "running".
_fail_run = run_failure_handler(
    lambda args, kwargs, error: services.telemetry_run_fail(
        run_id=kwargs.get("run_id", args[0] if args else None), error=error
    )
)


@shared_task(on_failure=_fail_run)
def telemetry_push(run_id: int) -> int:
    """Fan a run out in chunks of TELEMETRY_PUSH_CHUNK links, one task per chunk: chunks run
    in parallel across workers, a chunk's links on its worker process's kept threads."""
    link_ids = services.telemetry_push_dispatch(run_id=run_id)
    size = max(1, settings.TELEMETRY_PUSH_CHUNK)
    for start in range(0, len(link_ids), size):
        telemetry_push_chunk.delay(run_id, link_ids[start : start + size])
    return len(link_ids)


@shared_task(on_failure=_fail_run)
def telemetry_push_chunk(run_id: int, link_ids: list[int]) -> dict[str, int]:
    """A chunk of a run's links, each pushed once; a link that failed transiently (or
    unexpectedly) goes on to the one-link task, counted as its second try, which retries it
    or records it as failed, so the run still ends."""
    chunk = services.telemetry_push_chunk(run_id=run_id, link_ids=link_ids)
    retried = [result for result in chunk.links if result.outcome == "retry"]
    if retried:
        services.telemetry_run_heartbeat(run_id=run_id)
    for result in retried:
        telemetry_push_link.apply_async(
            (run_id, result.link_id), countdown=retry_countdown(0, result.retry_after), retries=1
        )
    return {
        **Counter(result.outcome for result in chunk.links),
        **({"closed_run": 1} if chunk.closed_run else {}),
    }


@shared_task(bind=True, base=TeslaTask, on_failure=_fail_run)
def telemetry_push_link(self, run_id: int, link_id: int) -> str:
    """One link's share of a run; 429/5xx/timeouts retry with backoff, then count as failed."""
    final = self.final_try(_max_retries())
    try:
        return services.telemetry_push_link(run_id=run_id, link_id=link_id, final=final)
    except TransientError as exc:
        services.telemetry_run_heartbeat(run_id=run_id)
        raise self.retry_transient(exc) from exc


@shared_task
def telemetry_runs_sweep() -> dict[str, int]:
    """Beat's safety net: re-queue the work of runs whose task was lost, or fail them."""
    return services.telemetry_runs_sweep()


@shared_task
def telemetry_reconcile_sweep() -> int:
    """Beat's dispatcher: one check per deployment waiting for (or due a re-check of) sync."""
    ids = services.telemetry_reconcile_due()
    for deployment_id in ids:
        telemetry_reconcile.delay(deployment_id)
    return len(ids)


@shared_task
def telemetry_reconcile(deployment_id: int) -> str:
    try:
        return services.telemetry_deployment_reconcile(deployment_id=deployment_id)
    except TransientError:
        # An asleep or busy car: the next sweep asks again, nothing is lost by not retrying.
        return "transient"


@shared_task
def telemetry_resign_sweep() -> int:
    """Beat's dispatcher: re-sign and re-push configs whose exp is inside the margin."""
    ids = services.telemetry_resign_due()
    for config_id in ids:
        telemetry_resign.delay(config_id)
    return len(ids)


@shared_task
def telemetry_resign(config_id: int) -> str:
    run = services.telemetry_config_resign(config_id=config_id)
    return "queued" if run else "not_due"


@shared_task
def telemetry_stream_watch() -> int:
    """Beat: email staff once per incident when a streaming vehicle goes silent."""
    return services.telemetry_stream_watch()


@shared_task
def telemetry_history_purge() -> int:
    """Beat's hourly trim of streamed history past TELEMETRY_HISTORY_RETENTION_DAYS."""
    return services.telemetry_history_purge()
