from __future__ import annotations

from celery import shared_task

from accounts import services


@shared_task
def sessions_clear_expired() -> int:
    return services.sessions_clear_expired()
