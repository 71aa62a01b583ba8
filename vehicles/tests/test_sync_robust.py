"""The sync against odd Tesla answers, over real HTTP to the sandbox: pages, items, shapes."""

from __future__ import annotations

import pytest

from teslafleet.errors import TransientError
from vehicles import services
from vehicles.models import SyncRun, Vehicle, VehicleAccess
from vehicles.tests.conftest import linked
from vehicles.tests.factories import make_link

pytestmark = pytest.mark.django_db

ALICE_VINS = [
    "5YJ3E1EA7PF000001",
    "7SAYGDEE9RF000002",
    "5YJSA1E26KF000003",
    "5YJXCBE20NF000004",
    "5YJ3E1EB5NF000005",
]


def _item(vin: str, **extra: object) -> dict[str, object]:
    return {"id": 1, "id_s": "1", "vin": vin, "access_type": "OWNER", "state": "online", **extra}


def _list_once(sandbox, items: list, **envelope: object) -> None:
    """The next vehicle list answer is `items` (Tesla's envelope around them)."""
    body = {"response": items, "count": len(items), **envelope}
    sandbox.control.fault("/api/1/vehicles", status=200, body=body, count=1)


# --- pagination (the library's, over HTTP) -------------------------------------------------


def test_pagination_next_as_a_string_follows_every_page_and_marks_no_car_gone(
    owner_client, tesla_apps, tesla_sandbox
):
    added = tesla_sandbox.control.add_vehicles("nora@example.com", 250)
    link = linked(owner_client, "nora@example.com")
    services.vehicles_sync(link_id=link.pk)
    tesla_sandbox.control.settings(pagination_next="string")

    result = services.vehicles_sync(link_id=link.pk)

    assert (result.status, result.seen, result.gone) == ("done", 250, 0)
    assert SyncRun.objects.filter(link=link).latest("created_at").pages == 3
    current = VehicleAccess.objects.filter(link=link, gone_at__isnull=True)
    assert set(current.values_list("vehicle__vin", flat=True)) == set(added)


def test_an_unusable_pagination_next_marks_no_car_gone(alice_link, tesla_sandbox):
    services.vehicles_sync(link_id=alice_link.pk)
    _list_once(
        tesla_sandbox,
        [_item(vin) for vin in ALICE_VINS[:2]],
        pagination={"previous": None, "next": "two", "current": 1},
    )

    with pytest.raises(TransientError):
        services.vehicles_sync(link_id=alice_link.pk)

    # Only a complete list may declare cars gone; the task retries this one later.
    assert not VehicleAccess.objects.filter(gone_at__isnull=False).exists()
    run = SyncRun.objects.filter(link=alice_link).latest("created_at")
    assert run.status == "retrying"
    assert "pagination" in run.error


# --- odd entries in the vehicle list --------------------------------------------------------


def test_list_entries_that_cannot_be_used_are_skipped_counted_and_the_run_finishes(
    alice_link, tesla_sandbox
):
    items = [
        "5YJ3E1EA7PF000001",
        None,
        42,
        ["5YJ3E1EA7PF000001"],
        {"id": 7, "display_name": "no vin"},
        _item("5YJ3E1EA7PF\u000000001"),
        _item("5YJ3E1EA7PF0000011234567"),
        _item({"vin": "5YJ3E1EA7PF000001"}),
        *[_item(vin) for vin in ALICE_VINS],
    ]
    _list_once(tesla_sandbox, items)

    result = services.vehicles_sync(link_id=alice_link.pk)

    assert (result.status, result.seen) == ("done", 5)
    run = SyncRun.objects.get(link=alice_link)
    assert (run.status, run.skipped, run.statuses) == ("done", 8, 5)
    assert run.skipped_reason == services.SKIPPED_NOT_AN_OBJECT
    assert set(Vehicle.objects.values_list("vin", flat=True)) == set(ALICE_VINS)


def test_a_list_with_skipped_entries_marks_no_car_gone(alice_link, tesla_sandbox):
    services.vehicles_sync(link_id=alice_link.pk)
    # The entry Tesla garbled may be the car missing from the rest of the list.
    _list_once(tesla_sandbox, ["garbled", *[_item(vin) for vin in ALICE_VINS[:4]]])

    result = services.vehicles_sync(link_id=alice_link.pk)

    assert (result.status, result.gone) == ("done", 0)
    assert not VehicleAccess.objects.filter(gone_at__isnull=False).exists()
    run = SyncRun.objects.filter(link=alice_link).latest("created_at")
    assert (run.skipped, run.skipped_reason) == (1, services.SKIPPED_NOT_AN_OBJECT)


def test_a_later_complete_sync_counts_skipped_entries_afresh(alice_link, tesla_sandbox):
    _list_once(tesla_sandbox, [None, *[_item(vin) for vin in ALICE_VINS]])
    services.vehicles_sync(link_id=alice_link.pk)

    services.vehicles_sync(link_id=alice_link.pk)

    run = SyncRun.objects.filter(link=alice_link).latest("created_at")
    assert (run.status, run.skipped, run.skipped_reason) == ("done", 0, "")


# --- strings PostgreSQL (or UTF-8) refuses ----------------------------------------------------


