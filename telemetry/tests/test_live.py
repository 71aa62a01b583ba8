"""The owner's live page and its JSON: who may see a car's data, and how it reads."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.utils import timezone

from telemetry import catalogue, live
from telemetry.models import (
    StreamEvent,
    StreamPoint,
    StreamValue,
    TelemetryConfig,
    VehicleStream,
)
from telemetry.tests.test_views import builder_post
from vehicles.models import VehicleAccess
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


@pytest.fixture
def car(owner):
    """The owner's car, theirs since two days ago (the page shows only data from then on)."""
    vehicle = make_vehicles(make_link(owner), 1)[0]
    VehicleAccess.objects.filter(vehicle=vehicle).update(
        first_seen_at=timezone.now() - dt.timedelta(days=2)
    )
    return vehicle


def page_url(vehicle) -> str:
    return f"/telemetry/vehicles/{vehicle.pk}/live/"


def data_url(vehicle) -> str:
    return f"/telemetry/vehicles/{vehicle.pk}/live/data/"


def stream(vehicle, values: dict, *, at: dt.datetime | None = None) -> None:
    """What the consumer writes for one flush: the latest value per field."""
    at = at or timezone.now()
    for field, value in values.items():
        StreamValue.objects.update_or_create(
            vehicle=vehicle, field=field, defaults={"value": value, "received_at": at}
        )


def history(vehicle, field: str, values: list, *, end: dt.datetime | None = None) -> None:
    end = (end or timezone.now()).replace(second=0, microsecond=0)
    StreamPoint.objects.bulk_create(
        StreamPoint(vehicle=vehicle, field=field, at=end - dt.timedelta(minutes=n), value=v)
        for n, v in enumerate(reversed(values))
    )


def text(html: str) -> str:
    """The page's words, tags and runs of spaces removed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


CAR_VALUES = {
    "Soc": 78.4,
    "EstBatteryRange": 200.0,
    "DetailedChargeState": "DetailedChargeStateCharging",
    "ACChargingPower": "7.2",  # a number sent as a string (§10.2)
    "Location": {"latitude": 37.4925352, "longitude": -121.9447469},
    "Odometer": 12345.6,
    "Locked": True,
    "Version": "2025.20.6 abc123",
    "Gear": "ShiftStateD",
    "ChargerPhases": 3,
}


# --- who may see it -------------------------------------------------------------------------


def test_the_owner_sees_their_cars_values_worded(owner_client, car):
    stream(car, CAR_VALUES)
    response = owner_client.get(page_url(car))
    assert response.status_code == 200
    words = text(response.content.decode())
    for expected in (
        "78 %",
        "200 mi (322 km)",
        "Charging",
        "7.2 kW",
        "37.49254, -121.94475",
        "12,346 mi (19,868 km)",
        "Locked",
        "2025.20.6 abc123",
        "Drive",
        "ChargerPhases",  # not worded: listed in the plain table
    ):
        assert expected in words, expected
    assert "DetailedChargeStateCharging" not in words
    html = response.content.decode()
    assert "https://www.openstreetmap.org/?mlat=37.492535&amp;mlon=-121.944747" in html
    assert f'data-url="/telemetry/vehicles/{car.pk}/live/data/"' in html
    assert "<script>" not in html and "style=" not in html


@pytest.mark.parametrize("url", [page_url, data_url])
def test_another_user_gets_404(client, other_user, car, url):
    stream(car, CAR_VALUES)
    client.force_login(other_user)
    assert client.get(url(car)).status_code == 404


@pytest.mark.parametrize("url", [page_url, data_url])
def test_a_former_owner_gets_404(owner_client, car, url):
    stream(car, CAR_VALUES)
    VehicleAccess.objects.filter(vehicle=car).update(gone_at=timezone.now())
    assert owner_client.get(url(car)).status_code == 404


@pytest.mark.parametrize("url", [page_url, data_url])
def test_staff_without_an_access_of_their_own_get_404_even_with_the_telemetry_permission(
    client, staff, manager, car, url
):
    """A car's location is personal: the staff pages show its streaming state, never this."""
    stream(car, CAR_VALUES)
    for user in (staff, manager):
        client.force_login(user)
        assert client.get(url(car)).status_code == 404


def test_staff_who_own_the_car_see_it_like_any_owner(client, staff):
    car = make_vehicles(make_link(staff), 1)[0]
    stream(car, {"Soc": 50})
    client.force_login(staff)
    response = client.get(page_url(car))
    assert response.status_code == 200
    assert "50 %" in text(response.content.decode())
    data = client.get(data_url(car)).json()
    assert [(v["field"], v["value"]) for v in data["values"]] == [("Soc", 50)]


