"""The staff fleet overview, the stream section and Resync on the staff vehicle page, stream
errors and set-aside input in the error inbox, the silence watch and the read-only admin.
Stream rows are written directly, as the consumer writes them."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from telemetry import services, streaming
from telemetry.models import (
    StreamConsumer,
    StreamDrop,
    StreamEvent,
    StreamValue,
    TelemetryAuditEntry,
    TelemetryDeployment,
    TelemetryRun,
    VehicleStream,
)
from telemetry.tests.factories import make_config
from vehicles.models import Vehicle
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


def _synced(car, version, *, hours: float = 2) -> TelemetryDeployment:
    at = timezone.now() - dt.timedelta(hours=hours)
    return TelemetryDeployment.objects.create(
        vehicle=car, version=version, status="synced", pushed_at=at, synced_at=at
    )


def _streaming(car, *, at=None) -> None:
    at = at or timezone.now()
    VehicleStream.objects.update_or_create(
        vehicle=car, defaults={"last_message_at": at, "connectivity": "CONNECTED"}
    )
    for name in ("Soc", "VehicleSpeed"):
        StreamValue.objects.update_or_create(
            vehicle=car, field=name, defaults={"value": 1, "received_at": at}
        )


@pytest.fixture
def fleet(owner):
    """Two configs: "north" has two streaming cars and one silent, "south" one rejected car;
    one car has no config at all."""
    cars = make_vehicles(make_link(owner), 5)
    north = make_config(name="north")
    south = make_config(name="south")
    services.telemetry_config_assign(config=north, vins=[c.vin for c in cars[:3]], user=None)
    services.telemetry_config_assign(config=south, vins=[cars[3].vin], user=None)
    v_north = services.telemetry_version_current(config=north)
    v_south = services.telemetry_version_current(config=south)
    for car in cars[:3]:
        _synced(car, v_north)
    _streaming(cars[0])
    _streaming(cars[1])
    _streaming(cars[2], at=timezone.now() - dt.timedelta(hours=1))
    TelemetryDeployment.objects.create(
        vehicle=cars[3], version=v_south, status="limit_reached", pushed_at=timezone.now()
    )
    return {"cars": cars, "north": north, "south": south}


# --- the overview -------------------------------------------------------------------------


def test_overview_needs_the_telemetry_permission(owner_client, staff_client):
    from django.test import Client

    assert Client().get("/telemetry/overview/").status_code == 302
    assert owner_client.get("/telemetry/overview/").status_code == 403
    assert staff_client.get("/telemetry/overview/").status_code == 403


def _chart(page: str) -> dict[str, int]:
    chart = page.split('id="fleet-chart"', 1)[1].split("</ul>", 1)[0]
    return {
        state: int(count)
        for state, count in re.findall(
            r'data-state="(\w+)">.*?class="count">(\d+)</a>', chart, flags=re.S
        )
    }


def test_overview_counts_the_fleet_per_state_and_per_config(manager_client, fleet):
    page = manager_client.get("/telemetry/overview/").content.decode()
    counts = _chart(page)
    assert counts["streaming"] == 2 and counts["silent"] == 1
    assert counts["rejected"] == 1 and counts["no_config"] == 1
    assert sum(counts.values()) == 5
    per_config = page.split('id="config-chart"', 1)[1].split("</table>", 1)[0]
    north = f"?config={fleet['north'].pk}"
    assert f'href="{north}&amp;state=streaming"' in per_config
    assert "Streaming: 2" in per_config and "Silent: 1" in per_config
    assert "Rejected by the car: 1" in per_config
    # The bars are SVG with attributes, no inline style (the CSP forbids it).
    assert "<rect" in page and "style=" not in page.split("<main", 1)[1]


def test_overview_filters_by_config_and_state_down_to_the_cars(manager_client, fleet):
    north, cars = fleet["north"], fleet["cars"]
    page = manager_client.get(
        f"/telemetry/overview/?config={north.pk}&state=streaming"
    ).content.decode()
    listed = page.split('id="overview-vehicles"', 1)[1].split("</table>", 1)[0]
    assert f'href="/telemetry/vehicles/{cars[0].pk}/"' in listed
    assert f'href="/telemetry/vehicles/{cars[1].pk}/"' in listed
    assert cars[2].vin not in listed and cars[3].vin not in listed
    assert sum(_chart(page).values()) == 3  # the chart follows the config filter

    none = manager_client.get("/telemetry/overview/?config=none").content.decode()
    listed = none.split('id="overview-vehicles"', 1)[1].split("</table>", 1)[0]
    assert cars[4].vin in listed and cars[0].vin not in listed


def test_overview_refuses_forged_filters(manager_client, fleet):
    assert manager_client.get("/telemetry/overview/?state=bogus").status_code == 400
    assert manager_client.get("/telemetry/overview/?config=x1").status_code == 400


def test_overview_lists_in_pages(manager_client, owner):
    make_vehicles(make_link(owner), 55)
    first = manager_client.get("/telemetry/overview/?state=no_config").content.decode()
    assert first.count("<tr data-state=") == 50 and "Page 1 of 2" in first
    assert 'href="?state=no_config&amp;page=2#vehicles"' in first
    second = manager_client.get("/telemetry/overview/?state=no_config&page=2").content.decode()
    assert second.count("<tr data-state=") == 5


def test_overview_is_in_the_staff_navigation_and_in_chinese(manager_client, fleet):
    # The dashboard, not /telemetry/ (whose own button links the overview too): the link
    # must come from the staff menu of the navigation.
    page = manager_client.get("/dashboard/").content.decode()
    nav = page.split("<nav", 1)[1].split("</nav>", 1)[0]
    assert '<a href="/telemetry/overview/">Telemetry overview</a>' in nav
    manager_client.cookies["django_language"] = "zh-hans"
    chinese = manager_client.get("/telemetry/overview/", headers={"accept-language": "zh-hans"})
    assert chinese.status_code == 200
    assert "<h1>遥测总览</h1>" in chinese.content.decode()


def test_overview_shows_the_stream_consumers(manager_client, fleet):
    StreamConsumer.objects.create(
        client_id="fleet-portal-stream", connected=True, heartbeat_at=timezone.now(), messages=42
    )
    page = manager_client.get("/telemetry/overview/").content.decode()
    assert "fleet-portal-stream" in page and "<td>42</td>" in page


# --- the staff vehicle page and Resync -------------------------------------------------------


def test_vehicle_page_shows_the_stream_state_action_and_missing_fields(manager_client, fleet):
    car = fleet["cars"][0]
    StreamValue.objects.filter(vehicle=car, field="VehicleSpeed").delete()
    StreamEvent.objects.create(
        vehicle=car,
        kind="error",
        name="unsupported_field",
        body="cannot stream VehicleSpeed",
        tags={"field": "VehicleSpeed"},
        received_at=timezone.now(),
    )
    page = manager_client.get(f"/telemetry/vehicles/{car.pk}/").content.decode()
    section = page.split('id="stream-state"', 1)[1].split("</section>", 1)[0]
    assert 'data-state="field_missing"' in page
    assert "Field missing" in section and "Update the car&#x27;s software" in section
    assert "<code>VehicleSpeed</code>" in section and "cannot stream VehicleSpeed" in section
    assert f'action="/telemetry/vehicles/{car.pk}/resync/"' in section


def test_the_owner_sees_no_stream_section_nor_resync(owner_client, fleet):
    car = fleet["cars"][0]
    response = owner_client.get(f"/telemetry/vehicles/{car.pk}/")
    page = response.content.decode()
    assert response.status_code == 200 and car.vin in page  # the owner does see the car's page
    assert 'id="stream-state"' not in page and "/resync/" not in page


def test_resync_needs_the_permission_and_a_post(owner_client, staff_client, manager_client, fleet):
    car = fleet["cars"][0]
    url = f"/telemetry/vehicles/{car.pk}/resync/"
    assert owner_client.post(url).status_code == 403
    assert staff_client.post(url).status_code == 403
    assert manager_client.get(url).status_code == 405
    assert TelemetryRun.objects.count() == 0


def test_resync_re_posts_the_config_to_that_one_car_and_records_it(
    manager_client, manager, fleet, django_capture_on_commit_callbacks
):
    car, north = fleet["cars"][0], fleet["north"]
    with (
        mock.patch("telemetry.tasks.telemetry_push.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = manager_client.post(f"/telemetry/vehicles/{car.pk}/resync/", follow=True)
    run = TelemetryRun.objects.get()
    delay.assert_called_once_with(run.pk)
    assert (run.config, run.total, run.kind) == (north, 1, "push")
    assert list(run.deployments.values_list("vehicle_id", "status")) == [(car.pk, "pending")]
    # The other cars of the config are left as they were.
    others = TelemetryDeployment.objects.filter(vehicle__in=fleet["cars"][1:3])
    assert set(others.values_list("status", flat=True)) == {"synced"}
    entry = TelemetryAuditEntry.objects.filter(action="pushed").get()
    assert entry.vins == [car.vin] and entry.actor == manager
    assert entry.outcome == services.stream_watch.RESYNC_OUTCOME
    assert "Resync queued: version 1 of north" in response.content.decode()


def test_a_second_resync_while_the_first_runs_changes_nothing_and_says_why(
    manager_client, fleet, django_capture_on_commit_callbacks
):
    car = fleet["cars"][0]
    with (
        mock.patch("telemetry.tasks.telemetry_push.delay"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        manager_client.post(f"/telemetry/vehicles/{car.pk}/resync/")
        response = manager_client.post(f"/telemetry/vehicles/{car.pk}/resync/", follow=True)
    assert TelemetryRun.objects.count() == 1
    assert "is under way" in response.content.decode()


def test_resync_of_a_car_without_config_or_owner_link_says_there_is_nothing_to_do(
    manager_client, fleet, owner
):
    bare = fleet["cars"][4]
    response = manager_client.post(f"/telemetry/vehicles/{bare.pk}/resync/", follow=True)
    assert "nothing to resync" in response.content.decode()
    # A car whose owner link is gone: Tesla would refuse the push, so none is made.
    car = fleet["cars"][0]
    car.accesses.update(gone_at=timezone.now())
    response = manager_client.post(f"/telemetry/vehicles/{car.pk}/resync/", follow=True)
    assert "No linked owner account lists this vehicle" in response.content.decode()
    assert TelemetryRun.objects.count() == 0


def test_resync_through_the_sandbox_updates_the_one_car(alice, manager, tesla_sandbox, portal_key):
    from telemetry.tests.helpers import GOOD, SHARED, run_inline

    config = make_config(hostname="127.0.0.1")
    services.telemetry_config_assign(config=config, vins=[GOOD, SHARED], user=manager)
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    tesla_sandbox.control.pair(SHARED, portal_key.domain)
    run_inline(services.telemetry_push_start(config=config, user=manager))
    tesla_sandbox.control.clear_requests()

    good = Vehicle.objects.get(vin=GOOD)
    run = run_inline(services.telemetry_vehicle_resync(vehicle=good, user=manager))

    assert (run.status, run.total) == ("done", 1)
    assert list(run.deployments.values_list("vehicle__vin", "status")) == [(GOOD, "updated")]
    calls = tesla_sandbox.control.requests(path="/fleet_telemetry_config_jws")
    assert [(c["method"], c["status"]) for c in calls] == [("POST", 200)]


# --- the error inbox ------------------------------------------------------------------------


def test_error_inbox_shows_stream_errors_alerts_and_set_aside_input(manager_client, fleet):
    car = fleet["cars"][0]
    now = timezone.now()
    StreamEvent.objects.create(
        vehicle=car,
        kind="error",
        name="unsupported_field",
        body="field not supported",
        tags={"field": "VehicleSpeed"},
        received_at=now,
    )
    StreamEvent.objects.create(
        vehicle=car,
        kind="alert",
        name="BMS_a066_SW_Over_Current",
        audiences=["Service"],
        received_at=now,
    )
    today = now.astimezone(dt.UTC).date()
    StreamDrop.objects.create(
        kind="unknown_vin", day=today, count=7, last_topic="telemetry/XX/v/Soc", last_seen_at=now
    )
    StreamDrop.objects.create(kind="unknown_vin", day=today - dt.timedelta(days=2), count=3)
    StreamDrop.objects.create(kind="malformed", day=today - dt.timedelta(days=30), count=99)
    with mock.patch.object(services, "telemetry_partner_errors", return_value=[]):
        page = manager_client.get("/telemetry/errors/").content.decode()
    events = page.split('id="stream-events"', 1)[1].split("</table>", 1)[0]
    assert "unsupported_field" in events and "BMS_a066_SW_Over_Current" in events
    assert "cannot send this field: update the car&#x27;s software" in events
    assert f'href="/telemetry/vehicles/{car.pk}/"' in events and "field=VehicleSpeed" in events
    drops = page.split('id="stream-drops"', 1)[1].split("</table>", 1)[0]
    assert re.search(r"VIN the portal does not know</td><td>7</td><td>10</td>", drops)
    assert "telemetry/XX/v/Soc" in drops
    assert "malformed" not in drops  # older than the period shown


# --- the silence watch ----------------------------------------------------------------------


@pytest.fixture
def recipients(staff_with, staff):
    """Two managers to tell; plain staff and non-staff users are not told."""
    staff_with("telemetry.manage_telemetry", email="m1@example.com")
    staff_with("telemetry.manage_telemetry", email="m2@example.com")
    return ["m1@example.com", "m2@example.com"]


def test_the_watch_is_on_the_beat_schedule():
    tasks = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "telemetry.tasks.telemetry_stream_watch" in tasks


def test_staff_are_told_once_per_incident_and_again_after_data_returned(fleet, recipients):
    silent = fleet["cars"][2]
    assert services.telemetry_stream_watch() == 1
    (message,) = mail.outbox
    assert sorted(message.to) == recipients
    assert silent.vin in message.body and f"/telemetry/vehicles/{silent.pk}/" in message.body
    assert "1 vehicle went silent" in message.subject
    assert fleet["cars"][0].vin not in message.body  # streaming cars are not reported

    # Same incident: told once.
    assert services.telemetry_stream_watch() == 0 and len(mail.outbox) == 1

    # Data comes back (the consumer moves last_message_at): the incident ends...
    VehicleStream.objects.filter(vehicle=silent).update(last_message_at=timezone.now())
    assert services.telemetry_stream_watch() == 0
    assert VehicleStream.objects.get(vehicle=silent).silent_notified_at is None
    # ...and a new silence is a new incident.
    later = timezone.now() + dt.timedelta(hours=1)
    assert services.telemetry_stream_watch(now=later) == 3
    assert len(mail.outbox) == 2


def test_offline_cars_and_cars_that_never_streamed_are_not_reported(fleet, recipients):
    silent = fleet["cars"][2]
    VehicleStream.objects.filter(vehicle=silent).update(
        connectivity="DISCONNECTED", connectivity_at=timezone.now()
    )
    assert services.telemetry_stream_watch() == 0 and mail.outbox == []


def test_a_failed_email_leaves_the_incident_to_tell_next_time(fleet, recipients):
    with (
        mock.patch("fleetportal.mail.send_mail", side_effect=ConnectionRefusedError),
        pytest.raises(ConnectionRefusedError),
    ):
        services.telemetry_stream_watch()
    assert VehicleStream.objects.filter(silent_notified_at__isnull=False).count() == 0
    assert services.telemetry_stream_watch() == 1


def test_the_beat_task_runs_the_watch(fleet, recipients):
    from telemetry.tasks import telemetry_stream_watch

    assert telemetry_stream_watch.apply().get() == 1 and len(mail.outbox) == 1


def test_managers_are_staff_holding_the_permission_and_superusers(
    recipients, staff, staff_with, db
):
    from accounts.tests.factories import UserFactory

    UserFactory(email="root@example.com", is_superuser=True, is_staff=True)
    UserFactory(email="gone@example.com", is_staff=True, is_superuser=True, is_active=False)
    emails = [u.email for u in services.stream_watch.telemetry_managers()]
    assert emails == ["m1@example.com", "m2@example.com", "root@example.com"]


# --- admin ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "streamvalue",
        "streampoint",
        "vehiclestream",
        "streamsignalday",
        "streamdrop",
        "streamevent",
        "streamconsumer",
    ],
)
def test_stream_models_are_read_only_in_admin(manager_client, manager, fleet, model, rf):
    from django.apps import apps
    from django.contrib import admin

    listing = manager_client.get(f"/admin/telemetry/{model}/")
    assert listing.status_code == 200
    assert manager_client.get(f"/admin/telemetry/{model}/add/").status_code == 403
    # Read-only is also no change and no delete (not only no add).
    request = rf.get("/")
    request.user = manager
    model_admin = admin.site._registry[apps.get_model("telemetry", model)]
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_a_vehicle_stream_in_admin_shows_no_save_button(manager_client, fleet):
    stream = VehicleStream.objects.first()
    page = manager_client.get(f"/admin/telemetry/vehiclestream/{stream.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()


def test_the_overview_counts_match_the_selector(manager_client, fleet):
    counts = streaming.count_states(streaming.stream_states())
    page = manager_client.get("/telemetry/overview/").content.decode()
    assert {k: v for k, v in _chart(page).items() if v} == counts


def test_the_silence_email_is_plain_text_names_as_they_are(fleet, recipients):
    """A text email: a config named with & or < reads as typed, not as HTML entities."""
    fleet["north"].name = "Fleet & Co's <north>"
    fleet["north"].save(update_fields=["name"])
    assert services.telemetry_stream_watch() == 1
    (message,) = mail.outbox
    assert "(Fleet & Co's <north>)" in message.body
    assert "&amp;" not in message.body and "&lt;" not in message.body


def test_a_push_started_after_resyncs_first_check_is_not_replaced_by_the_resync(
    manager, fleet, django_capture_on_commit_callbacks
):
    """The race of two clicks (or a fleet-wide push) landing between resync's early check and
    its run: the check is made again under the config's lock, and the resync refuses."""
    car, north = fleet["cars"][0], fleet["north"]
    real_start = services.push.telemetry_push_start

    def a_push_lands_first(**kwargs):
        real_start(config=north, user=manager)  # the other click wins the lock
        return real_start(**kwargs)

    with (
        mock.patch("telemetry.tasks.telemetry_push.delay"),
        django_capture_on_commit_callbacks(execute=True),
        mock.patch.object(services.push, "telemetry_push_start", a_push_lands_first),
        pytest.raises(services.stream_watch.NothingToResync, match="is under way"),
    ):
        services.telemetry_vehicle_resync(vehicle=car, user=manager)
    run = TelemetryRun.objects.get()
    assert run.status == "queued" and run.total == 3


def test_a_resync_with_the_broker_down_says_so_and_changes_nothing(manager_client, fleet):
    from fleetportal.tests.queue_helpers import broker_down

    car = fleet["cars"][0]
    before = list(TelemetryDeployment.objects.order_by("pk").values_list("pk", "status"))
    with broker_down():
        response = manager_client.post(f"/telemetry/vehicles/{car.pk}/resync/", follow=True)
    assert "The task queue is not answering, so nothing was queued." in response.content.decode()
    assert not TelemetryRun.objects.exists()
    assert list(TelemetryDeployment.objects.order_by("pk").values_list("pk", "status")) == before


def test_resync_of_a_car_that_does_not_exist_is_404(manager_client):
    assert manager_client.post("/telemetry/vehicles/999999/resync/").status_code == 404
    assert not TelemetryRun.objects.exists()