def test_nul_and_control_characters_from_tesla_are_stripped_and_later_syncs_work(
    alice_link, tesla_sandbox
):
    # A car's name is its owner's choice, and every link that sees the car stores it: a NUL
    # (refused by PostgreSQL) or a lone surrogate (not UTF-8) must not stop any link's sync.
    car = ALICE_VINS[0]
    odd = _item(
        car,
        id_s="12\u00003",
        display_name="My\u0000 car\u0007\ud800\ttoo",
        state="on\u0000line",
    )
    _list_once(tesla_sandbox, [odd, *[_item(vin) for vin in ALICE_VINS[1:]]])

    first = services.vehicles_sync(link_id=alice_link.pk)

    assert first.status == "done"
    access = VehicleAccess.objects.get(vehicle__vin=car)
    assert (access.tesla_id, access.display_name, access.state) == ("123", "My car too", "online")

    second = services.vehicles_sync(link_id=alice_link.pk)

    assert (second.status, second.seen) == ("done", 5)


def test_odd_fleet_status_strings_are_stored_cleaned(alice_link, tesla_sandbox):
    car = ALICE_VINS[0]
    info = {
        "firmware_version": "2024.\u000044.25\ud800",
        "fleet_telemetry_version": "1.0\u0000.0",
        "total_number_of_keys": 3,
    }
    tesla_sandbox.control.fault(
        "/api/1/vehicles/fleet_status",
        status=200,
        body={
            "response": {"key_paired_vins": [], "unpaired_vins": [car], "vehicle_info": {car: info}}
        },
        count=1,
    )

    result = services.vehicles_sync(link_id=alice_link.pk)

    assert result.status == "done"
    vehicle = Vehicle.objects.get(vin=car)
    assert (vehicle.firmware_version, vehicle.telemetry_version) == ("2024.44.25", "1.0.0")
    assert (vehicle.key_paired, vehicle.total_keys) == (False, 3)


def test_a_fleet_status_error_text_with_nul_is_stored_cleaned(alice_link, tesla_sandbox):
    tesla_sandbox.control.fault(
        "/api/1/vehicles/fleet_status",
        status=400,
        body={"response": None, "error": "bad\u0000 request"},
        count=1,
    )

    result = services.vehicles_sync(link_id=alice_link.pk)

    assert result.status == "done"
    assert set(Vehicle.objects.values_list("status_error", flat=True)) == {"400 bad request"}


def test_a_tesla_error_text_with_nul_fails_the_run_visibly_instead_of_leaving_it_running(
    alice_link, tesla_sandbox
):
    tesla_sandbox.control.fault(
        "/api/1/vehicles",
        status=403,
        body={"response": None, "error": "missing\u0000 scopes"},
        count=1,
    )

    result = services.vehicles_sync(link_id=alice_link.pk)

    run = SyncRun.objects.get(link=alice_link)
    assert (result.status, run.status) == ("failed", "failed")
    assert "403 missing scopes" in run.error


# --- fleet_status answers of odd shapes ---------------------------------------------------------


@pytest.mark.parametrize(
    "response",
    [
        None,
        "ok",
        ["5YJ3E1EA7PF000001"],
        {"vehicle_info": ["5YJ3E1EA7PF000001"], "key_paired_vins": "5YJ3E1EA7PF000001"},
        {"vehicle_info": "x", "key_paired_vins": 7, "unpaired_vins": 7},
        {"key_paired_vins": [{"vin": "5YJ3E1EA7PF000001"}], "unpaired_vins": [["x"]]},
        {"key_paired_vins": {"5YJ3E1EA7PF000001": True}, "unpaired_vins": None},
    ],
    ids=["null", "string", "list", "info-list", "scalars", "unhashable", "dict-of-vins"],
)
def test_fleet_status_answers_of_odd_shapes_do_not_fail_the_sync(
    alice_link, tesla_sandbox, response
):
    tesla_sandbox.control.fault(
        "/api/1/vehicles/fleet_status", status=200, body={"response": response}, count=1
    )

    result = services.vehicles_sync(link_id=alice_link.pk)

    assert (result.status, result.seen) == ("done", 5)
    assert SyncRun.objects.get(link=alice_link).status == "done"
    # Nothing usable was said about pairing: it stays unknown, never guessed.
    assert set(Vehicle.objects.values_list("key_paired", flat=True)) == {None}


def test_a_vehicle_info_entry_that_is_not_an_object_is_reported_on_that_car(
    alice_link, tesla_sandbox
):
    good, odd = ALICE_VINS[0], ALICE_VINS[1]
    body = {
        "key_paired_vins": "not a list",
        "unpaired_vins": [good],
        "vehicle_info": {
            odd: "garbled",
            good: {"firmware_version": "2024.44.25", "total_number_of_keys": 10**9},
        },
    }
    tesla_sandbox.control.fault(
        "/api/1/vehicles/fleet_status", status=200, body={"response": body}, count=1
    )

    result = services.vehicles_sync(link_id=alice_link.pk)

    assert result.status == "done"
    assert Vehicle.objects.get(vin=odd).status_error == "unreadable fleet_status answer"
    checked = Vehicle.objects.get(vin=good)
    # Only "unpaired" was usable; a key count beyond any car's is not stored.
    assert (checked.key_paired, checked.total_keys, checked.status_error) == (False, None, "")
    assert checked.firmware_version == "2024.44.25"


# --- shown where the run is shown ------------------------------------------------------------


def test_the_vehicles_page_shows_how_many_entries_were_skipped_and_why(owner_client, owner):
    link = make_link(owner)
    SyncRun.objects.create(
        link=link,
        status=SyncRun.Status.DONE,
        skipped=2,
        skipped_reason=services.SKIPPED_NO_VIN,
    )

    page = owner_client.get("/vehicles/").content.decode()

    assert "Skipped 2 entries of Tesla's answer: an entry had no VIN." in page
