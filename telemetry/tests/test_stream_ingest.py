"""The ingest against the database: coalescing, counters, drops, events, one transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from telemetry.models import (
    StreamDrop,
    StreamEvent,
    StreamPoint,
    StreamSignalDay,
    StreamValue,
    TelemetryAssignment,
    VehicleStream,
)
from telemetry.stream.ingest import Ingest
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

BASE = "tele"
T0 = dt.datetime(2026, 11, 30, 10, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def cars(db):
    link = make_link(UserFactory(email="streamer@example.com"))
    return make_vehicles(link, 3)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def field(vin: str, name: str) -> str:
    return f"{BASE}/{vin}/v/{name}"


def drops() -> dict[str, int]:
    return {row.kind: row.count for row in StreamDrop.objects.all()}


def test_a_burst_becomes_one_row_per_vehicle_and_field(cars, django_assert_max_num_queries):
    ingest = Ingest(BASE)
    ingest.refresh()
    for n in range(500):
        for car in cars:
            ingest.add(field(car.vin, "Soc"), str(50 + n / 10).encode(), at(n))
            ingest.add(field(car.vin, "VehicleSpeed"), b'"12.5"', at(n))
    assert StreamValue.objects.count() == 0  # nothing written before the flush
    # Values, streams, signals: a fixed number of statements whatever the burst held.
    with django_assert_max_num_queries(8):
        assert ingest.flush() == 3000
    values = {(v.vehicle_id, v.field): v for v in StreamValue.objects.all()}
    assert len(values) == 6
    soc = values[(cars[0].id, "Soc")]
    assert soc.value == pytest.approx(99.9)
    assert soc.received_at == at(499)
    assert values[(cars[1].id, "VehicleSpeed")].value == 12.5
    assert {row.signals for row in StreamSignalDay.objects.all()} == {1000}
    stream = VehicleStream.objects.get(vehicle=cars[2])
    assert (stream.first_message_at, stream.last_message_at) == (at(0), at(499))
    assert ingest.flush() == 0  # nothing pending


def test_counters_add_up_over_flushes_and_days(cars):
    ingest = Ingest(BASE)
    car = cars[0]
    for _ in range(3):
        ingest.add(field(car.vin, "Soc"), b"50", at(0))
    ingest.flush()
    ingest.add(field(car.vin, "Soc"), b"49", at(60))
    ingest.add(field(car.vin, "Soc"), b"48", at(24 * 3600))
    ingest.add(f"{BASE}/NOTAVIN0000000000/v/Soc", b"1", at(5))
    ingest.flush()
    ingest.add(f"{BASE}/NOTAVIN0000000000/v/Soc", b"1", at(6))
    ingest.flush()
    days = dict(StreamSignalDay.objects.values_list("day", "signals"))
    assert days == {T0.date(): 4, T0.date() + dt.timedelta(days=1): 1}
    drop = StreamDrop.objects.get(kind=StreamDrop.Kind.UNKNOWN_VIN)
    assert drop.count == 2
    assert drop.last_topic == f"{BASE}/NOTAVIN0000000000/v/Soc"
    assert drop.last_seen_at == at(6)
    stream = VehicleStream.objects.get(vehicle=car)
    assert (stream.first_message_at, stream.last_message_at) == (at(0), at(24 * 3600))


def test_bad_input_is_counted_per_kind_and_never_crashes(cars, settings):
    car = cars[0]
    ingest = Ingest(BASE, max_payload=100)
    ingest.add(field(car.vin, "Soc"), b"{not json", at(0))
    ingest.add(field(car.vin, "Soc"), b'"' + b"x" * 200 + b'"', at(1))
    ingest.add(field(car.vin, "NoSuchField"), b"7", at(2))
    ingest.add(f"{BASE}/{car.vin}/q/Soc", b"7", at(3))
    ingest.add(f"elsewhere/{car.vin}/v/Soc", b"7", at(3))
    ingest.add(f"{BASE}/{car.vin}/connectivity", b'{"Status": "SIDEWAYS"}', at(4))
    ingest.add(field("UNKNOWNVIN0000000", "Soc"), b"7", at(5))
    ingest.add(field(car.vin, "VehicleSpeed"), b"12.5", at(6))
    ingest.add(field(car.vin, "VehicleSpeed"), b'"13.5"', at(7))
    ingest.add(field(car.vin, "VehicleSpeed"), b"null", at(8))  # invalid: not a type change
    ingest.add(field(car.vin, "VehicleSpeed"), b'"14"', at(9))
    assert ingest.flush() == 11
    assert drops() == {
        "malformed": 2,
        "oversized": 1,
        "unknown_field": 1,
        "bad_topic": 2,
        "unknown_vin": 1,
        "type_changed": 1,
    }
    values = dict(StreamValue.objects.filter(vehicle=car).values_list("field", "value"))
    # An unknown field's value is kept (a newer firmware than our list); a type change too.
    assert values == {"NoSuchField": 7, "VehicleSpeed": 14}
    assert not StreamValue.objects.exclude(vehicle=car).exists()


def test_history_buckets_only_for_fields_that_keep_history(cars):
    car, other = cars[0], cars[1]
    config = make_config(fields={"Soc": 60, "VehicleSpeed": 10})
    config.fields.filter(name="Soc").update(keep_history=True)
    TelemetryAssignment.objects.create(config=config, vehicle=car)
    ingest = Ingest(BASE, bucket_seconds=60)
    for second in range(0, 180, 10):
        for vehicle in (car, other):
            ingest.add(field(vehicle.vin, "Soc"), str(second).encode(), at(second))
            ingest.add(field(vehicle.vin, "VehicleSpeed"), b"1", at(second))
    ingest.flush()
    points = list(
        StreamPoint.objects.order_by("at").values_list("vehicle_id", "field", "at", "value")
    )
    assert points == [
        (car.id, "Soc", at(0), 50),
        (car.id, "Soc", at(60), 110),
        (car.id, "Soc", at(120), 170),
    ]
    # A later message in the same bucket replaces its value.
    ingest.add(field(car.vin, "Soc"), b"175", at(175))
    ingest.flush()
    assert StreamPoint.objects.get(at=at(120)).value == 175


def test_a_vehicle_linked_after_start_is_found_without_waiting_for_a_refresh(db):
    ingest = Ingest(BASE)
    ingest.refresh()
    link = make_link(UserFactory(email="late@example.com"))
    (car,) = make_vehicles(link, 1, prefix="LATE")
    ingest.add(field(car.vin, "Soc"), b"70", at(0))
    ingest.flush()
    assert StreamValue.objects.get(vehicle=car).value == 70


def test_unknown_vin_is_looked_up_once_per_period(cars):
    ingest = Ingest(BASE)
    ingest.refresh()
    with CaptureQueriesContext(connection) as queries:
        for n in range(100):
            ingest.add(field("UNKNOWNVIN0000000", "Soc"), b"1", at(n))
    assert len(queries) == 1
    ingest.flush()
    assert drops() == {"unknown_vin": 100}


def test_connectivity_errors_and_alerts(cars):
    car = cars[0]
    ingest = Ingest(BASE)
    ingest.add(
        f"{BASE}/{car.vin}/connectivity",
        b'{"ConnectionId": "c1", "Status": "CONNECTED", "CreatedAt": "2026-11-30T10:00:00Z"}',
        at(1),
    )
    ingest.add(
        f"{BASE}/{car.vin}/errors/unsupported_field",
        b'{"Body": "not supported", "Tags": {"field": "Gear"},'
        b' "CreatedAt": "2026-11-30T10:00:02Z"}',
        at(2),
    )
    alert = b'{"StartedAt": "2026-11-30T09:59:00Z", "Audiences": ["Customer"]}'
    ingest.add(f"{BASE}/{car.vin}/alerts/BMS_a079/current", alert, at(3))
    ingest.flush()
    stream = VehicleStream.objects.get(vehicle=car)
    assert stream.connectivity == "CONNECTED"
    assert stream.connected_at == at(0)
    assert stream.last_message_at is None  # connected, no data yet
    error = StreamEvent.objects.get(kind="error")
    assert (error.name, error.tags, error.occurred_at) == (
        "unsupported_field",
        {"field": "Gear"},
        at(2),
    )
    # The alert's history repeats it with its end: the same row gets the end.
    ingest.add(
        f"{BASE}/{car.vin}/alerts/BMS_a079/history",
        b'[{"StartedAt": "2026-11-30T09:59:00Z", "EndedAt": "2026-11-30T10:01:00Z",'
        b' "Audiences": ["Customer"]}]',
        at(70),
    )
    ingest.add(
        f"{BASE}/{car.vin}/connectivity",
        b'{"ConnectionId": "c1", "Status": "DISCONNECTED", "CreatedAt": "2026-11-30T10:02:00Z"}',
        at(121),
    )
    # An event older than the stored one does not overwrite it.
    ingest.add(
        f"{BASE}/{car.vin}/connectivity",
        b'{"ConnectionId": "c0", "Status": "UNKNOWN", "CreatedAt": "2026-11-30T09:00:00Z"}',
        at(122),
    )
    ingest.flush()
    alert_row = StreamEvent.objects.get(kind="alert")
    assert alert_row.ended_at == at(60)
    assert alert_row.audiences == ["Customer"]
    stream.refresh_from_db()
    assert (stream.connectivity, stream.connectivity_at, stream.connected_at) == (
        "DISCONNECTED",
        at(120),
        at(0),
    )


def test_data_clears_a_silence_report(cars):
    car = cars[0]
    VehicleStream.objects.create(
        vehicle=car, first_message_at=at(0), last_message_at=at(0), silent_notified_at=at(600)
    )
    ingest = Ingest(BASE)
    ingest.add(f"{BASE}/{car.vin}/connectivity", b'{"Status": "CONNECTED"}', at(700))
    ingest.flush()
    assert VehicleStream.objects.get(vehicle=car).silent_notified_at == at(600)
    ingest.add(field(car.vin, "Soc"), b"1", at(800))
    ingest.flush()
    stream = VehicleStream.objects.get(vehicle=car)
    assert stream.silent_notified_at is None
    assert stream.first_message_at == at(0)
    assert stream.last_message_at == at(800)


def test_a_failed_flush_writes_nothing_and_keeps_the_batch(cars, monkeypatch):
    car = cars[0]
    ingest = Ingest(BASE)
    ingest.add(field(car.vin, "Soc"), b"60", at(0))
    ingest.add(field("UNKNOWNVIN0000000", "Soc"), b"1", at(0))

    def broken(self):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Ingest, "_write_events", broken)
    with pytest.raises(RuntimeError):
        ingest.flush()
    assert not StreamValue.objects.exists()
    assert not StreamDrop.objects.exists()
    monkeypatch.undo()
    assert ingest.flush() == 2
    assert StreamValue.objects.get(vehicle=car).value == 60
