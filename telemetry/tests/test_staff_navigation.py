"""Every link on the staff pages about a car goes where a staff user may go: no 404."""

from __future__ import annotations

import re

import pytest

from telemetry import services
from telemetry.models import TelemetryDeployment
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


@pytest.fixture
def car(owner):
    """A car of an owner: the manager has no access of their own to it."""
    return make_vehicles(make_link(owner), 1)[0]


def _links(page: str) -> list[str]:
    content = page.split("<main", 1)[-1]
    return sorted(set(re.findall(r'href="(/[^"#]*)"', content)))


def _assert_no_404(client, page: str) -> None:
    for href in _links(page):
        if href.startswith("/static/"):
            continue
        assert client.get(href).status_code != 404, href


def test_managers_vehicle_page_offers_no_link_to_the_owners_vehicle_page(manager_client, car):
    page = manager_client.get(f"/telemetry/vehicles/{car.pk}/").content.decode()
    assert f'href="/vehicles/{car.pk}/"' not in page
    _assert_no_404(manager_client, page)


def test_managers_vehicle_page_goes_back_to_the_config_of_the_cars_last_push(manager_client, car):
    config = make_config(name="Fleet B")
    services.telemetry_config_assign(config=config, vins=[car.vin], user=None)
    version = services.telemetry_version_current(config=config)
    TelemetryDeployment.objects.create(vehicle=car, version=version, status="removed")
    config.assignments.all().delete()

    page = manager_client.get(f"/telemetry/vehicles/{car.pk}/").content.decode()
    assert f'href="/telemetry/{config.pk}/"' in page and "Back to the configuration" in page
    _assert_no_404(manager_client, page)


def test_an_unassigned_car_still_has_a_way_back_for_a_manager(manager_client, car):
    page = manager_client.get(f"/telemetry/vehicles/{car.pk}/").content.decode()
    assert 'href="/telemetry/errors/"' in page and 'href="/telemetry/"' in page


def test_config_page_links_each_car_to_a_page_a_manager_can_open(manager_client, car):
    config = make_config(name="Fleet C")
    services.telemetry_config_assign(config=config, vins=[car.vin], user=None)
    page = manager_client.get(f"/telemetry/{config.pk}/").content.decode()
    assert f'href="/telemetry/vehicles/{car.pk}/"' in page
    _assert_no_404(manager_client, page)


def test_the_owner_still_goes_back_to_their_vehicle(owner_client, car):
    page = owner_client.get(f"/telemetry/vehicles/{car.pk}/").content.decode()
    assert f'href="/vehicles/{car.pk}/"' in page and "Back to the vehicle" in page
    assert 'href="/telemetry/errors/"' not in page
