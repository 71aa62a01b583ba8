"""The vehicle pages: scoping, the list's constant query count, sync progress, roster, i18n."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fleetportal import tesla
from fleetportal.tests.security_helpers import task_messages
from teslafleet import regions
from vehicles import services
from vehicles.models import RosterEntry, SyncRun, Vehicle
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


def test_another_users_vehicle_id_or_vin_is_404_with_no_outbound_call(
    alice_link, other_client, tesla_sandbox
):
    services.vehicles_sync(link_id=alice_link.pk)
    car = Vehicle.objects.get(vin="5YJ3E1EA7PF000001")
    tesla_sandbox.control.clear_requests()

    assert other_client.get(f"/vehicles/{car.pk}/").status_code == 404
    assert other_client.get(f"/vehicles/vin/{car.vin}/").status_code == 404
    assert other_client.get("/vehicles/").content.decode().count(car.vin) == 0
    assert tesla_sandbox.control.requests() == []


def test_owner_sees_decoded_vin_status_and_pairing_link(
    alice_link, owner_client, tesla_sandbox, monkeypatch
):
    services.vehicles_sync(link_id=alice_link.pk)
    car = Vehicle.objects.get(vin="5YJ3E1EA7PF000001")

    assert owner_client.get(f"/vehicles/vin/{car.vin}/")["Location"] == f"/vehicles/{car.pk}/"
    page = owner_client.get(f"/vehicles/{car.pk}/").content.decode()
    assert "Model 3" in page and "2023" in page
    assert "Fremont, California, USA" in page
    assert "2025.20.6" in page
    # The pairing link goes through the portal (it queues a key re-check), then to Tesla's.
    pairing_url = re.search(r'href="(http://testserver/vehicles/pair/[^"]+)"', page).group(1)
    with task_messages(monkeypatch):  # the re-check it queues stays out of the test broker
        tesla_link = Client().get(pairing_url)["Location"]
    assert "/_ak/" in tesla_link and f"vin={car.vin}" in tesla_link
    assert "<svg" in page  # the QR code of the pairing link


def _list_queries(client, url="/vehicles/") -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_is_the_same_for_10_and_500_vehicles(
    owner_client, other_client, other_user, owner
):
    make_vehicles(make_link(owner), 10, prefix="AAA")
    make_vehicles(make_link(other_user), 500, prefix="BBB")

    few = _list_queries(owner_client)
    many = _list_queries(other_client)

    assert few == many
    filtered = "/vehicles/?q=car&model=3&region=NA&key_paired=no&sort=year&page=2"
    assert _list_queries(other_client, filtered) == many


def test_list_searches_filters_sorts_and_paginates(owner_client, owner):
    cars = make_vehicles(make_link(owner), 120)

    page = owner_client.get("/vehicles/").content.decode()
    assert "Page 1 of 3 (120 vehicles)" in page
    assert page.count("<code>TST") == 50
    one = owner_client.get(f"/vehicles/?q={cars[7].vin}").content.decode()
    assert one.count("<code>TST") == 1
    only_3 = owner_client.get("/vehicles/?model=3&sort=vin").content.decode()
    assert only_3.count("<code>TST") == 50 and "Model Y" not in only_3.split("<tbody>")[1]
    paired = owner_client.get("/vehicles/?key_paired=yes").context["page"].paginator.count
    assert paired == Vehicle.objects.filter(key_paired=True).count()


def test_sync_now_queues_one_run_and_reports_progress(owner_client, owner):
    link = make_link(owner)

    response = owner_client.post("/vehicles/sync/")
    owner_client.post("/vehicles/sync/")  # a second click while it is queued

    assert response.status_code == 302
    assert SyncRun.objects.filter(link=link).count() == 1
    status = owner_client.get("/vehicles/sync/status/").json()
    assert status["active"] is True
    assert status["runs"][0]["status"] == "queued"
    assert 'data-active="1"' in owner_client.get("/vehicles/").content.decode()


def test_sync_now_needs_post_and_login(owner_client):
    assert owner_client.get("/vehicles/sync/").status_code == 405
    assert Client().get("/vehicles/").status_code == 302


def test_staff_add_roster_vins_one_or_many(client, staff_with, owner):
    client.force_login(staff_with("vehicles.manage_roster"))
    car = make_vehicles(make_link(owner), 1, prefix="LRW")[0]
    Vehicle.objects.filter(pk=car.pk).update(vin="LRW3E7FS0RC257863")

    response = client.post(
        "/vehicles/roster/", {"vins": "LRW3E7FS0RC257863\nXP7YGCEK5SB617830", "note": "pool"}
    )

    assert response.status_code == 302
    page = client.get("/vehicles/roster/").content.decode()
    assert "LRW3E7FS0RC257863" in page and "XP7YGCEK5SB617830" in page
    assert RosterEntry.objects.get(vin="LRW3E7FS0RC257863").vehicle_id == car.pk
    assert "Not linked yet" in page


def test_roster_rejects_invalid_vins_and_adds_none(client, staff_with):
    client.force_login(staff_with("vehicles.manage_roster"))

    response = client.post("/vehicles/roster/", {"vins": "LRW3E7FS0RC257863 5YJ3E1EA8HF000337"})

    assert response.status_code == 200
    assert "5YJ3E1EA8HF000337" in response.content.decode()
    assert RosterEntry.objects.count() == 0


def test_roster_needs_the_roster_permission(owner_client, client, staff):
    assert owner_client.get("/vehicles/roster/").status_code == 403
    client.force_login(staff)  # staff, but without vehicles.manage_roster
    assert client.post("/vehicles/roster/", {"vins": "LRW3E7FS0RC257863"}).status_code == 403
    assert RosterEntry.objects.count() == 0


def test_pages_render_in_english_and_simplified_chinese(owner_client, owner):
    car = make_vehicles(make_link(owner), 1)[0]

    english = owner_client.get(f"/vehicles/{car.pk}/").content.decode()
    assert "Decoded VIN" in english
    owner_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/vehicles/"})
    chinese = owner_client.get("/vehicles/").content.decode()
    assert '<html lang="zh-hans">' in chinese
    assert "立即同步" in chinese
    assert "车架号解码" in owner_client.get(f"/vehicles/{car.pk}/").content.decode()


def test_region_filter_offers_the_regions_of_the_configured_table(owner_client, monkeypatch):
    table = replace(regions.PRODUCTION, regions=regions.PRODUCTION.regions[:2])
    monkeypatch.setattr(tesla, "region_table", lambda: table)
    codes = [region.code for region in table.regions]

    page = owner_client.get("/vehicles/").content.decode()

    offered = [code for code in ("NA", "EU", "CN") if f'<option value="{code}"' in page]
    assert offered == codes and len(codes) == 2
