"""What every app's tasks share, beside the Celery app (fleetportal/celery.py): the retry
policy for Tesla's transient errors, written once.

Tasks import their app's services, never the other way round: a service that must queue a
task names it (`fleetportal.queueing.enqueue("vehicles.tasks.vehicles_sync_link", ...)`), see
fleetportal/queueing.py, which also gives run tasks their `on_failure`.
"""

from __future__ import annotations

import random

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.exceptions import Retry
from django.conf import settings


def retry_countdown(retries: int, retry_after: float | None) -> float:
    """Seconds before the next try: Tesla's Retry-After when given, else exponential backoff
    with full jitter; both capped so no task sits in the queue for long."""
    cap = settings.TESLA_REFRESH_RETRY_CAP_SECONDS
    if retry_after:
        return min(float(retry_after), cap)
    return random.uniform(0, min(cap, 10 * 2**retries))  # noqa: S311 - jitter, not crypto


class TeslaTask(DjangoTask):
    """Base of a task that calls Tesla: `@shared_task(bind=True, base=TeslaTask)`.

    Its transient errors (429, 5xx, timeouts) retry after `retry_countdown`: 429 carries
    Retry-After (§4.5), honoured up to the cap. How many tries an app allows is its own
    setting, read at run time through `final_try`. A DjangoTask like every other task of the
    app, so it keeps `delay_on_commit`.
    """

    abstract = True
    max_retries = None  # each app bounds its tries with `final_try` and its own setting

    def final_try(self, max_retries: int) -> bool:
        """True when this run is the last one the app's setting allows."""
        return self.request.retries >= max_retries

    def retry_transient(self, exc: BaseException, **options) -> Retry:
        """Queue this task again for a transient Tesla error (raises celery's Retry)."""
        return self.retry(
            exc=exc,
            countdown=retry_countdown(self.request.retries, getattr(exc, "retry_after", None)),
            **options,
        )


@shared_task(ignore_result=True)
def healthz_beat() -> None:
    """Nothing to do: beat sends it every minute, and sending stamps beat's heartbeat
    (fleetportal/health.py), so a beat with no other entry due still shows it runs."""
