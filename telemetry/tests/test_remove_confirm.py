"""Removing a config from cars asks first: GET lists the cars, only a confirmed POST removes."""

from __future__ import annotations

import re
from unittest import mock

import pytest

from telemetry import services
from telemetry.models import TelemetryRun
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


@pytest.fixture
def assigned(owner):
    cars = make_vehicles(make_link(owner), 3)
    config = make_config(name="Fleet R")
    services.telemetry_config_assign(config=config, vins=[c.vin for c in cars], user=None)
    return config, cars


def test_the_config_pages_remove_button_leads_to_a_confirmation_and_removes_nothing(
    manager_client, assigned
):
    config, cars = assigned
    with mock.patch("telemetry.tasks.telemetry_push.delay") as delay:
        response = manager_client.post(
            f"/telemetry/{config.pk}/remove/", {"vehicle": [cars[0].pk, cars[1].pk]}
        )
    assert response.status_code == 302
    assert response["Location"].startswith(f"/telemetry/{config.pk}/remove/?vehicle=")
    delay.assert_not_called()
    assert not TelemetryRun.objects.exists()
    assert config.assignments.count() == 3


def test_the_confirmation_page_lists_the_cars_with_a_csrf_form_and_no_inline_script(
    manager_client, assigned
):
    config, cars = assigned
    response = manager_client.get(
        f"/telemetry/{config.pk}/remove/", {"vehicle": [cars[0].pk, cars[1].pk]}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert cars[0].vin in page and cars[1].vin in page and cars[2].vin not in page
    assert "Remove Fleet R from these vehicles?" in page
    assert 'name="csrfmiddlewaretoken"' in page and 'name="confirm"' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # the CSP forbids inline JS
    assert not TelemetryRun.objects.exists()


def test_a_confirmed_post_removes_the_config_from_the_listed_cars(
    manager_client, assigned, django_capture_on_commit_callbacks
):
    config, cars = assigned
    # The task is queued on commit: captured, not run.
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = manager_client.post(
            f"/telemetry/{config.pk}/remove/",
            {"vehicle": [cars[0].pk], "confirm": "1"},
            follow=True,
        )
    run = TelemetryRun.objects.get()
    assert len(queued) == 1
    assert run.kind == TelemetryRun.Kind.REMOVE and run.total == 1
    assert "Removal queued for 1 vehicle." in response.content.decode()


def test_the_confirmed_post_needs_the_csrf_token(manager, assigned):
    from django.test import Client

    config, cars = assigned
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    response = client.post(
        f"/telemetry/{config.pk}/remove/", {"vehicle": [cars[0].pk], "confirm": "1"}
    )
    assert response.status_code == 403
    assert not TelemetryRun.objects.exists()


def test_a_confirmation_for_no_car_of_this_config_goes_back(manager_client, assigned, owner):
    config, _cars = assigned
    stranger = make_vehicles(make_link(owner), 1, prefix="ZZZ")[0]
    response = manager_client.get(f"/telemetry/{config.pk}/remove/", {"vehicle": [stranger.pk]})
    assert response.status_code == 302 and response["Location"] == f"/telemetry/{config.pk}/"
    assert manager_client.get(f"/telemetry/{config.pk}/remove/?vehicle=x").status_code == 400
