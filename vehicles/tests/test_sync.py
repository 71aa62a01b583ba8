"""The per-link sync against the Tesla sandbox over real HTTP."""

from __future__ import annotations

from unittest import mock

import pytest
from celery.exceptions import Retry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import TeslaLink
from accounts.services import link_unlink
from vehicles import services, tasks
from vehicles.models import RosterEntry, SyncRun, Vehicle, VehicleAccess
from vehicles.tests.conftest import linked

pytestmark = pytest.mark.django_db

ALICE_VINS = {
    "5YJ3E1EA7PF000001",
    "7SAYGDEE9RF000002",
    "5YJSA1E26KF000003",
    "5YJXCBE20NF000004",
    "5YJ3E1EB5NF000005",
}


def _list_calls(sandbox) -> list[dict]:
    return [r for r in sandbox.control.requests() if r["path"].endswith("/api/1/vehicles")]


def test_sync_stores_decoded_vehicles_with_key_status(alice_link, tesla_sandbox):
    result = services.vehicles_sync(link_id=alice_link.pk)

    assert result.status == "done"
    assert set(Vehicle.objects.values_list("vin", flat=True)) == ALICE_VINS
    model_s = Vehicle.objects.get(vin="5YJSA1E26KF000003")
    assert (model_s.model, model_s.model_year, model_s.plant_code) == ("S", 2019, "F")
    assert model_s.region == "NA"
    assert model_s.key_paired is False
    assert model_s.firmware_version == "2024.44.25"
    assert model_s.telemetry_version == ""  # legacy hardware: no telemetry client
    model_3 = Vehicle.objects.get(vin="5YJ3E1EA7PF000001")
    assert model_3.telemetry_version == "1.0.0"
    assert model_3.command_protocol_required is True
    run = SyncRun.objects.get(link=alice_link)
    assert (run.status, run.seen, run.statuses) == ("done", 5, 5)


def test_paired_key_shows_after_next_sync(alice_link, tesla_sandbox, _partner_key_server):
    services.vehicles_sync(link_id=alice_link.pk)
    tesla_sandbox.control.pair("5YJ3E1EA7PF000001", _partner_key_server.domain)

    services.vehicles_sync(link_id=alice_link.pk)

    assert Vehicle.objects.get(vin="5YJ3E1EA7PF000001").key_paired is True
    assert Vehicle.objects.get(vin="5YJSA1E26KF000003").key_paired is False


def test_sync_follows_every_page_and_queries_do_not_grow_with_page_size(
    owner_client, tesla_apps, tesla_sandbox
):
    added = tesla_sandbox.control.add_vehicles("nora@example.com", 250)
    link = linked(owner_client, "nora@example.com")
    tesla_sandbox.control.clear_requests()

    with CaptureQueriesContext(connection) as big:
        services.vehicles_sync(link_id=link.pk)

    assert set(Vehicle.objects.values_list("vin", flat=True)) == set(added)
    assert len(_list_calls(tesla_sandbox)) == 3  # 100 + 100 + 50
    assert SyncRun.objects.get(link=link).pages == 3

    # The same sync for 10 cars: the per-page and per-batch work costs the same queries.
    small_vins = tesla_sandbox.control.add_vehicles("erika@example.de", 10)
    small_link = linked(owner_client, "erika@example.de")
    with CaptureQueriesContext(connection) as small:
        services.vehicles_sync(link_id=small_link.pk)
    assert set(small_vins) <= set(
        Vehicle.objects.filter(accesses__link=small_link).values_list("vin", flat=True)
    )
    pages_big, pages_small = 3, 1
    batches_big, batches_small = 250 // 50, 1
    per_unit = (len(big.captured_queries) - len(small.captured_queries)) / (
        (pages_big - pages_small) + (batches_big - batches_small)
    )
    assert per_unit <= 6, per_unit


