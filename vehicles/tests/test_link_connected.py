"""A newly linked account's cars appear without waiting for the hourly sweep: vehicles hears
accounts' link_connected signal (accounts never imports vehicles)."""

from __future__ import annotations

from unittest import mock

import pytest

from accounts.models import TeslaLink
from accounts.tests import tesla_flow
from fleetportal.tests.queue_helpers import broker_down, purge_queue
from vehicles import tasks
from vehicles.models import SyncRun


@pytest.mark.django_db
def test_linking_an_account_queues_its_vehicle_sync(
    owner_client, tesla_apps, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.vehicles_sync_link, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        tesla_flow.link(owner_client, "alice@example.com")
    link = TeslaLink.objects.get()
    run = SyncRun.objects.get(link=link)
    assert run.trigger == "link" and run.status == SyncRun.Status.QUEUED
    delay.assert_called_once_with(link.pk, run_id=run.pk)


@pytest.mark.django_db(transaction=True)
def test_linking_with_the_broker_down_still_links_and_fails_only_the_sync(owner_client, tesla_apps):
    try:
        with broker_down():
            response = tesla_flow.link(owner_client, "alice@example.com")
        assert response.status_code == 200
        link = TeslaLink.objects.get()
        assert link.health == TeslaLink.Health.OK
        run = SyncRun.objects.get(link=link)
        assert run.status == SyncRun.Status.FAILED
        assert run.error.startswith("could not be queued: ")
    finally:
        purge_queue()
