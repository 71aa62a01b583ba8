"""The staff fleet list: every vehicle, filtered, and assigned to a config in bulk; and the
config page's paste path, all or nothing with an error per VIN (#16 item 2)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from telemetry import services
from telemetry.catalogue import version_key
from telemetry.models import TelemetryAssignment, TelemetryAuditEntry, TelemetryDeployment
from telemetry.tests.factories import make_config
from vehicles.models import RosterEntry, Vehicle, VehicleAccess
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db

FLEET = "/telemetry/fleet/"
ASSIGN = "/telemetry/fleet/assign/"
# Valid VINs (check digit right): known to the portal in `fleet`, or not at all.
REAL = "LRW3E7FS0RC257863"
UNKNOWN_REAL = "XP7YGCEK5SB617830"


@pytest.fixture
def fleet(owner, other_user):
    """Six cars of two owners in two regions: firmware, roster, config, key and state vary.

    NA (owner):  A0 Y paired  2024.44.25  on roster     config "north", push skipped
                 A1 3 no      2024.26.3   -
                 A2 Y no      2023.44     -              no longer listed by any account
                 A3 3 paired  (unknown)
    EU (other):  B0 Y paired  2025.2.6    -              config "north"
                 B1 3 unknown 2024.8      on roster
    """
    a = make_vehicles(make_link(owner), 4, prefix="AAA")
    b = make_vehicles(make_link(other_user, region="EU"), 2, prefix="BBB")
    firmware = ["2024.44.25 8ed2c4bbd9", "2024.26.3", "2023.44", "", "2025.2.6", "2024.8"]
    for car, version in zip([*a, *b], firmware, strict=True):
        car.firmware_version = version
    b[1].key_paired = None
    Vehicle.objects.bulk_update([*a, *b], ["firmware_version", "key_paired"])
    RosterEntry.objects.create(vin=a[0].vin, note="van 12", vehicle=a[0])
    RosterEntry.objects.create(vin=b[1].vin)
    VehicleAccess.objects.filter(vehicle=a[2]).update(gone_at=a[2].created_at)
    north = make_config(name="north")
    make_config(name="south")
    services.telemetry_config_assign(config=north, vins=[a[0].vin, b[0].vin], user=None)
    TelemetryDeployment.objects.create(
        vehicle=a[0],
        version=services.telemetry_version_current(config=north),
        status="skipped",
        reason="missing_key",
    )
    return {"a": a, "b": b, "north": north}


def _listed(response) -> list[str]:
    return re.findall(r'<tr data-vin="([^"]+)"', response.content.decode())


# --- who may see it ---------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client, fleet):
    for response in (client.get(FLEET), client.post(ASSIGN, {"target": fleet["north"].pk})):
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_owners_and_staff_without_the_telemetry_permission_get_403(
    owner_client, staff_client, fleet
):
    car = fleet["a"][1]
    for c in (owner_client, staff_client):
        assert c.get(FLEET).status_code == 403
        post = {"target": fleet["north"].pk, "vehicle": [car.pk], "all_matching": "on"}
        assert c.post(ASSIGN, post).status_code == 403
    assert not TelemetryAssignment.objects.filter(vehicle=car).exists()


def test_managers_see_every_vehicle_of_every_owner_and_the_staff_menu_links_it(
    manager_client, fleet
):
    response = manager_client.get(FLEET)

    assert response.status_code == 200
    assert _listed(response) == sorted(c.vin for c in [*fleet["a"], *fleet["b"]])
    page = response.content.decode()
    assert 'href="/telemetry/fleet/"' in page and "6 vehicles" in page
    row = page.split(f'data-vin="{fleet["a"][0].vin}"')[1].split("</tr>")[0]
    assert "van 12" in row and "north" in row and "Push did not reach the car" in row


def test_a_managers_own_vehicle_page_points_to_the_fleet_list(manager_client, owner_client):
    assert 'id="fleet-pointer"' in manager_client.get("/vehicles/").content.decode()
    assert 'id="fleet-pointer"' not in owner_client.get("/vehicles/").content.decode()


def test_an_empty_portal_says_no_vehicle_is_known_yet(manager_client):
    page = manager_client.get(FLEET).content.decode()
    assert "The portal knows no vehicle yet" in page


# --- filters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"region": "EU"}, ["b0", "b1"]),
        ({"model": "Y"}, ["a0", "a2", "b0"]),
        ({"key_paired": "yes"}, ["a0", "a3", "b0"]),
        ({"key_paired": "no"}, ["a1", "a2"]),
        ({"key_paired": "unknown"}, ["b1"]),
        # Compared number by number: 2024.8 < 2024.26 < 2024.44.25; unknown matches neither.
        ({"firmware_min": "2024.26"}, ["a0", "a1", "b0"]),
        ({"firmware_below": "2024.26"}, ["a2", "b1"]),
        ({"firmware_min": "2024", "firmware_below": "2025"}, ["a0", "a1", "b1"]),
        ({"roster": "yes"}, ["a0", "b1"]),
        ({"roster": "no"}, ["a1", "a2", "a3", "b0"]),
        ({"linked": "no"}, ["a2"]),
        ({"config": "none"}, ["a1", "a2", "a3", "b1"]),
        ({"state": "push_failed"}, ["a0"]),
        ({"state": "no_config", "region": "NA"}, ["a1", "a2", "a3"]),
        ({"vin": "bbb"}, ["b0", "b1"]),
    ],
)
def test_each_filter_narrows_the_list(manager_client, fleet, query, expected):
    names = {f"{k}{n}": car.vin for k in "ab" for n, car in enumerate(fleet[k])}

    response = manager_client.get(FLEET, query)

    assert response.status_code == 200
    assert _listed(response) == [names[name] for name in expected]


def test_the_config_filter_lists_the_cars_assigned_to_it(manager_client, fleet):
    response = manager_client.get(FLEET, {"config": fleet["north"].pk})
    assert _listed(response) == [fleet["a"][0].vin, fleet["b"][0].vin]


def test_a_filter_matching_nothing_says_so(manager_client, fleet):
    page = manager_client.get(FLEET, {"region": "CN"}).content.decode()
    assert "No vehicle matches these filters." in page and "knows no vehicle" not in page


def test_a_firmware_filter_that_is_not_a_version_is_refused_with_what_is_allowed(
    manager_client, fleet
):
    response = manager_client.get(FLEET, {"firmware_min": "latest"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "numbers separated by dots, for example 2024.26" in page
    assert 'value="latest"' in page and _listed(response) == []


def test_firmware_versions_compare_number_by_number():
    assert version_key("2024.44.25.1 8ed2c4bbd9f8") == (2024, 44, 25, 1)
    assert version_key("2024.8") < version_key("2024.26") < version_key("2024.26.3")
    assert version_key("") is None and version_key("unknown") is None


def test_the_list_is_paginated_and_keeps_the_filter(manager_client, owner):
    make_vehicles(make_link(owner, region="EU"), 55, prefix="PAG")

    first = manager_client.get(FLEET, {"region": "EU"})
    second = manager_client.get(FLEET, {"region": "EU", "page": 2})

    assert len(_listed(first)) == 50 and len(_listed(second)) == 5
    assert "?region=EU&amp;page=2" in first.content.decode()


def test_the_list_reads_the_same_number_of_queries_for_one_car_or_forty(manager_client, owner):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert manager_client.get(FLEET, {"state": "no_config"}).status_code == 200
        return len(queries)

    config = make_config()
    cars = make_vehicles(make_link(owner), 1)
    services.telemetry_config_assign(config=config, vins=[cars[0].vin], user=None)
    RosterEntry.objects.create(vin=cars[0].vin, vehicle=cars[0])
    one = count()
    more = make_vehicles(make_link(owner), 39, prefix="MOR")
    services.telemetry_config_assign(config=config, vins=[c.vin for c in more], user=None)
    RosterEntry.objects.bulk_create([RosterEntry(vin=c.vin, vehicle=c) for c in more])
    forty = count()

    assert one == forty <= 25, (one, forty)


# --- select and assign ------------------------------------------------------------------------


def test_ticked_vehicles_are_assigned_and_the_outcome_names_what_was_not(manager_client, fleet):
    south = make_config(name="later")
    a = fleet["a"]
    post = {"target": south.pk, "vehicle": [a[0].pk, a[1].pk]}

    response = manager_client.post(ASSIGN, {**post, "region": "NA"}, follow=True)

    assert response.redirect_chain[-1][0] == "/telemetry/fleet/?region=NA"
    page = response.content.decode()
    assert "2 vehicles assigned to later. 1 of them moved from another configuration." in page
    assert f"not known to be paired on 1 assigned vehicle ({a[1].vin})" in page
    assert set(south.assignments.values_list("vehicle__vin", flat=True)) == {a[0].vin, a[1].vin}
    entry = TelemetryAuditEntry.objects.get(config=south, action="assigned")
    assert entry.vins == sorted([a[0].vin, a[1].vin])

    again = manager_client.post(ASSIGN, post, follow=True).content.decode()
    assert f"2 vehicles not assigned: they are on later already ({a[0].vin}, {a[1].vin})" in again
    assert TelemetryAuditEntry.objects.filter(config=south, action="assigned").count() == 1


def test_all_matching_the_filter_assigns_every_page_not_just_the_ticked(manager_client, owner):
    config = make_config()
    eu = make_vehicles(make_link(owner, region="EU"), 55, prefix="EUR")
    na = make_vehicles(make_link(owner), 2, prefix="NAM")

    response = manager_client.post(
        ASSIGN,
        {"target": config.pk, "all_matching": "on", "region": "EU", "vehicle": [na[0].pk]},
        follow=True,
    )

    assert "55 vehicles assigned to fleet." in response.content.decode()
    assert set(config.assignments.values_list("vehicle_id", flat=True)) == {c.pk for c in eu}


def test_assigning_nothing_ticked_or_no_config_keeps_the_choice_and_says_what_is_missing(
    manager_client, fleet
):
    car = fleet["a"][1]
    none_ticked = manager_client.post(ASSIGN, {"target": fleet["north"].pk})
    no_config = manager_client.post(ASSIGN, {"vehicle": [car.pk]})

    assert none_ticked.status_code == 400
    assert "Tick the vehicles to assign" in none_ticked.content.decode()
    assert no_config.status_code == 400
    page = no_config.content.decode()
    assert "Choose the configuration to assign the vehicles to." in page
    assert f'value="{car.pk}" aria-label="Select {car.vin}" checked' in page
    assert not TelemetryAssignment.objects.filter(vehicle=car).exists()


def test_all_matching_a_filter_that_matches_nothing_says_nothing_was_assigned(
    manager_client, fleet
):
    post = {"target": fleet["north"].pk, "all_matching": "on", "region": "CN"}

    response = manager_client.post(ASSIGN, post)

    assert response.status_code == 400
    assert "No vehicle matches the filter: nothing was assigned." in response.content.decode()


def test_a_forged_vehicle_id_is_a_bad_request(manager_client, fleet):
    response = manager_client.post(ASSIGN, {"target": fleet["north"].pk, "vehicle": ["1 OR 1"]})
    assert response.status_code == 400


def test_the_page_reads_in_chinese(manager_client, fleet):
    with translation.override("zh-hans"):
        page = manager_client.get(FLEET, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "车队" in page and "Every vehicle the portal knows" not in page


# --- the config page's paste path ---------------------------------------------------------------


@pytest.fixture
def known_real(owner):
    link = make_link(owner)
    car = Vehicle.objects.create(vin=REAL, region="NA")
    VehicleAccess.objects.create(link=link, vehicle=car, last_seen_at=car.created_at)
    return car


def test_a_paste_with_any_wrong_vin_assigns_nothing_names_each_and_keeps_the_input(
    manager_client, known_real
):
    config = make_config()
    paste = f"{REAL}\nNOTAVIN\n{UNKNOWN_REAL}\n5YJ3E1EA7KF317000"

    response = manager_client.post(f"/telemetry/{config.pk}/assign/", {"vins": paste})

    assert response.status_code == 400
    page = response.content.decode()
    # The paste is still in the textarea.
    assert f'id="id_vins">\n{paste}</textarea>' in page
    errors = page.split('id="id_vins_error"')[1].split("</ul>")[0]
    assert "NOTAVIN is not a valid VIN: A VIN has 17 characters." in errors
    assert "5YJ3E1EA7KF317000 is not a valid VIN: The check digit" in errors
    assert f"{UNKNOWN_REAL} is a valid VIN, but no vehicle with it is known" in errors
    assert REAL not in errors
    assert 'aria-describedby="id_vins_helptext id_vins_error"' in page
    assert not config.assignments.exists()


def test_a_paste_of_valid_known_vins_assigns_them_all(manager_client, known_real):
    config = make_config()

    response = manager_client.post(
        f"/telemetry/{config.pk}/assign/", {"vins": known_real.vin.lower()}, follow=True
    )

    assert "Vehicles assigned: 1." in response.content.decode()
    assert list(config.assignments.values_list("vehicle__vin", flat=True)) == [REAL]


def test_a_known_car_whose_vin_breaks_the_check_digit_rule_is_assigned(manager_client, owner):
    """The portal's cars come from Tesla: the sandbox's VINs (and some outside North America)
    have no valid check digit, and the paste must still take them (the e2e journey does)."""
    config = make_config()
    car = make_vehicles(make_link(owner), 1)[0]
    car.vin = "5YJ3E1EA7PF000001"  # a sandbox VIN: its check digit is wrong
    car.save(update_fields=["vin"])

    response = manager_client.post(
        f"/telemetry/{config.pk}/assign/", {"vins": car.vin}, follow=True
    )

    assert "Vehicles assigned: 1." in response.content.decode()
    assert list(config.assignments.values_list("vehicle__vin", flat=True)) == [car.vin]


def test_assignment_in_batches_reports_every_car_once(owner, monkeypatch):
    from telemetry.services import configs

    monkeypatch.setattr(configs, "ASSIGN_BATCH", 2)
    old, new = make_config(name="old"), make_config(name="new")
    cars = make_vehicles(make_link(owner), 5)
    services.telemetry_config_assign(config=old, vins=[cars[0].vin], user=None)
    services.telemetry_config_assign(config=new, vins=[cars[1].vin], user=None)

    outcome = services.telemetry_config_assign_vehicles(
        config=new, vehicle_ids=[c.pk for c in cars] + [cars[2].pk, 999_999], user=None
    )

    assert outcome.assigned == sorted(c.vin for c in cars if c != cars[1])
    assert outcome.moved == [cars[0].vin] and outcome.already == [cars[1].vin]
    assert outcome.missing == [999_999]
    assert new.assignments.count() == 5 and not old.assignments.exists()
