"""The stream consumer against real brokers: the machine's Mosquitto for the normal path, a
private Mosquitto or the embedded amqtt (scripts/mqtt_broker.py) for the tests that kill or
restart a broker. Consumers run as their own processes where a process dies."""

from __future__ import annotations

import os
import re
import signal
import threading

import paho.mqtt.client as mqtt
import pytest
from django.db import DataError
from django.db.models import Sum

from accounts.tests.factories import UserFactory
from fleetportal.tests.queue_helpers import wait_for
from telemetry.models import StreamConsumer, StreamDrop, StreamSignalDay, StreamValue
from telemetry.stream.client import BrokerURL, Consumer, Options
from telemetry.tests.stream_helpers import (
    SYSTEM_MOSQUITTO,
    ConsumerProcess,
    PrivateBroker,
    publish,
    require_system_mosquitto,
    start_consumer_thread,
    unique,
)
from vehicles.tests.factories import make_link, make_vehicles

FIELDS = ("Soc", "VehicleSpeed", "Odometer", "Gear")
# The consumer holds every message in memory, unacknowledged: nothing is stored until it is
# stopped, so a SIGKILL finds all of them received and none stored.
HOLD = ("--flush-seconds", "3600", "--flush-messages", "1000000", "--idle-flush-seconds", "3600")


@pytest.fixture
def cars(transactional_db):
    link = make_link(UserFactory(email="streamer@example.com"))
    return make_vehicles(link, 5)


def messages(base: str, cars, rounds: range) -> list[tuple[str, bytes]]:
    """Every field of every car once per round; the value is the round number."""
    return [
        (f"{base}/{car.vin}/v/{name}", str(n).encode())
        for n in rounds
        for car in cars
        for name in FIELDS
    ]


def latest() -> dict[tuple[int, str], object]:
    return {(v.vehicle_id, v.field): v.value for v in StreamValue.objects.all()}


def all_latest_are(cars, value) -> bool:
    want = {(car.id, name): value for car in cars for name in FIELDS}
    return latest() == want


def signals() -> int:
    return StreamSignalDay.objects.aggregate(total=Sum("signals"))["total"] or 0


def waiting(consumer: ConsumerProcess, count: int) -> bool:
    return f"waiting={count}" in consumer.log()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", BrokerURL("127.0.0.1", 1883)),
        (
            "mqtts://user:p%40ss@broker.example.com",
            BrokerURL("broker.example.com", 8883, True, "user", "p@ss"),
        ),
        (
            "mqtt://localhost:1884?version=3.1.1",
            BrokerURL("localhost", 1884, version=mqtt.MQTTv311),
        ),
    ],
)
def test_broker_url(url, expected):
    assert BrokerURL.parse(url) == expected


@pytest.mark.parametrize("url", ["http://example.com", "mqtt://host?version=4"])
def test_bad_broker_url(url):
    with pytest.raises(ValueError):
        BrokerURL.parse(url)


def test_subscription_is_shared_when_a_group_is_set():
    assert Options(topic_base="telemetry").subscription == "telemetry/#"
    options = Options(topic_base="telemetry", shared_group="portal")
    assert options.subscription == "$share/portal/telemetry/#"


def test_consumer_stores_the_latest_values_from_the_real_mosquitto(cars):
    require_system_mosquitto()
    base, client_id = unique(), unique("fp-consumer")
    consumer = Consumer(Options(url=SYSTEM_MOSQUITTO, client_id=client_id, topic_base=base))
    thread = start_consumer_thread(consumer)
    try:
        wait_for(lambda: consumer.connected, "the consumer's connection")
        wait_for(
            lambda: StreamConsumer.objects.filter(client_id=client_id, connected=True).exists(),
            "the connected heartbeat",
        )
        sent = publish(SYSTEM_MOSQUITTO, messages(base, cars, range(1, 51)))
        publish(SYSTEM_MOSQUITTO, [(f"{base}/UNKNOWNVIN0000000/v/Soc", b"1")])
        wait_for(lambda: all_latest_are(cars, 50), "the last round's values")
        wait_for(lambda: signals() == sent, "every message counted")
        wait_for(
            lambda: StreamDrop.objects.filter(kind="unknown_vin", count=1).exists(),
            "the unknown VIN counted",
        )
    finally:
        consumer.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    row = StreamConsumer.objects.get(client_id=client_id)
    assert row.connected is False  # a clean stop says so
    assert row.messages == sent + 1
    assert row.last_message_at is not None


