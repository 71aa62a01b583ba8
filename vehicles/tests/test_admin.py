"""Admin: operational search and filters, read-only Tesla data, roster entry validated."""

from __future__ import annotations

import pytest

from accounts.tests.factories import UserFactory
from vehicles.models import RosterEntry
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(email="root@example.com", is_staff=True, is_superuser=True))
    return client


def test_vehicles_are_searchable_by_owner_email_and_filterable(admin_client, owner, other_user):
    mine = make_vehicles(make_link(owner), 3, prefix="OWN")
    make_vehicles(make_link(other_user), 2, prefix="ZZZ")

    page = admin_client.get("/admin/vehicles/vehicle/?q=owner%40example.com").content.decode()
    assert all(car.vin in page for car in mine)
    assert "ZZZ" not in page
    filtered = admin_client.get(
        "/admin/vehicles/vehicle/?region=NA&key_paired__exact=1&accesses__access_type=OWNER"
    )
    assert filtered.status_code == 200
    by_vin = admin_client.get(f"/admin/vehicles/vehicleaccess/?q={mine[0].vin}").content.decode()
    assert "owner@example.com" in by_vin


def test_tesla_derived_fields_are_read_only(admin_client, owner):
    car = make_vehicles(make_link(owner), 1)[0]

    page = admin_client.get(f"/admin/vehicles/vehicle/{car.pk}/change/").content.decode()

    assert 'name="vin"' not in page and 'name="key_paired"' not in page
    assert car.vin in page


def test_admin_roster_entry_is_validated_like_the_form(admin_client):
    bad = admin_client.post("/admin/vehicles/rosterentry/add/", {"vin": "5YJ3E1EA8HF000337"})
    good = admin_client.post("/admin/vehicles/rosterentry/add/", {"vin": " lrw3e7fs0rc257863 "})

    assert bad.status_code == 200 and "check digit" in bad.content.decode()
    assert good.status_code == 302
    assert list(RosterEntry.objects.values_list("vin", flat=True)) == ["LRW3E7FS0RC257863"]
