from __future__ import annotations

from celery import shared_task

from usage import services


@shared_task
def usage_budget_check() -> str:
    """Beat: the month's estimated usage against the budget (emails, pause)."""
    return str(services.usage_budget_check())
