"""Whose link a car's telemetry page uses (issue 12, items 1, 2 and 9).

A page view asks Tesla through the viewer's own link: a driver through the driver's, never
the owner's; a manager with no access of their own reads through an owner's link only on
request, sees whose, and the read is recorded. The sandbox logs which Tesla user's token made
each call, so the tests check the token actually used.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client

from accounts.models import TeslaLink
from accounts.tests.factories import UserFactory
from telemetry import services
from telemetry.models import TelemetryAuditEntry, TelemetryDeployment, TelemetryRun
from telemetry.tests.factories import make_config
from telemetry.tests.helpers import SHARED
from vehicles import services as vehicle_services
from vehicles.models import Vehicle
from vehicles.tests.conftest import linked

pytestmark = pytest.mark.django_db

ERRORS = "/fleet_telemetry_errors"
RELINK_REASON = "refresh refused: login_required (owner-private-reason-42)"


@pytest.fixture
def driver_client(tesla_apps) -> Client:
    """A second portal user who linked bob@example.com: DRIVER access to alice's SHARED car."""
    client = Client()
    client.force_login(UserFactory(email="driver@example.com"))
    link = linked(client, "bob@example.com")
    vehicle_services.vehicles_sync(link_id=link.pk)
    return client


@pytest.fixture
def shared(alice, driver_client, tesla_sandbox) -> Vehicle:
    car = Vehicle.objects.get(vin=SHARED)
    tesla_sandbox.control.clear_requests()
    return car


def _users(tesla_sandbox) -> list[str | None]:
    return [c.get("user") for c in tesla_sandbox.control.requests(path=ERRORS)]


def _break(link: TeslaLink) -> None:
    TeslaLink.objects.filter(pk=link.pk).update(
        health=TeslaLink.Health.NEEDS_RELINK, health_reason=RELINK_REASON
    )


# --- drivers --------------------------------------------------------------------------------


def test_drivers_page_asks_tesla_with_the_drivers_own_token(shared, driver_client, tesla_sandbox):
    page = driver_client.get(f"/telemetry/vehicles/{shared.pk}/")

    assert page.status_code == 200
    assert _users(tesla_sandbox) == ["bob@example.com"]
    assert "bob@example.com" in page.content.decode()  # says whose link it asked through


def test_owners_page_asks_tesla_with_the_owners_token(shared, owner_client, tesla_sandbox):
    assert owner_client.get(f"/telemetry/vehicles/{shared.pk}/").status_code == 200
    assert _users(tesla_sandbox) == ["alice@example.com"]


def test_a_driver_tesla_refuses_gets_a_clear_sentence_not_the_owners_errors(
    shared, driver_client, tesla_sandbox
):
    # Tesla's answer to a DRIVER account here is not documented: a refusal must read well.
    tesla_sandbox.control.fault(
        ERRORS,
        status=404,
        body={"response": None, "error": "not_found", "error_description": ""},
        count=1,
    )

    page = driver_client.get(f"/telemetry/vehicles/{shared.pk}/").content.decode()

    assert "only to its owner&#x27;s account" in page and "driver access" in page
    assert len(tesla_sandbox.control.requests(path=ERRORS)) == 1  # the driver's call, refused
    assert "alice@example.com" not in _users(tesla_sandbox)


def test_a_driver_never_reads_the_owners_relink_reason(shared, alice, driver_client, tesla_sandbox):
    # The owner's link broke, and a push through it failed saying why.
    _break(alice)
    config = make_config(name="Fleet A")
    services.telemetry_config_assign(config=config, vins=[SHARED], user=None)
    version = services.telemetry_version_current(config=config)
    TelemetryDeployment.objects.create(
        vehicle=shared,
        version=version,
        link=alice,
        status=TelemetryDeployment.Status.FAILED,
        error=f"The Tesla account needs a relink: {RELINK_REASON}",
    )

    telemetry = driver_client.get(f"/telemetry/vehicles/{shared.pk}/").content.decode()
    detail = driver_client.get(f"/vehicles/{shared.pk}/").content.decode()

    assert "owner-private-reason-42" not in telemetry
    assert "owner-private-reason-42" not in detail
    assert "Failed" in detail  # the state itself is shown
    assert _users(tesla_sandbox) == ["bob@example.com"]


