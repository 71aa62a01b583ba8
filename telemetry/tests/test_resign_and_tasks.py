"""Re-signing before exp, the beat dispatchers, and a push run by a real worker."""

from __future__ import annotations

import datetime as dt
import threading
import time
from unittest import mock

import pytest
from django.utils import timezone

from telemetry import services, tasks
from telemetry.models import TelemetryDeployment, TelemetryRun
from telemetry.tests.factories import make_config
from telemetry.tests.helpers import ALL, GOOD, run_inline, statuses

Status = TelemetryDeployment.Status


@pytest.mark.django_db
def test_a_config_nearing_exp_is_resigned_and_repushed(alice, manager, tesla_sandbox, portal_key):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    soon = timezone.now() + dt.timedelta(hours=2)
    config = make_config(hostname="127.0.0.1", exp=soon)
    services.telemetry_config_assign(config=config, vins=[GOOD], user=manager)
    run_inline(services.telemetry_push_start(config=config, user=manager))

    assert services.telemetry_resign_due() == [config.pk]
    run = run_inline(services.telemetry_config_resign(config_id=config.pk))

    config.refresh_from_db()
    assert config.exp > soon + dt.timedelta(hours=20)
    assert (run.kind, run.status, run.version.number) == ("resign", "done", 2)
    assert run.version.payload["exp"] == int(config.exp.timestamp())
    assert statuses(config) == {GOOD: ("updated", "")}
    # Re-checked under the lock: a second sweep finds nothing to do.
    assert services.telemetry_config_resign(config_id=config.pk) is None
    assert services.telemetry_resign_due() == []
    assert config.runs.count() == 2


@pytest.mark.django_db
def test_the_resign_margin_is_a_setting(settings, manager):
    config = make_config(exp=timezone.now() + dt.timedelta(days=3))
    services.telemetry_config_assign(config=config, vins=[], user=manager)
    config.assignments.create(vehicle=_car())
    assert services.telemetry_resign_due() == []
    settings.TELEMETRY_RESIGN_MARGIN_SECONDS = 4 * 86400
    assert services.telemetry_resign_due() == [config.pk]


def _car():
    from accounts.tests.factories import UserFactory
    from vehicles.tests.factories import make_link, make_vehicles

    return make_vehicles(make_link(UserFactory()), 1, prefix="RSG")[0]


@pytest.mark.django_db
def test_beat_dispatchers_queue_one_task_per_item(manager):
    config = make_config(exp=timezone.now() + dt.timedelta(minutes=5))
    car = _car()
    config.assignments.create(vehicle=car)
    version = services.telemetry_version_current(config=config)
    waiting = TelemetryDeployment.objects.create(vehicle=car, version=version, status="updated")
    with (
        mock.patch.object(tasks.telemetry_reconcile, "delay") as reconcile,
        mock.patch.object(tasks.telemetry_resign, "delay") as resign,
    ):
        assert tasks.telemetry_reconcile_sweep() == 1
        assert tasks.telemetry_resign_sweep() == 1
    reconcile.assert_called_once_with(waiting.pk)
    resign.assert_called_once_with(config.pk)


@pytest.mark.worker
def test_push_and_reconcile_on_a_real_worker_reach_synced(
    alice, manager_client, manager, tesla_sandbox, portal_key, celery_worker_thread
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    config = make_config(hostname="127.0.0.1")
    services.telemetry_config_assign(config=config, vins=ALL, user=manager)

    response = manager_client.post(f"/telemetry/{config.pk}/push/")
    assert response.status_code == 302
    run = TelemetryRun.objects.get()
    _wait(lambda: not TelemetryRun.objects.get(pk=run.pk).active)
    status = manager_client.get(f"/telemetry/runs/{run.pk}/status/").json()
    assert status["active"] is False and status["done"] == 5
    assert status["counts"] == {"updated": 1, "skipped": 4}

    tesla_sandbox.control.telemetry_pickup(GOOD)
    tasks.telemetry_reconcile_sweep.delay()
    _wait(lambda: TelemetryDeployment.objects.filter(status=Status.SYNCED).exists())
    page = manager_client.get(f"/telemetry/{config.pk}/").content.decode()
    assert "Synced" in page and "missing_key" in page


def _wait(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        threading.Event().wait(0.1)