def test_two_consumers_on_a_shared_subscription_split_the_stream(cars):
    require_system_mosquitto()
    base, group = unique(), unique("grp")
    consumers = [
        Consumer(
            Options(
                url=SYSTEM_MOSQUITTO, client_id=unique("fp-shared"), topic_base=base,
                shared_group=group,
            )
        )
        for _ in range(2)
    ]  # fmt: skip
    threads = [start_consumer_thread(consumer) for consumer in consumers]
    try:
        wait_for(lambda: all(c.connected for c in consumers), "both connections")
        wait_for(
            lambda: StreamConsumer.objects.filter(connected=True).count() == 2,
            "both subscribed and beating",
        )
        sent = publish(SYSTEM_MOSQUITTO, messages(base, cars, range(1, 41)))
        wait_for(lambda: signals() == sent, "every message counted once")
        wait_for(lambda: all(c.messages > 0 for c in consumers), "both consumers' flushes")
        assert sum(c.messages for c in consumers) == sent  # split, not duplicated
    finally:
        for consumer in consumers:
            consumer.stop()
        for thread in threads:
            thread.join(timeout=30)


def test_a_failed_flush_is_retried_and_nothing_is_lost(cars, monkeypatch):
    require_system_mosquitto()
    from telemetry.stream.ingest import Ingest

    failures = []
    original = Ingest._write_signals

    def flaky(self):
        if not failures:
            failures.append(1)
            raise RuntimeError("database went away")
        return original(self)

    monkeypatch.setattr(Ingest, "_write_signals", flaky)
    base, client_id = unique(), unique("fp-consumer")
    consumer = Consumer(Options(url=SYSTEM_MOSQUITTO, client_id=client_id, topic_base=base))
    thread = start_consumer_thread(consumer)
    try:
        wait_for(lambda: consumer.connected, "the consumer's connection")
        sent = publish(SYSTEM_MOSQUITTO, messages(base, cars, range(1, 21)))
        wait_for(lambda: all_latest_are(cars, 20), "the values")
        wait_for(lambda: signals() == sent, "every message counted once")
    finally:
        consumer.stop()
        thread.join(timeout=30)
    assert failures == [1]


def test_a_message_the_database_refuses_is_set_aside_and_the_stream_goes_on(cars, monkeypatch):
    """A value the parser takes but the database refuses (kinds found so far are caught
    earlier, in parse) would fail every write of its batch: the batch stays unacknowledged,
    is redelivered and fails again, and the stream stops for every car. Instead the batch is
    written apart and the one message the database refuses is counted as malformed."""
    require_system_mosquitto()
    from telemetry.stream.ingest import Ingest

    original = Ingest._write_values

    def refuses_a_poison(self):
        if any(value == "POISON" for value, _at in self._out.values.values()):
            raise DataError("the database refuses this value")
        return original(self)

    monkeypatch.setattr(Ingest, "_write_values", refuses_a_poison)
    base, client_id = unique(), unique("fp-consumer")
    consumer = Consumer(Options(url=SYSTEM_MOSQUITTO, client_id=client_id, topic_base=base))
    thread = start_consumer_thread(consumer)
    try:
        wait_for(lambda: consumer.connected, "the consumer's connection")
        batch = messages(base, cars, range(1, 11))
        # Last, on a field of its own, so no later value coalesces it away.
        poison = (f"{base}/{cars[2].vin}/v/BatteryLevel", b'"POISON"')
        sent = publish(SYSTEM_MOSQUITTO, [*batch, poison])
        wait_for(lambda: all_latest_are(cars, 10), "the other messages' values")
        wait_for(
            lambda: StreamDrop.objects.filter(kind="malformed", count=1).exists(),
            "the refused message counted as malformed",
        )
        wait_for(lambda: consumer.messages == sent, "every message acknowledged")
        more = publish(SYSTEM_MOSQUITTO, messages(base, cars, range(11, 12)))
        wait_for(lambda: all_latest_are(cars, 11), "the stream going on")
    finally:
        consumer.stop()
        thread.join(timeout=30)
    assert signals() == sent - 1 + more
    assert not StreamValue.objects.filter(field="BatteryLevel").exists()


