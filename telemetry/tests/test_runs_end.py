"""Every telemetry run ends: a second push, pushes at once, a task that dies, a broker that is
down, a message that is lost."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection, connections
from kombu.exceptions import OperationalError

from accounts.models import TeslaLink
from fleetportal.queueing import QueueUnavailable
from fleetportal.tests.queue_helpers import broker_down, purge_queue, real_worker, wait_for
from telemetry import services, tasks
from telemetry.models import TelemetryAuditEntry, TelemetryDeployment, TelemetryRun
from telemetry.tests.factories import make_config
from telemetry.tests.helpers import ALL, GOOD, SHARED, run_inline, statuses
from vehicles.models import Vehicle

Status = TelemetryDeployment.Status
RunStatus = TelemetryRun.Status

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks and concurrent inserts need PostgreSQL (SQLite serialises writers)",
)


@pytest.fixture
def config(alice, manager):
    config = make_config(hostname="127.0.0.1", fields={"Soc": 60})
    services.telemetry_config_assign(config=config, vins=ALL, user=manager)
    return config


def _active(config) -> list[TelemetryRun]:
    return list(config.runs.filter(status__in=TelemetryRun.ACTIVE))


# --- a second push of the same config ------------------------------------------------------


@pytest.mark.django_db
def test_a_second_push_of_the_same_config_supersedes_the_first_and_both_end(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    first = services.telemetry_push_start(config=config, user=manager)
    second = services.telemetry_push_start(config=config, user=manager)

    first.refresh_from_db()
    assert first.status == RunStatus.SUPERSEDED and first.finished_at is not None
    assert _active(config) == [second]
    # The first run's queued task arrives late: it finds its run closed and calls no one.
    tesla_sandbox.control.clear_requests()
    assert services.telemetry_push_dispatch(run_id=first.pk) == []
    assert services.telemetry_push_link(run_id=first.pk, link_id=alice_link_id()) == "closed"
    assert tesla_sandbox.control.requests(path="/fleet_telemetry_config_jws") == []

    second = run_inline(second)
    assert second.status == RunStatus.DONE
    assert statuses(config)[GOOD] == ("updated", "")
    # The audit log says how the first one ended.
    outcomes = list(
        TelemetryAuditEntry.objects.filter(action="pushed")
        .order_by("pk")
        .values_list("outcome", flat=True)
    )
    assert len(outcomes) == 4  # queued twice, ended twice
    assert f"Replaced by a newer push: replaced by push {second.pk}" in outcomes


@pytest.mark.django_db
def test_a_push_of_an_edited_config_replaces_the_older_versions_waiting_rows(
    config, manager, tesla_sandbox, portal_key
):
    first = services.telemetry_push_start(config=config, user=manager)
    config.fields.update(interval_seconds=30)  # a new version
    second = services.telemetry_push_start(config=config, user=manager)

    first.refresh_from_db()
    assert first.status == RunStatus.SUPERSEDED
    assert second.version_id != first.version_id
    # Nothing of the first run is left waiting for a task that will not come.
    assert not first.deployments.filter(status__in=services.RUN_WAITING).exists()
    assert set(first.deployments.values_list("status", flat=True)) == {Status.SUPERSEDED}
    assert run_inline(second).status == RunStatus.DONE


@pytest.mark.django_db
def test_a_push_of_some_cars_ends_the_earlier_push_and_marks_its_other_cars_not_pushed(
    config, manager
):
    first = services.telemetry_push_start(config=config, user=manager)
    good = TelemetryDeployment.objects.get(vehicle__vin=GOOD).vehicle_id
    second = services.telemetry_push_start(config=config, user=manager, vehicle_ids=[good])

    first.refresh_from_db()
    assert first.status == RunStatus.SUPERSEDED
    assert list(second.deployments.values_list("vehicle__vin", flat=True)) == [GOOD]
    left = first.deployments.exclude(vehicle_id=good)
    assert {row.status for row in left} == {Status.FAILED}
    assert all("newer push" in row.error for row in left)


# --- two pushes at once (PostgreSQL) -------------------------------------------------------


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_pushes_of_one_config_both_end_without_an_error(
    config, manager, tesla_sandbox, portal_key
):
    start = threading.Barrier(2)
    runs, errors = [], []

    def push() -> None:
        try:
            start.wait()
            runs.append(services.telemetry_push_start(config=config, user=manager))
        except Exception as exc:  # noqa: BLE001 - the test reports what a thread raised
            errors.append(exc)
        finally:
            connections.close_all()

    # The broker is the unit boundary here: the worker's part is played inline below.
    with mock.patch.object(tasks.telemetry_push, "delay"):
        threads = [threading.Thread(target=push) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert len(runs) == 2
    for run in runs:
        run_inline(run)
    ends = sorted(TelemetryRun.objects.values_list("status", flat=True))
    assert ends == [RunStatus.DONE, RunStatus.SUPERSEDED]
    assert not TelemetryDeployment.objects.filter(status__in=services.RUN_WAITING).exists()


# --- a task that dies ----------------------------------------------------------------------


@pytest.mark.worker
def test_a_link_task_dying_on_a_non_tesla_error_fails_its_run(
    config, manager_client, alice, celery_worker_thread
):
    # The account's token was encrypted under a key no longer in the ring: loading the link
    # raises ImproperlyConfigured in the worker, an error that is not Tesla's.
    foreign = Fernet(Fernet.generate_key()).encrypt(b"not for this ring").decode()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TeslaLink._meta.db_table} SET access_token = %s WHERE id = %s",
            [foreign, alice.pk],
        )

    response = manager_client.post(f"/telemetry/{config.pk}/push/")
    assert response.status_code == 302
    run = TelemetryRun.objects.get()
    wait_for(lambda: not TelemetryRun.objects.get(pk=run.pk).active, "the run to end")

    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.FAILED, "worker error: ImproperlyConfigured")
    assert not run.deployments.filter(status__in=services.RUN_WAITING).exists()
    assert foreign not in run.error


# --- the broker is down --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_push_with_the_broker_down_says_so_and_changes_nothing(config, manager_client):
    before = statuses(config)
    with broker_down():
        response = manager_client.post(f"/telemetry/{config.pk}/push/", follow=True)

    assert response.status_code == 200
    assert "The task queue is not answering, so nothing was queued." in response.content.decode()
    assert not TelemetryRun.objects.exists()
    assert statuses(config) == before


@pytest.mark.django_db
def test_a_removal_with_the_broker_down_says_so_and_leaves_the_cars_assigned(
    config, manager_client
):
    car = Vehicle.objects.get(vin=GOOD)
    with broker_down():
        response = manager_client.post(
            f"/telemetry/{config.pk}/remove/",
            {"vehicle": [car.pk], "confirm": "1"},
            follow=True,
        )

    assert "The task queue is not answering, so nothing was queued." in response.content.decode()
    assert not TelemetryRun.objects.exists()
    assert config.assignments.filter(vehicle=car).exists()


@pytest.mark.django_db(transaction=True)
def test_a_push_the_broker_refuses_after_the_check_ends_failed_with_nothing_waiting(
    config, manager
):
    refused = OperationalError("Error 111 connecting to broker:6379. Connection refused.")
    with (
        mock.patch.object(tasks.telemetry_push, "delay", side_effect=refused),
        pytest.raises(QueueUnavailable),
    ):
        services.telemetry_push_start(config=config, user=manager)

    run = TelemetryRun.objects.get()
    assert (run.status, run.error) == (RunStatus.FAILED, "could not be queued: OperationalError")
    assert not run.deployments.filter(status__in=services.RUN_WAITING).exists()


# --- a lost message ------------------------------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_push_whose_message_was_lost_is_requeued_by_the_sweep_and_ends(
    config, manager, settings, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    run = services.telemetry_push_start(config=config, user=manager)
    assert purge_queue() >= 1  # the queued push is gone, as with a worker killed holding it
    settings.TELEMETRY_RUN_STALE_SECONDS = 0

    with real_worker():
        assert services.telemetry_runs_sweep()["requeued"] == 1
        wait_for(lambda: not TelemetryRun.objects.get(pk=run.pk).active, "the run to end")

    run.refresh_from_db()
    assert (run.status, run.redispatches) == (RunStatus.DONE, 1)
    assert statuses(config)[GOOD] == ("updated", "")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_running_push_whose_link_task_was_lost_is_requeued_and_ends(
    config, manager, settings, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(SHARED, portal_key.domain)
    run = services.telemetry_push_start(config=config, user=manager)
    purge_queue()
    # The dispatch ran and marked the run running, but its link task never reached a worker.
    assert services.telemetry_push_dispatch(run_id=run.pk) == [alice_link_id()]
    settings.TELEMETRY_RUN_STALE_SECONDS = 0

    with real_worker():
        assert services.telemetry_runs_sweep()["requeued"] == 1
        wait_for(lambda: not TelemetryRun.objects.get(pk=run.pk).active, "the run to end")

    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert statuses(config)[SHARED] == ("updated", "")


@pytest.mark.django_db
def test_a_run_lost_more_often_than_the_bound_fails_with_nothing_left_waiting(
    config, manager, settings, django_capture_on_commit_callbacks
):
    run = services.telemetry_push_start(config=config, user=manager)
    settings.TELEMETRY_RUN_STALE_SECONDS = 0
    settings.TELEMETRY_RUN_MAX_REDISPATCHES = 1

    with (
        mock.patch.object(tasks.telemetry_push, "delay") as requeued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.telemetry_runs_sweep()["requeued"] == 1
        assert services.telemetry_runs_sweep()["failed"] == 1
    requeued.assert_called_once_with(run.pk)

    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.FAILED, "lost: no worker finished it")
    assert not run.deployments.filter(status__in=services.RUN_WAITING).exists()


@pytest.mark.django_db
def test_a_run_with_recent_activity_is_left_to_its_task(
    config, manager, django_capture_on_commit_callbacks
):
    services.telemetry_push_start(config=config, user=manager)
    assert settings.TELEMETRY_RUN_STALE_SECONDS > settings.TESLA_REFRESH_RETRY_CAP_SECONDS
    with (
        mock.patch.object(tasks.telemetry_push, "delay") as requeued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.telemetry_runs_sweep() == {"requeued": 0, "failed": 0, "closed": 0}
    requeued.assert_not_called()


def test_the_runs_sweep_is_on_the_beat_schedule():
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "telemetry.tasks.telemetry_runs_sweep" in tasks_scheduled


def alice_link_id() -> int:
    return TeslaLink.objects.get(email="alice@example.com").pk


@pytest.mark.django_db
def test_the_admin_push_action_with_the_broker_down_says_so_and_queues_nothing(config, manager):
    from django.test import Client

    client = Client()
    client.force_login(manager)
    with broker_down():
        response = client.post(
            "/admin/telemetry/telemetryconfig/",
            {"action": "push_to_assigned", "_selected_action": [config.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "The task queue is not answering, so nothing was queued." in response.content.decode()
    assert not TelemetryRun.objects.exists()


@pytest.mark.django_db
def test_a_removal_during_a_push_takes_its_cars_and_the_push_still_ends(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    push = services.telemetry_push_start(config=config, user=manager)
    config.fields.update(interval_seconds=30)  # the removal is signed for a newer version
    good = Vehicle.objects.get(vin=GOOD)
    removal = services.telemetry_remove_start(config=config, user=manager, vehicle_ids=[good.pk])

    push.refresh_from_db()
    assert push.status == RunStatus.QUEUED  # a removal does not end a push
    old_row = push.deployments.get(vehicle=good)
    assert old_row.status == Status.FAILED and "being removed" in old_row.error

    assert run_inline(push).status == RunStatus.DONE
    assert run_inline(removal).status == RunStatus.DONE
    # The push did not put the config back on the car being removed.
    assert push.deployments.get(vehicle=good).status == Status.FAILED
    assert removal.deployments.get(vehicle=good).status == Status.REMOVED


@pytest.mark.django_db
def test_a_resign_with_the_broker_down_leaves_the_config_due(config, manager):
    import datetime as dt

    from django.utils import timezone

    soon = timezone.now() + dt.timedelta(hours=2)
    type(config).objects.filter(pk=config.pk).update(exp=soon)
    with broker_down(), pytest.raises(QueueUnavailable):
        services.telemetry_config_resign(config_id=config.pk)

    config.refresh_from_db()
    assert config.exp == soon
    assert services.telemetry_resign_due() == [config.pk]
    assert not TelemetryRun.objects.exists()
