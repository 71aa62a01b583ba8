"""One scoped fetch for every page about one car: the viewer's own current access, else 404."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.http import Http404
from django.utils import timezone

from vehicles.models import VehicleAccess
from vehicles.selectors import get_vehicle_for_user
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


def test_the_owner_gets_the_car_and_their_access(owner):
    (car,) = make_vehicles(make_link(owner), 1)

    vehicle, access = get_vehicle_for_user(user=owner, vehicle_id=car.pk)

    assert vehicle == car and access.link.user == owner


def test_the_owners_access_comes_before_a_drivers(owner):
    (car,) = make_vehicles(make_link(owner), 1)
    VehicleAccess.objects.filter(vehicle=car).update(access_type=VehicleAccess.AccessType.DRIVER)
    owned = VehicleAccess.objects.create(
        link=make_link(owner), vehicle=car, tesla_id="9", last_seen_at=timezone.now()
    )

    _, access = get_vehicle_for_user(user=owner, vehicle_id=car.pk)

    assert access == owned


def test_another_users_car_is_404(owner, other_user):
    (car,) = make_vehicles(make_link(owner), 1)

    with pytest.raises(Http404):
        get_vehicle_for_user(user=other_user, vehicle_id=car.pk)


def test_a_car_that_left_the_users_account_is_404(owner):
    (car,) = make_vehicles(make_link(owner), 1)
    VehicleAccess.objects.filter(vehicle=car).update(gone_at=timezone.now())

    with pytest.raises(Http404):
        get_vehicle_for_user(user=owner, vehicle_id=car.pk)


def test_any_car_gives_a_car_without_an_access_of_ones_own(owner, other_user):
    (car,) = make_vehicles(make_link(owner), 1)

    vehicle, access = get_vehicle_for_user(user=other_user, vehicle_id=car.pk, any_car=True)

    assert vehicle == car and access is None


def test_any_car_still_404s_for_a_car_that_does_not_exist(other_user):
    with pytest.raises(Http404):
        get_vehicle_for_user(user=other_user, vehicle_id=987654, any_car=True)


def test_no_view_module_writes_its_own_scoped_vehicle_fetch():
    # The rule has one home (vehicles.selectors.get_vehicle_for_user); a second helper in a
    # views module is how the two copies drifted apart before.
    root = Path(settings.BASE_DIR)
    own_fetches = []
    for views in sorted(root.glob("*/views.py")):
        for node in ast.walk(ast.parse(views.read_text())):
            if isinstance(node, ast.FunctionDef) and "vehicle" in node.name:
                body = ast.unparse(node)
                if "vehicle_access_for_user" in body or "VehicleAccess.objects" in body:
                    own_fetches.append(f"{views.parent.name}.views.{node.name}")

    assert own_fetches == []