def test_sigterm_stores_and_acknowledges_what_was_received(cars, tmp_path):
    require_system_mosquitto()
    base, client_id = unique(), unique("fp-consumer")
    consumer = ConsumerProcess(tmp_path / "c.log", SYSTEM_MOSQUITTO, base, client_id, *HOLD)
    with consumer:
        wait_for(lambda: "connected=True" in consumer.log(), "the consumer's connection", 60)
        sent = publish(SYSTEM_MOSQUITTO, messages(base, cars, range(1, 11)))
        wait_for(lambda: waiting(consumer, sent), "every message received, none stored")
        assert signals() == 0
        assert consumer.kill(signal.SIGTERM) == 0
    assert all_latest_are(cars, 10)
    assert signals() == sent
    assert f"stopped after {sent} messages" in consumer.log()
    # Acknowledged: the same client id starting again receives nothing twice.
    again = ConsumerProcess(tmp_path / "again.log", SYSTEM_MOSQUITTO, base, client_id)
    with again:
        wait_for(lambda: "connected=True" in again.log(), "the second connection", 60)
        publish(SYSTEM_MOSQUITTO, [(f"{base}/{cars[0].vin}/v/Soc", b"99")])
        wait_for(lambda: latest()[(cars[0].id, "Soc")] == 99, "the new message")
        wait_for(lambda: re.search(r"stored=1\b", again.log()), "its heartbeat")
    assert signals() == sent + 1


def test_sigusr1_writes_every_threads_stack_and_the_consumer_goes_on(cars, tmp_path):
    require_system_mosquitto()
    base = unique()
    with ConsumerProcess(tmp_path / "c.log", SYSTEM_MOSQUITTO, base, unique("fp-c")) as consumer:
        wait_for(lambda: "connected=True" in consumer.log(), "the consumer's connection", 60)
        os.killpg(consumer.process.pid, signal.SIGUSR1)
        wait_for(lambda: "in _write_loop" in consumer.log(), "the writer thread's stack")
        assert "in run" in consumer.log()  # the main loop's frame
        publish(SYSTEM_MOSQUITTO, [(f"{base}/{cars[0].vin}/v/Soc", b"42")])
        wait_for(lambda: latest().get((cars[0].id, "Soc")) == 42, "a message after the dump")
        assert consumer.kill(signal.SIGTERM) == 0


@pytest.fixture(params=["mosquitto", "amqtt"])
def private_broker(request, tmp_path):
    with PrivateBroker(request.param, tmp_path) as broker:
        yield broker


def test_kill_9_loses_no_message(cars, tmp_path, private_broker):
    """SIGKILL with every message received and none stored; more published while it is
    dead: after a restart every latest value is there and every message counted."""
    base, client_id = unique(), unique("fp-consumer")
    url = private_broker.url
    first = ConsumerProcess(tmp_path / "first.log", url, base, client_id, *HOLD).start()
    try:
        wait_for(lambda: "connected=True" in first.log(), "the consumer's connection", 60)
        sent = publish(url, messages(base, cars, range(1, 21)))
        wait_for(lambda: waiting(first, sent), "every message received, none stored")
    finally:
        assert first.kill(signal.SIGKILL) == -signal.SIGKILL
    assert signals() == 0  # nothing was stored: it all sits unacknowledged at the broker
    # Published while no consumer runs: the broker keeps them for the persistent session.
    sent += publish(url, messages(base, cars, range(21, 31)))
    with ConsumerProcess(tmp_path / "second.log", url, base, client_id):
        wait_for(lambda: all_latest_are(cars, 30), "the latest values after the restart")
        # QoS 1 may deliver twice, never zero times.
        wait_for(lambda: signals() >= sent, "every message counted")


