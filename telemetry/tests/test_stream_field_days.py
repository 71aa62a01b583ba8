"""Signals per field per day (usage's busiest fields): the consumer fed real MQTT messages by
the machine's Mosquitto counts every field message once, under its field, batched with its
other writes."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db.models import Sum

from accounts.tests.factories import UserFactory
from fleetportal.tests.queue_helpers import wait_for
from telemetry.models import StreamFieldDay, StreamSignalDay
from telemetry.tests.stream_helpers import (
    SYSTEM_MOSQUITTO,
    consumer_thread,
    publish,
    require_system_mosquitto,
    unique,
)
from vehicles.tests.factories import make_link, make_vehicles


@pytest.fixture
def cars(transactional_db):
    link = make_link(UserFactory(email="fields@example.com"))
    return make_vehicles(link, 3)


def _signals() -> int:
    return StreamSignalDay.objects.aggregate(total=Sum("signals"))["total"] or 0


def test_the_consumer_counts_signals_per_field_exactly(cars):
    require_system_mosquitto()
    base, client_id = unique(), unique("fp-fields")
    # Uneven on purpose: each field's count differs, so a swap or a lost key shows.
    plan = {"Soc": 7, "VehicleSpeed": 13, "Odometer": 2, "NewFirmwareField": 3}
    messages = [
        (f"{base}/{car.vin}/v/{name}", str(n).encode())
        for car in cars
        for name, times in plan.items()
        for n in range(times)
    ]
    # Not field messages: the car's connectivity, an error, an alert.
    others = [
        (f"{base}/{cars[0].vin}/connectivity", b'{"Status": "CONNECTED"}'),
        (f"{base}/{cars[0].vin}/errors/nats", b'{"Body": "x"}'),
        (f"{base}/{cars[1].vin}/alerts/Alarm/current", b'{"StartedAt": "2026-11-30T10:00:00Z"}'),
    ]
    with consumer_thread(SYSTEM_MOSQUITTO, client_id, base):
        sent = publish(SYSTEM_MOSQUITTO, messages + others)
        assert sent == len(messages) + len(others)
        wait_for(lambda: _signals() == len(messages), "every field message counted")
    per_field = Counter()
    for name, signals in StreamFieldDay.objects.values_list("field", "signals"):
        per_field[name] += signals
    assert per_field == {name: times * len(cars) for name, times in plan.items()}
    # The connectivity, error and alert messages are not signals; the two tables agree.
    assert _signals() == len(messages) == sum(per_field.values())