def test_anonymous_visitors_are_sent_to_sign_in(client, car):
    response = client.get(data_url(car))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_new_owner_sees_nothing_streamed_before_their_access_began(client, other_user, car):
    """The car was sold: the previous owner's data (where they drove) is not the buyer's."""
    sold_at = timezone.now() - dt.timedelta(hours=1)
    stream(car, {"Location": CAR_VALUES["Location"], "Soc": 40}, at=sold_at - dt.timedelta(1))
    history(car, "Soc", [38, 39, 40], end=sold_at - dt.timedelta(minutes=5))
    VehicleAccess.objects.filter(vehicle=car).update(gone_at=sold_at)
    buyer_link = make_link(other_user)
    VehicleAccess.objects.create(
        link=buyer_link, vehicle=car, tesla_id="9", display_name="Mine now", last_seen_at=sold_at
    )
    VehicleAccess.objects.filter(link=buyer_link).update(first_seen_at=sold_at)
    client.force_login(other_user)
    data = client.get(data_url(car)).json()
    assert data["values"] == [] and data["charts"] == []
    stream(car, {"Soc": 41})
    data = client.get(data_url(car)).json()
    assert [(v["field"], v["value"]) for v in data["values"]] == [("Soc", 41)]


def test_an_owner_whose_car_comes_back_sees_nothing_of_the_other_owners_time(
    owner_client, other_user, car
):
    """Sold, then back on the first owner's account (the sync clears gone_at and keeps the
    access's first_seen_at): where the other owner drove meanwhile is not the first's."""
    sold_at = timezone.now() - dt.timedelta(hours=3)
    back_at = timezone.now() - dt.timedelta(hours=1)
    VehicleAccess.objects.filter(vehicle=car).update(gone_at=sold_at)
    buyer = VehicleAccess.objects.create(
        link=make_link(other_user), vehicle=car, tesla_id="9", last_seen_at=sold_at
    )
    VehicleAccess.objects.filter(pk=buyer.pk).update(first_seen_at=sold_at)
    stream(car, {"Location": CAR_VALUES["Location"]}, at=back_at - dt.timedelta(minutes=30))
    history(car, "Soc", [50, 49], end=back_at - dt.timedelta(minutes=10))
    # The car moves back: the buyer's access ends, the first owner's is current again.
    VehicleAccess.objects.filter(pk=buyer.pk).update(gone_at=back_at)
    VehicleAccess.objects.filter(vehicle=car).exclude(pk=buyer.pk).update(gone_at=None)
    data = owner_client.get(data_url(car)).json()
    assert data["values"] == [] and data["charts"] == []
    assert "37.49" not in owner_client.get(page_url(car)).content.decode()
    stream(car, {"Soc": 61})
    data = owner_client.get(data_url(car)).json()
    assert [(v["field"], v["value"]) for v in data["values"]] == [("Soc", 61)]


# --- the JSON the page polls ----------------------------------------------------------------


def test_the_json_carries_worded_values_and_charts_and_is_never_cached(owner_client, car):
    stream(car, CAR_VALUES)
    history(car, "Soc", [70, 72.5, 75, 78.4])
    history(
        car,
        "DetailedChargeState",
        ["DetailedChargeStateStarting"] * 2 + ["DetailedChargeStateCharging"],
    )
    history(car, "Location", [CAR_VALUES["Location"]] * 2)
    response = owner_client.get(data_url(car))
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] and "max-age=0" in response["Cache-Control"]
    data = response.json()
    values = {v["field"]: v for v in data["values"]}
    assert values["Soc"]["text"] == "78 %"
    assert values["Soc"]["value"] == 78.4
    assert values["Location"]["map_url"].startswith("https://www.openstreetmap.org/?mlat=")
    assert values["Locked"]["text"] == "Locked"
    assert data["last_seen"] is not None and "ago" in data["last_seen_text"]
    charts = {c["field"]: c for c in data["charts"]}
    # Locations have no chart; numbers draw a line, states draw steps.
    assert set(charts) == {"Soc", "DetailedChargeState"}
    soc = charts["Soc"]
    assert soc["kind"] == "line" and len(soc["points"]) == 4
    assert len(soc["polyline"].split()) == 4
    assert (soc["low"], soc["high"]) == ("70 %", "78 %")
    # The newest, highest point is at the right edge, at the top of the box.
    assert (
        soc["polyline"].split()[-1] == f"{live.CHART_WIDTH - live.CHART_PAD}.0,{live.CHART_PAD}.0"
    )
    state = charts["DetailedChargeState"]
    assert state["kind"] == "step" and {state["low"], state["high"]} == {"Starting", "Charging"}