@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
def test_kill_9_while_messages_flow_loses_no_latest_value(cars, tmp_path, kind):
    """The consumer is killed while a publisher is still sending: after a restart with the
    same client id the last value of every field is there, and no message is missing."""
    with PrivateBroker(kind, tmp_path, max_queued_messages=100000) as broker:
        base, client_id = unique(), unique("fp-consumer")
        first = ConsumerProcess(tmp_path / "first.log", broker.url, base, client_id).start()
        wait_for(lambda: "connected=True" in first.log(), "the consumer's connection", 60)
        batch = messages(base, cars, range(1, 101))
        sent: list[int] = []
        publisher = threading.Thread(target=lambda: sent.append(publish(broker.url, batch)))
        publisher.start()
        try:
            wait_for(lambda: signals() >= 100, "the first flushes")
        finally:
            assert first.kill(signal.SIGKILL) == -signal.SIGKILL
            publisher.join(timeout=120)
        assert sent == [len(batch)]
        with ConsumerProcess(tmp_path / "second.log", broker.url, base, client_id):
            wait_for(lambda: all_latest_are(cars, 100), "the last values after the restart")
            wait_for(lambda: signals() >= len(batch), "every message counted")


def test_broker_restart_reconnects_and_healthz_reports_it_meanwhile(cars, tmp_path, private_broker):
    base, client_id = unique(), unique("fp-consumer")
    url = private_broker.url
    with ConsumerProcess(tmp_path / "c.log", url, base, client_id) as consumer:
        wait_for(
            lambda: StreamConsumer.objects.filter(client_id=client_id, connected=True).exists(),
            "the connected heartbeat",
            60,
        )
        publish(url, messages(base, cars, range(1, 6)))
        wait_for(lambda: all_latest_are(cars, 5), "the values before the restart")

        private_broker.stop()
        wait_for(
            lambda: StreamConsumer.objects.filter(client_id=client_id, connected=False).exists(),
            "the disconnected heartbeat",
        )
        from django.test import Client

        report = Client().get("/healthz").json()["stream"]
        assert report["status"] == "disconnected"
        assert consumer.process.poll() is None  # still running, reconnecting

        private_broker.start()
        wait_for(
            lambda: StreamConsumer.objects.filter(client_id=client_id, connected=True).exists(),
            "the reconnected heartbeat",
            60,
        )
        publish(url, messages(base, cars, range(6, 11)))
        wait_for(lambda: all_latest_are(cars, 10), "the values after the restart")
    assert "reconnecting" in consumer.log()


def test_mosquitto_drops_what_exceeds_max_queued_messages_while_the_consumer_is_away(
    cars, tmp_path
):
    """What docs/streaming.md sizes: a persistent session keeps at most max_queued_messages
    for a consumer that is away; Mosquitto drops the rest silently, newest first, so the
    portal's latest values stay behind until the cars send again."""
    limit = 30
    with PrivateBroker("mosquitto", tmp_path, max_queued_messages=limit) as broker:
        base, client_id = unique(), unique("fp-consumer")
        first = ConsumerProcess(tmp_path / "first.log", broker.url, base, client_id).start()
        wait_for(lambda: "connected=True" in first.log(), "the session", 60)
        assert first.kill(signal.SIGTERM) == 0  # away, its session kept by the broker
        sent = publish(broker.url, messages(base, cars, range(1, 11)))  # 200 > limit
        assert sent > limit
        with ConsumerProcess(tmp_path / "second.log", broker.url, base, client_id):
            wait_for(lambda: signals() > 0, "the queued messages")
            # A message published now comes after everything the broker kept.
            publish(broker.url, [(f"{base}/{cars[0].vin}/v/Gear", b'"ShiftStateP"')])
            wait_for(lambda: latest().get((cars[0].id, "Gear")) == "ShiftStateP", "the marker")
            kept = signals() - 1
        assert kept == limit
        # The oldest were kept, the newest dropped: the latest values are from round 2.
        assert latest()[(cars[0].id, "Soc")] == 2
        assert "dropped" in broker.log_path.read_text().lower()
