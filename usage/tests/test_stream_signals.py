"""Streamed signals counted exactly against the sandbox's own counters: the sandbox's stream
simulation publishes through the machine's Mosquitto to the portal's consumer; what the
portal counts as signals (StreamSignalDay per car, StreamFieldDay per field) is exactly the
number of field messages the sandbox says it published. Connectivity, error and alert
messages are published too and are not counted as signals (docs/usage.md)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db.models import Sum

from accounts.tests.factories import UserFactory
from fleetportal.tests.queue_helpers import wait_for
from sandbox.testing import running_sandbox
from telemetry.models import StreamEvent, StreamFieldDay, StreamSignalDay, VehicleStream
from telemetry.tests.stream_helpers import (
    SYSTEM_MOSQUITTO,
    consumer_thread,
    require_system_mosquitto,
    unique,
)
from vehicles.models import Vehicle
from vehicles.tests.factories import make_link, make_vehicles

# Two seeded sandbox cars on firmware 2025.20.6 (sandbox/seed.py).
VINS = ("5YJ3E1EA7PF000001", "XP7YGCEK0PB000006")
FIELDS = {
    "VehicleSpeed": {"interval_seconds": 1},
    "Odometer": {"interval_seconds": 1},
    "Location": {"interval_seconds": 1},
    "Soc": {"interval_seconds": 1},
    # Needs Fleet Telemetry client 1.2.0: the cars answer with an unsupported_field error.
    "MilesSinceReset": {"interval_seconds": 1},
}
ENOUGH = 150  # field messages before the cars are silenced


@pytest.fixture
def cars(transactional_db):
    link = make_link(UserFactory(email="signals@example.com"))
    vehicles = make_vehicles(link, len(VINS))
    for vehicle, vin in zip(vehicles, VINS, strict=True):
        Vehicle.objects.filter(pk=vehicle.pk).update(vin=vin)
    return list(Vehicle.objects.filter(vin__in=VINS))


def _signals() -> int:
    return StreamSignalDay.objects.aggregate(n=Sum("signals"))["n"] or 0


def test_signals_match_the_sandbox_s_published_field_messages(cars):
    require_system_mosquitto()
    base = unique("fp-signals")
    with consumer_thread(SYSTEM_MOSQUITTO, unique("fp-c"), base):
        with running_sandbox(mqtt_url=SYSTEM_MOSQUITTO, topic_base=base, time_scale=120) as sb:
            sb.control.settings(stream_sleep_after=0)  # awake: no sleep cycle mid-test
            sb.control.install_telemetry_config(list(VINS), FIELDS, alert_types=["service"])
            wait_for(
                lambda: all(
                    sb.control.stream_status()["cars"].get(vin, {}).get("connected") for vin in VINS
                ),
                "both cars streaming",
            )
            sb.control.raise_alert(VINS[0])
            wait_for(
                lambda: sb.control.stream_status()["published"]["field"] >= ENOUGH,
                f"{ENOUGH} field messages published",
            )
            for vin in VINS:
                # Answered once the publisher obeys: nothing of these cars is in flight after.
                sb.control.silence(vin)
            status = sb.control.stream_status()
        published = status["published"]
        assert set(status["cars"]) == set(VINS)  # only these cars streamed
        assert published["dropped"] == 0 and published["injected"] == 0
        assert published["connectivity"] >= 2 and published["error"] >= 2
        assert published["alert"] >= 1
        wait_for(lambda: _signals() >= published["field"], "the consumer counting them all")
    # Leaving the block stopped the consumer, which wrote what it still held.
    # Exactly the sandbox's count: no field message lost, none counted twice, and neither
    # the connectivity, error nor alert messages counted as signals.
    assert _signals() == published["field"]
    per_field = Counter()
    for name, n in StreamFieldDay.objects.values_list("field", "signals"):
        per_field[name] += n
    assert sum(per_field.values()) == published["field"]
    assert set(per_field) <= set(FIELDS) - {"MilesSinceReset"}
    per_car = dict(
        StreamSignalDay.objects.values("vehicle__vin")
        .annotate(n=Sum("signals"))
        .values_list("vehicle__vin", "n")
    )
    assert set(per_car) == set(VINS)
    # The other kinds arrived and were stored as what they are.
    assert VehicleStream.objects.filter(vehicle__in=cars, connectivity="CONNECTED").count() == 2
    assert StreamEvent.objects.filter(kind=StreamEvent.Kind.ERROR).count() == published["error"]
    assert StreamEvent.objects.filter(kind=StreamEvent.Kind.ALERT).exists()
