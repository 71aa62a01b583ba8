"""Celery tasks for accounts: tiny, take ids, call one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from accounts import notifications, services
from fleetportal.tasks import TeslaTask
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
def links_refresh_sweep() -> int:
    """Beat's dispatcher: claim the links that are due and queue one refresh task each."""
    ids = services.links_claim_due()
    for link_id in ids:
        link_refresh.delay_on_commit(link_id)
    return len(ids)


@shared_task
def link_notify_needs_relink(link_id: int) -> bool:
    return notifications.link_needs_relink_email(link_id=link_id)


@shared_task
def sessions_clear_expired() -> int:
    return services.sessions_clear_expired()