def test_a_vehicle_no_longer_listed_is_marked_gone_not_deleted(alice_link, tesla_sandbox):
    services.vehicles_sync(link_id=alice_link.pk)
    kept = [
        {"id": 1, "id_s": "1", "vin": vin, "access_type": "OWNER", "state": "online"}
        for vin in sorted(ALICE_VINS - {"5YJXCBE20NF000004"})
    ]
    tesla_sandbox.control.fault(
        "/api/1/vehicles", status=200, body={"response": kept, "count": 4}, count=1
    )

    result = services.vehicles_sync(link_id=alice_link.pk)

    assert result.gone == 1
    gone = VehicleAccess.objects.get(vehicle__vin="5YJXCBE20NF000004")
    assert gone.gone_at is not None
    assert Vehicle.objects.filter(vin="5YJXCBE20NF000004").exists()
    assert VehicleAccess.objects.filter(gone_at__isnull=True).count() == 4

    services.vehicles_sync(link_id=alice_link.pk)  # it is back
    assert VehicleAccess.objects.get(vehicle__vin="5YJXCBE20NF000004").gone_at is None


def test_an_asleep_car_does_not_fail_the_sync(alice_link, tesla_sandbox):
    tesla_sandbox.control.fault(
        "/api/1/vehicles/fleet_status",
        status=408,
        body={"response": None, "error": "vehicle unavailable: vehicle is offline or asleep"},
        count=1,
    )

    result = services.vehicles_sync(link_id=alice_link.pk)

    assert result.status == "done"
    assert VehicleAccess.objects.get(vehicle__vin="7SAYGDEE9RF000002").state == "asleep"
    assert Vehicle.objects.filter(status_error="vehicle offline or asleep").count() == 5
    assert SyncRun.objects.get(link=alice_link).status == "done"


def test_driver_access_is_marked_and_both_users_see_the_one_car(
    alice_link, other_client, tesla_sandbox
):
    bob_link = linked(other_client, "bob@example.com")

    services.vehicles_sync(link_id=alice_link.pk)
    services.vehicles_sync(link_id=bob_link.pk)

    shared = Vehicle.objects.get(vin="5YJ3E1EB5NF000005")
    assert set(shared.accesses.values_list("link__user__email", "access_type")) == {
        ("owner@example.com", "OWNER"),
        ("other@example.com", "DRIVER"),
    }
    page = other_client.get(f"/vehicles/{shared.pk}/").content.decode()
    assert "driver access" in page
    assert "_ak/" not in page  # no pairing link: a driver cannot add a key


def test_421_reroutes_and_the_link_remembers_the_region(alice_link, tesla_sandbox):
    eu = tesla_sandbox.fleet("eu")
    TeslaLink.objects.filter(pk=alice_link.pk).update(fleet_api_base_url=eu, region="EU")

    result = services.vehicles_sync(link_id=alice_link.pk)

    assert result.status == "done"
    alice_link.refresh_from_db()
    assert alice_link.fleet_api_base_url == tesla_sandbox.fleet("na")
    assert alice_link.region == "NA"
    assert any(r["status"] == 421 for r in tesla_sandbox.control.requests())
    assert Vehicle.objects.count() == 5


def test_429_backs_off_with_retry_after_then_succeeds(alice_link, tesla_sandbox):
    tesla_sandbox.control.fault(
        "/api/1/vehicles",
        status=429,
        body={"response": None, "error": "rate limited"},
        headers={"Retry-After": "7"},
        count=1,
    )

    # Queued without a run, as right after linking: the task makes one and retries with it.
    with mock.patch.object(tasks.vehicles_sync_link, "retry", side_effect=Retry) as retry:
        tasks.vehicles_sync_link.apply(args=[alice_link.pk])

    assert retry.call_args.kwargs["countdown"] == 7
    run = SyncRun.objects.get(link=alice_link)
    assert retry.call_args.kwargs["kwargs"] == {"run_id": run.pk}
    assert run.status == "retrying" and "429" in run.error
    assert Vehicle.objects.count() == 0

    result = tasks.vehicles_sync_link.apply(args=[alice_link.pk], kwargs={"run_id": run.pk})
    assert result.get() == "done"
    run.refresh_from_db()
    assert run.status == "done"
    assert Vehicle.objects.count() == 5


