"""A Celery task's Fleet API requests reach the database when the task ends (task_postrun),
with no flush by the caller: the worker is a real one, consuming from the configured broker."""

from __future__ import annotations

import threading
import time

import pytest
from django.db.models import Sum

from usage import recorder
from usage.models import ApiCallDay
from vehicles.models import SyncRun
from vehicles.tests.conftest import linked


@pytest.mark.worker
def test_a_tasks_calls_are_written_when_the_task_ends(
    owner_client, tesla_apps, tesla_sandbox, celery_worker_thread
):
    before = sum(tesla_sandbox.control.counters()["fleet"].values())
    link = linked(owner_client, "alice@example.com")  # queues a sync on the worker
    deadline = time.monotonic() + 30
    while (
        SyncRun.objects.filter(link=link, status__in=SyncRun.ACTIVE).exists()
        or not SyncRun.objects.filter(link=link).exists()
        or recorder.pending()
    ):
        assert time.monotonic() < deadline, "the sync did not finish, or was not flushed"
        threading.Event().wait(0.05)
    assert SyncRun.objects.get(link=link).status == "done"
    sent = sum(tesla_sandbox.control.counters()["fleet"].values()) - before
    assert sent > 1  # users/region at the link, then the sync's list and fleet_status
    assert ApiCallDay.objects.aggregate(n=Sum("calls"))["n"] == sent
