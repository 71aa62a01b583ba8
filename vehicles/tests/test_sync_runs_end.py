"""Every vehicle sync ends: a broker that is down, a task that dies, a message that is lost."""

from __future__ import annotations

from unittest import mock

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

from accounts.models import TeslaLink
from fleetportal.tests.queue_helpers import broker_down, purge_queue, real_worker, wait_for
from vehicles import services, tasks
from vehicles.models import SyncRun

RunStatus = SyncRun.Status


def _idle(link: TeslaLink) -> bool:
    return not SyncRun.objects.filter(link=link, status__in=SyncRun.ACTIVE).exists()


def _forget_runs() -> None:
    # Linking queued a sync of its own: drop it, so each test starts with no run in flight.
    purge_queue()
    SyncRun.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_sync_now_with_the_broker_down_says_so_and_the_next_click_works(owner_client, alice_link):
    _forget_runs()
    try:
        with broker_down():
            response = owner_client.post("/vehicles/sync/", follow=True)

        assert response.status_code == 200
        assert "The task queue is not answering, so nothing was queued." in (
            response.content.decode()
        )
        run = SyncRun.objects.get()
        assert run.status == RunStatus.FAILED and run.error.startswith("could not be queued: ")
        assert _idle(alice_link)

        # The broker is back: the very next click queues a sync.
        response = owner_client.post("/vehicles/sync/", follow=True)
        assert "Syncs queued: 1." in response.content.decode()
        assert SyncRun.objects.filter(status=RunStatus.QUEUED).count() == 1
    finally:
        purge_queue()


@pytest.mark.worker
def test_a_sync_dying_on_a_non_tesla_error_fails_its_run(
    owner_client, alice_link, celery_worker_thread
):
    wait_for(lambda: _idle(alice_link), "the sync queued by linking")
    # The token was encrypted under a key no longer in the ring: loading the link raises
    # ImproperlyConfigured in the worker, an error that is not Tesla's.
    foreign = Fernet(Fernet.generate_key()).encrypt(b"not for this ring").decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TeslaLink._meta.db_table} SET access_token = %s WHERE id = %s",
            [foreign, alice_link.pk],
        )

    # Queued as the sweep does (the page itself would fail loading the link, in the open).
    assert services.vehicles_sync_queue(link=alice_link, trigger="beat") is not None
    wait_for(lambda: _idle(alice_link), "the sync to end")

    run = SyncRun.objects.filter(link=alice_link).latest("created_at")
    assert (run.status, run.error) == (RunStatus.FAILED, "worker error: ImproperlyConfigured")
    status = owner_client.get("/vehicles/sync/status/").json()
    assert status["active"] is False


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_sync_whose_worker_died_is_requeued_by_the_sweep_and_ends(alice_link, settings):
    _forget_runs()
    run = services.vehicles_sync_queue(link=alice_link, trigger="user")
    # A worker took the message, claimed the run, and was killed: the message is gone.
    assert services._claim_run(alice_link, run.pk) is not None
    purge_queue()
    settings.VEHICLES_SYNC_STALE_SECONDS = 0

    with real_worker():
        assert services.vehicles_sync_runs_sweep() == {"requeued": 1, "failed": 0}
        wait_for(lambda: _idle(alice_link), "the sync to end")

    run.refresh_from_db()
    assert (run.status, run.seen, run.redispatches) == (RunStatus.DONE, 5, 1)


@pytest.mark.django_db
def test_a_sync_lost_more_often_than_the_bound_fails_and_sync_now_works_again(
    owner_client, alice_link, settings, django_capture_on_commit_callbacks
):
    SyncRun.objects.all().delete()
    run = services.vehicles_sync_queue(link=alice_link, trigger="user")
    settings.VEHICLES_SYNC_STALE_SECONDS = 0
    settings.VEHICLES_SYNC_MAX_REDISPATCHES = 1

    with (
        mock.patch.object(tasks.vehicles_sync_link, "delay") as requeued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.vehicles_sync_runs_sweep() == {"requeued": 1, "failed": 0}
        assert services.vehicles_sync_runs_sweep() == {"requeued": 0, "failed": 1}
    requeued.assert_called_once_with(alice_link.pk, run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.FAILED, "lost: no worker finished it")
    settings.VEHICLES_SYNC_STALE_SECONDS = 1800
    response = owner_client.post("/vehicles/sync/", follow=True)
    assert "Syncs queued: 1." in response.content.decode()


@pytest.mark.django_db
def test_a_sync_with_recent_activity_is_left_to_its_task(
    alice_link, django_capture_on_commit_callbacks
):
    assert settings.VEHICLES_SYNC_STALE_SECONDS > settings.TESLA_REFRESH_RETRY_CAP_SECONDS
    run = SyncRun.objects.filter(link=alice_link, status__in=SyncRun.ACTIVE).first()
    if run is None:
        with mock.patch.object(tasks.vehicles_sync_link, "delay"):
            run = services.vehicles_sync_queue(link=alice_link, trigger="user")
    assert run is not None and run.status in SyncRun.ACTIVE
    with (
        mock.patch.object(tasks.vehicles_sync_link, "delay") as requeued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.vehicles_sync_runs_sweep() == {"requeued": 0, "failed": 0}
    requeued.assert_not_called()
    run.refresh_from_db()
    assert run.status in SyncRun.ACTIVE and run.redispatches == 0


def test_the_sync_runs_sweep_is_on_the_beat_schedule():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "vehicles.tasks.vehicles_sync_runs_sweep" in scheduled
