"""Celery tasks for accounts: tiny, take ids, call one service."""

from __future__ import annotations

from collections import Counter

from celery import shared_task
from django.conf import settings

from accounts import notifications, services
from fleetportal.tasks import TeslaTask, retry_countdown
from teslafleet.errors import TransientError


@shared_task(bind=True, base=TeslaTask)
def link_refresh(self, link_id: int, force: bool = False) -> str:
    try:
        return services.link_refresh_tokens(link_id=link_id, force=force)
    except TransientError as exc:
        if self.final_try(settings.TESLA_REFRESH_MAX_RETRIES):
            # The link stays "retrying"; the next sweep tries again while it is still due.
            return "gave_up"
        raise self.retry_transient(exc) from exc


@shared_task
def links_refresh_chunk(link_ids: list[int]) -> dict[str, int]:
    """Refresh a chunk of due links on the worker process's refresh threads; a link that
    failed transiently goes on to the one-link task, counted as its second try."""
    results = services.links_refresh_batch(link_ids=link_ids)
    for result in results:
        if result.outcome == "retry":
            link_refresh.apply_async(
                (result.link_id,), countdown=retry_countdown(0, result.retry_after), retries=1
            )
    return dict(Counter(result.outcome for result in results))


@shared_task
def links_refresh_sweep() -> int:
    """Beat's dispatcher: claim the links that are due and queue them in chunks of
    TESLA_REFRESH_CHUNK, one task per chunk."""
    ids = services.links_claim_due()
    size = max(1, settings.TESLA_REFRESH_CHUNK)
    for start in range(0, len(ids), size):
        links_refresh_chunk.delay_on_commit(ids[start : start + size])
    return len(ids)


@shared_task
def link_notify_needs_relink(link_id: int) -> bool:
    return notifications.link_needs_relink_email(link_id=link_id)


@shared_task
def sessions_clear_expired() -> int:
    return services.sessions_clear_expired()
