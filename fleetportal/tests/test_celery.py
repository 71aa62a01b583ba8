"""The broker and worker wiring, on whichever broker the run is configured for."""

from __future__ import annotations

import threading

import pytest
from django_celery_beat.models import PeriodicTask

from fleetportal.celery import app

_delivered = threading.Event()


@app.task(name="fleetportal.tests.mark_delivered")
def mark_delivered() -> None:
    _delivered.set()


@pytest.mark.worker
def test_a_queued_task_runs_on_a_real_worker(celery_worker_thread):
    _delivered.clear()
    mark_delivered.delay()
    assert _delivered.wait(timeout=30), "the worker never ran the task"


def test_tasks_survive_a_worker_crash_by_configuration():
    # The token refresh depends on these: a task is acknowledged only after it ran, and a
    # worker killed mid-task hands it back to the broker.
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


# transaction=True: the scheduler calls close_old_connections(), which closes a connection
# that sits inside a test's atomic block.
@pytest.mark.django_db(transaction=True)
def test_beat_schedule_declared_in_code_is_mirrored_into_the_database():
    from django_celery_beat.schedulers import DatabaseScheduler

    DatabaseScheduler(app=app)
    task = PeriodicTask.objects.get(name="clear-expired-sessions")
    assert task.task == "accounts.tasks.sessions_clear_expired"
    assert task.enabled