def test_values_that_change_show_in_the_next_poll(owner_client, car):
    stream(car, {"Soc": 50})
    assert owner_client.get(data_url(car)).json()["values"][0]["text"] == "50 %"
    stream(car, {"Soc": 51, "Odometer": 10})
    texts = {v["field"]: v["text"] for v in owner_client.get(data_url(car)).json()["values"]}
    assert texts == {"Soc": "51 %", "Odometer": "10 mi (16 km)"}


def test_a_car_with_no_data_yet_says_so(owner_client, car):
    html = owner_client.get(page_url(car)).content.decode()
    assert "No data has arrived from this car yet." in html
    assert owner_client.get(data_url(car)).json()["values"] == []


def test_the_connection_shows_when_the_stream_knows_it(owner_client, car):
    VehicleStream.objects.create(
        vehicle=car, connectivity="CONNECTED", connectivity_at=timezone.now()
    )
    assert owner_client.get(data_url(car)).json()["connection"] == "Connected"


# --- the words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("Soc", None, "Not available"),
        ("VehicleSpeed", "62.1", "62 mph (100 km/h)"),
        ("TimeToFullCharge", 1.5, "1 h 30 min"),
        ("InsideTemp", 21.46, "21.5 °C"),
        ("Locked", False, "Unlocked"),
        ("FastChargerPresent", True, "Yes"),
        ("DoorState", {"DriverFront": True, "TrunkRear": False}, "Open: driver front"),
        ("DoorState", {"DriverFront": False}, "All closed"),
        ("SentryMode", "SentryModeStateArmed", "Armed"),
        ("ChargeState", "ChargeStateNoPower", "Plugged in, no power"),
        ("Location", {"latitude": 999, "longitude": 0}, "Not available"),
        ("HvacPower", "HvacPowerStateOn", "Hvac Power State On"),
        ("Version", 2025, "2025"),
        ("Gear", 4, "4"),
        ("Soc", "NaN", "Na N"),
        ("Odometer", "inf", "inf"),
    ],
)
def test_values_read_as_people_say_them(field, value, expected):
    assert live.value_text(field, value) == expected


def test_every_worded_field_is_in_teslas_catalogue():
    assert set(live.FIELDS) <= catalogue.signal_names()


def test_the_page_reads_in_chinese(owner_client, car):
    stream(car, {"Soc": 78.4, "Locked": True, "DetailedChargeState": "DetailedChargeStateCharging"})
    owner_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    html = owner_client.get(page_url(car)).content.decode()
    assert '<html lang="zh-hans">' in html
    for expected in ("实时数据", "电池和续航", "已锁定", "充电中"):
        assert expected in html, expected


# --- the vehicle page links here ------------------------------------------------------------


def test_the_vehicle_page_links_to_its_live_data_with_the_battery(owner_client, car):
    html = owner_client.get(f"/vehicles/{car.pk}/").content.decode()
    assert f'href="/telemetry/vehicles/{car.pk}/live/"' in html
    assert "Battery:" not in html
    stream(car, {"BatteryLevel": 64.2, "Odometer": 5})
    words = text(owner_client.get(f"/vehicles/{car.pk}/").content.decode())
    assert "Battery: 64 %" in words and "Last data from the car:" in words


# --- keep history: builder, admin, and never in what the car receives -----------------------


def test_keep_history_round_trips_through_the_builder_without_changing_the_car_config(
    manager_client, partner_domain
):
    created = builder_post(**{"fields-0-keep_history": "on"})
    manager_client.post("/telemetry/new/", created)
    config = TelemetryConfig.objects.get()
    fields = {f.name: f for f in config.fields.all()}
    assert fields["Soc"].keep_history is True
    assert fields["ChargerVoltage"].keep_history is False
    version = config.versions.get()
    assert "keep_history" not in str(version.payload)
    edit_page = manager_client.get(f"/telemetry/{config.pk}/edit/").content.decode()
    soc_row = fields["Soc"]
    assert re.search(r'name="fields-\d-keep_history"[^>]*checked', edit_page)

    rows = list(config.fields.order_by("name"))  # ChargerVoltage, Soc
    edit = builder_post(
        **{
            # The same exp: builder_post's own is "now + 30 days" to the minute, so a minute
            # boundary between the two posts made a new version (seen once on CI).
            "exp": created["exp"],
            "fields-INITIAL_FORMS": "2",
            "fields-0-id": str(rows[0].pk),
            "fields-0-name": "ChargerVoltage",
            "fields-0-interval_seconds": "1",
            "fields-0-minimum_delta": "5",
            "fields-0-keep_history": "on",
            "fields-1-id": str(rows[1].pk),
            "fields-1-name": "Soc",
            "fields-1-interval_seconds": "60",
        }
    )
    edit.pop("fields-1-minimum_delta")
    response = manager_client.post(f"/telemetry/{config.pk}/edit/", edit)
    assert response.status_code == 302
    fields = {f.name: f.keep_history for f in config.fields.all()}
    assert fields == {"ChargerVoltage": True, "Soc": False}
    # Only the portal's own choice changed: the car's config, and its version, did not.
    assert list(config.versions.values_list("number", "content_hash")) == [
        (1, version.content_hash)
    ]
    assert soc_row.pk == rows[1].pk


