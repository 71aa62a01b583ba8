"""Owner pages that tell the truth (issue 16): empty states, sync lines, key pairing state."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse

from fleetportal.tests.security_helpers import task_messages
from vehicles import services, tasks
from vehicles.models import SyncRun, Vehicle
from vehicles.tests.conftest import linked
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


def test_filter_with_no_match_says_no_vehicle_matches_and_offers_to_clear(owner_client, owner):
    make_vehicles(make_link(owner, region="NA"), 7)

    response = owner_client.get(reverse("vehicles:list"), {"region": "EU"})

    body = response.content.decode()
    assert "No vehicles match these filters" in body
    assert f'href="{reverse("vehicles:list")}"' in body
    assert "Link a Tesla account" not in body


def test_user_without_cars_is_told_to_link_an_account(owner_client):
    response = owner_client.get(reverse("vehicles:list"), {"region": "EU"})

    body = response.content.decode()
    assert "Link a Tesla account" in body
    assert "No vehicles match these filters" not in body


@pytest.fixture
def two_finished_syncs(owner):
    """Two links of the owner, each with a finished sync, so the lines must say whose is whose."""
    finished = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    for email, seen in (("alice@example.com", 5), ("carol@example.com", 2)):
        link = make_link(owner)
        link.email = email
        link.save(update_fields=["email"])
        SyncRun.objects.create(
            link=link, status="done", pages=1, seen=seen, started_at=finished, finished_at=finished
        )


def test_sync_lines_name_the_account_and_the_finish_time_in_the_portal_timezone(
    owner_client, two_finished_syncs, settings
):
    settings.TIME_ZONE = "Asia/Shanghai"  # UTC+8: 03:04 UTC is 11:04 there

    body = owner_client.get(reverse("vehicles:list")).content.decode()

    assert "<strong>alice@example.com</strong> · Sync: Done — 1 page, 5 vehicles" in body
    assert "<strong>carol@example.com</strong> · Sync: Done — 1 page, 2 vehicles" in body
    assert body.count("finished Jan. 2, 2026, 11:04 a.m.") == 2


def test_sync_status_json_names_the_account_and_time_like_the_page(
    owner_client, two_finished_syncs, settings
):
    settings.TIME_ZONE = "Asia/Shanghai"

    runs = owner_client.get(reverse("vehicles:sync_status")).json()["runs"]

    assert sorted(run["account"] for run in runs) == ["alice@example.com", "carol@example.com"]
    html = {run["account"]: run["html"] for run in runs}
    assert html["alice@example.com"].startswith("<strong>alice@example.com</strong> · Sync: Done")
    assert "finished Jan. 2, 2026, 11:04 a.m." in html["carol@example.com"]
    assert all(run["finished_at"] for run in runs)


# --- Key pairing: "Check again" (item 10) ---------------------------------------------------

MODEL_3 = "5YJ3E1EA7PF000001"  # alice owns it, never paired
SHARED = "5YJ3E1EB5NF000005"  # alice owns it, bob drives it


def test_check_again_shows_a_key_paired_since_the_last_sync(
    owner_client, alice_link, tesla_sandbox, _partner_key_server
):
    services.vehicles_sync(link_id=alice_link.pk)
    car = Vehicle.objects.get(vin=MODEL_3)
    page = owner_client.get(reverse("vehicles:detail", args=[car.pk])).content.decode()
    assert "pairing-link" in page and f'action="/vehicles/{car.pk}/check/"' in page
    tesla_sandbox.control.pair(MODEL_3, _partner_key_server.domain)

    response = owner_client.post(reverse("vehicles:check", args=[car.pk]), follow=True)

    body = response.content.decode()
    assert "Checked with Tesla: the portal&#x27;s key is paired." in body
    assert "pairing-link" not in body
    assert Vehicle.objects.get(pk=car.pk).key_paired is True


def test_check_again_on_another_users_car_is_404_without_calling_tesla(
    alice_link, other_client, tesla_sandbox
):
    services.vehicles_sync(link_id=alice_link.pk)
    car = Vehicle.objects.get(vin=MODEL_3)
    tesla_sandbox.control.clear_requests()

    response = other_client.post(reverse("vehicles:check", args=[car.pk]))

    assert response.status_code == 404
    assert tesla_sandbox.control.requests() == []


def test_check_again_through_a_drivers_link_says_tesla_refused_it(
    other_client, tesla_apps, tesla_sandbox
):
    bob = linked(other_client, "bob@example.com")
    services.vehicles_sync(link_id=bob.pk)
    car = Vehicle.objects.get(vin=SHARED)
    tesla_sandbox.control.fault(
        "/api/1/vehicles/fleet_status",
        status=404,
        body={"response": None, "error": f"{SHARED} not_found"},
    )

    response = other_client.post(reverse("vehicles:check", args=[car.pk]), follow=True)

    body = response.content.decode()
    assert "Tesla refused the check through your link" in body
    assert "driver access" in body


# --- Key pairing: the automatic re-check after the pairing link was opened (item 10) ---------


def _pairing_url(owner_client, car) -> str:
    page = owner_client.get(reverse("vehicles:detail", args=[car.pk])).content.decode()
    return re.search(r'href="(http://testserver/vehicles/pair/[^"]+)"', page).group(1)


def test_opening_the_pairing_link_queues_one_delayed_recheck_and_goes_on_to_tesla(
    owner_client, alice_link, monkeypatch
):
    services.vehicles_sync(link_id=alice_link.pk)
    car = Vehicle.objects.get(vin=MODEL_3)
    url = _pairing_url(owner_client, car)

    with task_messages(monkeypatch) as published:
        first = Client().get(url)  # the phone that scans the QR code is not logged in
        again = Client().get(url)

    assert first.status_code == again.status_code == 302
    assert "/_ak/" in first["Location"]  # Tesla's pairing link (§3.4)
    assert f"vin={MODEL_3}" in first["Location"]
    rechecks = [m for m in published if m.task == "vehicles.tasks.vehicles_pairing_recheck"]
    assert len(rechecks) == 1  # reopening the link does not multiply calls to Tesla
    assert rechecks[0].headers.get("eta")  # later, not at once: time to approve on the phone


def test_the_delayed_recheck_records_the_key_paired_meanwhile(
    owner_client, alice_link, tesla_sandbox, _partner_key_server
):
    services.vehicles_sync(link_id=alice_link.pk)
    car = Vehicle.objects.get(vin=MODEL_3)
    access = car.accesses.get(link=alice_link)
    tesla_sandbox.control.pair(MODEL_3, _partner_key_server.domain)

    assert tasks.vehicles_pairing_recheck(access.pk) == "checked"

    body = owner_client.get(reverse("vehicles:detail", args=[car.pk])).content.decode()
    assert "pairing-link" not in body
    assert Vehicle.objects.get(pk=car.pk).key_paired is True


def test_a_tampered_pairing_link_is_404_and_queues_nothing(owner_client, alice_link, monkeypatch):
    services.vehicles_sync(link_id=alice_link.pk)
    url = _pairing_url(owner_client, Vehicle.objects.get(vin=MODEL_3))

    with task_messages(monkeypatch) as published:
        response = Client().get(url.rstrip("/") + "x/")

    assert response.status_code == 404
    assert published == []
