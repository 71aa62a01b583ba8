"""Hostile stream input: every message gets an outcome (stored or counted), and no message
can wedge the consumer by making a flush fail forever (the batch would never be
acknowledged, so the broker redelivers it and the consumer retries it without end)."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.tests.factories import UserFactory
from telemetry.models import StreamDrop, StreamEvent, StreamValue, VehicleStream
from telemetry.stream.ingest import Ingest
from vehicles.tests.factories import make_link, make_vehicles

BASE = "tele"
T0 = dt.datetime(2026, 11, 30, 10, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def car(db):
    return make_vehicles(make_link(UserFactory(email="hostile@example.com")), 1)[0]


def drops() -> dict[str, int]:
    return {row.kind: row.count for row in StreamDrop.objects.all()}


# name → (topic after the VIN, payload, the drop kind it is counted as, or None if stored)
HOSTILE = {
    "nested_nan": ("v/Location", b'{"latitude": NaN, "longitude": 1}', "malformed"),
    "array_inf": ("v/Soc", b"[Infinity, -Infinity]", "malformed"),
    "nul_string": ("v/Version", b'"2024.1\\u0000x"', "malformed"),
    "nul_key": ("v/DoorState", b'{"Driver\\u0000Front": true}', "malformed"),
    # Within the default 64 KiB cap, deeper than Python's parser goes.
    "deep": ("v/Soc", b"[" * 30000 + b"]" * 30000, "malformed"),
    "long_field": ("v/" + "F" * 10000, b"1", "bad_topic"),
    "huge_int": ("v/Odometer", b"9" * 5000, "malformed"),
    "huge_float": ("v/Odometer", b"1e999", None),
    "error_nul": ("errors/Boom", b'{"Body": "x\\u0000y", "Tags": {"a": "b"}}', "malformed"),
    "alert_nul": ("alerts/Foo/current", b'{"Audiences": ["a\\u0000"]}', "malformed"),
    "alert_bad_date": ("alerts/Foo/current", b'{"StartedAt": "never", "Audiences": [1]}', None),
    "conn_no_status": ("connectivity", b'{"ConnectionId": "x"}', "malformed"),
    # Not a string: `in` a set of names raised TypeError out of the ingest (consumer crash).
    "conn_status_list": ("connectivity", b'{"Status": ["CONNECTED"]}', "malformed"),
    "conn_status_object": ("connectivity", b'{"Status": {}}', "malformed"),
    # Times Python reads but no database column holds.
    "conn_offset": (
        "connectivity",
        b'{"Status": "CONNECTED", "CreatedAt": "2026-11-30T10:00:00-23:30"}',
        None,
    ),
    "conn_year_9999": (
        "connectivity",
        b'{"Status": "CONNECTED", "CreatedAt": "9999-12-31T23:59:59-01:00"}',
        None,
    ),
    "alert_year_1": ("alerts/Foo/current", b'{"StartedAt": "0001-01-01T00:00:00+05:00"}', None),
    "error_offset": (
        "errors/Boom",
        b'{"Body": "x", "CreatedAt": "2026-11-30T10:00:00+20:00"}',
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_message_is_stored_or_counted_and_the_flush_commits(car, name):
    suffix, payload, dropped_as = HOSTILE[name]
    ingest = Ingest(BASE)
    ingest.refresh()
    ingest.add(f"{BASE}/{car.vin}/{suffix}", payload, T0)
    ingest.add(f"{BASE}/{car.vin}/v/Soc", b"55", T0)
    assert ingest.flush() == 2
    # The good message in the same batch is stored, the hostile one counted when set aside.
    assert StreamValue.objects.get(vehicle=car, field="Soc").value == 55
    assert drops() == ({dropped_as: 1} if dropped_as else {})
    if dropped_as is None:  # not counted, so it must really be stored
        if suffix.startswith("v/"):
            assert StreamValue.objects.filter(vehicle=car, field=suffix[2:]).exists()
        elif suffix == "connectivity":
            assert VehicleStream.objects.get(vehicle=car).connectivity == "CONNECTED"
        else:
            assert StreamEvent.objects.filter(vehicle=car).count() == 1
    if dropped_as is None and suffix.startswith("alerts/"):
        assert StreamEvent.objects.get(vehicle=car).occurred_at is None


def test_a_connectivity_time_from_the_future_does_not_freeze_the_cars_connection(car):
    """A telemetry server whose clock runs ahead (or a bogus CreatedAt) must not pin the car's
    connection: a later event would lose to it, and a car gone quiet would read as
    disconnected forever instead of silent (and staff would never be told)."""
    ingest = Ingest(BASE)
    topic = f"{BASE}/{car.vin}/connectivity"
    ingest.add(topic, b'{"Status": "DISCONNECTED", "CreatedAt": "2099-01-01T00:00:00Z"}', T0)
    ingest.flush()
    later = T0 + dt.timedelta(minutes=1)
    ingest.add(topic, b'{"Status": "CONNECTED", "CreatedAt": "2026-11-30T10:01:00Z"}', later)
    ingest.flush()
    stream = VehicleStream.objects.get(vehicle=car)
    assert (stream.connectivity, stream.connectivity_at) == ("CONNECTED", later)