def test_a_new_config_keeps_history_of_the_usual_picks_by_default(manager_client, partner_domain):
    html = manager_client.get("/telemetry/new/").content.decode()
    checked = re.findall(r'name="fields-(\d+)-keep_history"[^>]*checked', html)
    names = dict(re.findall(r'name="fields-(\d+)-name"[^>]*value="(\w+)"', html))
    assert {names[i] for i in checked} == set(catalogue.DEFAULT_HISTORY)


# --- retention ------------------------------------------------------------------------------


def test_the_purge_deletes_history_past_retention_in_batches_and_keeps_the_rest(car, settings):
    from telemetry import services

    settings.TELEMETRY_HISTORY_RETENTION_DAYS = 30
    now = timezone.now()
    old = now - dt.timedelta(days=30, minutes=1)
    StreamPoint.objects.bulk_create(
        StreamPoint(vehicle=car, field="Soc", at=old - dt.timedelta(minutes=n), value=n)
        for n in range(7)
    )
    StreamPoint.objects.create(vehicle=car, field="Soc", at=now - dt.timedelta(days=29), value=1)
    stream(car, {"Soc": 1}, at=old)  # the latest value is not history: it stays
    assert services.telemetry_history_purge(now=now, batch=3) == 7
    assert list(StreamPoint.objects.values_list("value", flat=True)) == [1]
    assert StreamValue.objects.filter(vehicle=car).count() == 1
    assert services.telemetry_history_purge(now=now) == 0


def test_the_purge_task_runs_on_the_beat_schedule(car):
    from telemetry import tasks

    StreamPoint.objects.create(
        vehicle=car, field="Soc", at=timezone.now() - dt.timedelta(400), value=1
    )
    entries = {e["task"]: e for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "telemetry.tasks.telemetry_history_purge" in entries
    assert tasks.telemetry_history_purge.apply().get() == 1
    assert not StreamPoint.objects.exists()


def test_a_chart_leaves_out_invalid_values_and_odd_numbers_never_reach_the_json():
    start = timezone.now() - dt.timedelta(minutes=10)
    points = [(start + dt.timedelta(minutes=n), v) for n, v in enumerate([60, None, 62])]
    drawn = live.chart("Soc", points)
    assert drawn["kind"] == "line" and len(drawn["polyline"].split()) == 2
    assert (drawn["low"], drawn["high"]) == ("60 %", "62 %")
    assert live.chart("Soc", [(start, None)]) is None
    assert live.chart("Location", [(start, CAR_VALUES["Location"])]) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Soc", 10**400),  # JSON allows any integer; float() of it overflows
        ("Odometer", -(10**400)),
        ("Location", {"latitude": 10**400, "longitude": 1}),
        ("TimeToFullCharge", 1e308),  # finite, but not once turned into minutes
        ("ChargerPhases", 10**400),
    ],
)
def test_numbers_too_big_for_a_float_never_break_the_pages(owner_client, car, field, value):
    stream(car, {field: value})
    history(car, field, [value, 1])
    assert owner_client.get(data_url(car)).status_code == 200
    assert owner_client.get(page_url(car)).status_code == 200
    assert owner_client.get(f"/vehicles/{car.pk}/").status_code == 200


def test_a_chart_of_numbers_at_the_ends_of_the_float_range_is_drawn():
    start = timezone.now() - dt.timedelta(minutes=10)
    drawn = live.chart("Soc", [(start, -1e308), (start + dt.timedelta(minutes=1), 1e308)])
    assert "nan" not in drawn["polyline"]
    assert drawn["polyline"] == "4.0,96.0 296.0,4.0"


def test_the_purge_also_deletes_stream_errors_and_alerts_past_retention(car, settings):
    from telemetry import services

    settings.TELEMETRY_HISTORY_RETENTION_DAYS = 30
    now = timezone.now()
    for days, name in ((31, "old"), (40, "older"), (29, "recent")):
        StreamEvent.objects.create(
            vehicle=car,
            kind=StreamEvent.Kind.ERROR,
            name=name,
            received_at=now - dt.timedelta(days),
        )
    assert services.telemetry_history_purge(now=now, batch=1) == 2
    assert list(StreamEvent.objects.values_list("name", flat=True)) == ["recent"]