def test_the_owner_reads_their_own_relink_reason(shared, alice, owner_client, tesla_sandbox):
    _break(alice)

    page = owner_client.get(f"/telemetry/vehicles/{shared.pk}/").content.decode()

    assert "owner-private-reason-42" in page and "needs a relink" in page
    assert tesla_sandbox.control.requests(path=ERRORS) == []  # a broken link makes no call


# --- managers with no access of their own --------------------------------------------------


def test_manager_sees_whose_link_a_read_would_use_and_nothing_is_asked(
    shared, manager_client, tesla_sandbox
):
    page = manager_client.get(f"/telemetry/vehicles/{shared.pk}/")

    assert page.status_code == 200
    body = page.content.decode()
    assert "alice@example.com" in body and "owner@example.com" in body
    assert "Read the errors through this account" in body
    assert tesla_sandbox.control.requests() == []
    assert not TelemetryAuditEntry.objects.filter(action="errors_read").exists()


def test_manager_reads_through_the_owners_link_on_request_and_it_is_recorded(
    shared, manager, manager_client, tesla_sandbox
):
    config = make_config(name="Fleet A")
    services.telemetry_config_assign(config=config, vins=[SHARED], user=None)

    page = manager_client.post(f"/telemetry/vehicles/{shared.pk}/")

    assert page.status_code == 200
    assert "No errors reported." in page.content.decode()
    assert _users(tesla_sandbox) == ["alice@example.com"]
    entry = TelemetryAuditEntry.objects.get(action=TelemetryAuditEntry.Action.ERRORS_READ)
    assert entry.actor == manager and entry.vins == [SHARED] and entry.config == config
    assert "alice@example.com" in entry.outcome and "owner@example.com" in entry.outcome
    assert entry.outcome.endswith("errors reported: 0")
    # On the config page's audit list too.
    assert (
        "Errors read through an owner"
        in manager_client.get(f"/telemetry/{config.pk}/").content.decode()
    )


def test_managers_read_through_a_broken_owner_link_hides_its_reason(
    shared, alice, manager_client, tesla_sandbox
):
    _break(alice)

    page = manager_client.post(f"/telemetry/vehicles/{shared.pk}/").content.decode()

    assert "needs a relink" in page and "owner-private-reason-42" not in page
    assert tesla_sandbox.control.requests(path=ERRORS) == []


def test_a_post_by_someone_with_their_own_access_changes_nothing(
    shared, owner_client, tesla_sandbox
):
    response = owner_client.post(f"/telemetry/vehicles/{shared.pk}/")

    assert response.status_code == 302
    assert response["Location"] == f"/telemetry/vehicles/{shared.pk}/"
    assert tesla_sandbox.control.requests() == []
    assert not TelemetryAuditEntry.objects.filter(action="errors_read").exists()


def test_another_user_cannot_post_to_read_a_car_either(shared, other_user, tesla_sandbox):
    client = Client()
    client.force_login(other_user)

    assert client.post(f"/telemetry/vehicles/{shared.pk}/").status_code == 404
    assert tesla_sandbox.control.requests() == []


# --- malformed vehicle ids (item 9) --------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "١", "1.0", "-1", "", "9" * 40])
@pytest.mark.parametrize("action", ["push", "remove"])
def test_a_malformed_vehicle_id_is_400_and_queues_nothing(manager_client, action, value, db):
    config = make_config()

    response = manager_client.post(f"/telemetry/{config.pk}/{action}/", {"vehicle": [value]})

    assert response.status_code == 400
    assert not TelemetryRun.objects.exists()


def test_a_nul_byte_in_assigned_vins_is_a_form_error(manager_client, db):
    config = make_config()

    response = manager_client.post(
        f"/telemetry/{config.pk}/assign/",
        "vins=5YJ3E1EA7PF000001%00",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400  # PostgreSQL never sees it


def test_a_car_assigned_but_never_pushed_shows_its_config(owner, owner_client):
    from vehicles.tests.factories import make_link, make_vehicles

    car = make_vehicles(make_link(owner), 1)[0]
    config = make_config(name="Fleet A")
    services.telemetry_config_assign(config=config, vins=[car.vin], user=None)

    for url in (f"/vehicles/{car.pk}/", f"/telemetry/vehicles/{car.pk}/"):
        with mock.patch("telemetry.services.tesla_errors.link_fleet_call", return_value=[]):
            page = owner_client.get(url)
        assert page.status_code == 200, url
        assert "Fleet A" in page.content.decode() and "Not pushed yet" in page.content.decode()