def test_a_sync_that_keeps_failing_gives_up_and_says_so(alice_link, tesla_sandbox):
    tesla_sandbox.control.fault(
        "/api/1/vehicles", status=503, body={"response": None, "error": "upstream"}
    )

    with mock.patch.object(tasks, "_max_retries", return_value=0):
        assert tasks.vehicles_sync_link.apply(args=[alice_link.pk]).get() == "gave_up"

    run = SyncRun.objects.get(link=alice_link)
    assert run.status == "failed" and "503" in run.error


def test_a_broken_link_makes_no_call(alice_link, tesla_sandbox):
    TeslaLink.objects.filter(pk=alice_link.pk).update(health=TeslaLink.Health.NEEDS_RELINK)
    tesla_sandbox.control.clear_requests()

    assert services.vehicles_sync(link_id=alice_link.pk).status == "broken"
    assert tesla_sandbox.control.requests() == []


def test_sweep_queues_one_sync_per_usable_link_once(owner, other_user, staff):
    from vehicles.tests.factories import make_link

    ok, retrying, broken = make_link(owner), make_link(other_user), make_link(staff)
    TeslaLink.objects.filter(pk=retrying.pk).update(health=TeslaLink.Health.RETRYING)
    TeslaLink.objects.filter(pk=broken.pk).update(health=TeslaLink.Health.NEEDS_RELINK)

    assert tasks.vehicles_sync_sweep() == 2
    assert tasks.vehicles_sync_sweep() == 0  # still queued: no second sync on top

    assert set(SyncRun.objects.values_list("link_id", flat=True)) == {ok.pk, retrying.pk}


def test_roster_vin_is_attached_when_a_sync_lists_it(owner_client, tesla_apps, tesla_sandbox):
    vins = tesla_sandbox.control.add_vehicles("nora@example.com", 3)
    services.roster_add(vins=[vins[1], "LRW3E7FS0RC257863"], added_by=None)
    link = linked(owner_client, "nora@example.com")

    services.vehicles_sync(link_id=link.pk)

    attached = RosterEntry.objects.get(vin=vins[1])
    assert attached.vehicle.vin == vins[1]
    assert RosterEntry.objects.get(vin="LRW3E7FS0RC257863").vehicle is None


def test_unlinking_detaches_the_cars_but_keeps_them(alice_link, tesla_sandbox):
    services.vehicles_sync(link_id=alice_link.pk)
    services.roster_add(vins=["5YJ3E1EA7PF000001"], added_by=None)

    link_unlink(link=alice_link)

    assert VehicleAccess.objects.count() == 0
    assert Vehicle.objects.count() == 5
    assert RosterEntry.objects.get(vin="5YJ3E1EA7PF000001").vehicle is not None


def test_a_second_sync_of_a_link_while_one_runs_is_skipped(alice_link, tesla_sandbox):
    from django.utils import timezone

    SyncRun.objects.create(link=alice_link, status="running", started_at=timezone.now())
    queued = SyncRun.objects.create(link=alice_link)
    tesla_sandbox.control.clear_requests()

    assert services.vehicles_sync(link_id=alice_link.pk, run_id=queued.pk).status == "skipped"
    assert tesla_sandbox.control.requests() == []
    queued.refresh_from_db()
    assert queued.status == "done" and "skipped" in queued.error


def test_vin_problems_are_stored_in_english_and_shown_translated(
    alice_link, owner_client, tesla_sandbox
):
    from django.utils import translation

    with translation.override("zh-hans"):
        services.vehicles_sync(link_id=alice_link.pk)
    car = Vehicle.objects.get(vin="5YJ3E1EA7PF000001")  # the sandbox's made-up check digit
    assert car.vin_valid is False
    assert car.vin_problems == [
        "The check digit (9th character) does not match the rest of the VIN."
    ]

    owner_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/vehicles/"})
    assert "校验位" in owner_client.get(f"/vehicles/{car.pk}/").content.decode()


def test_sweep_forgets_finished_runs_older_than_a_week(owner):
    import datetime as dt

    from django.utils import timezone

    from vehicles.tests.factories import make_link

    link = make_link(owner)
    old = SyncRun.objects.create(link=link, status="done")
    SyncRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=8))

    assert tasks.vehicles_sync_sweep() == 1

    assert not SyncRun.objects.filter(pk=old.pk).exists()
    assert SyncRun.objects.get(link=link).status == "queued"
