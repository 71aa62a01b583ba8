"""Brokers, publishers and consumer processes for the stream tests.

The machine's Mosquitto (127.0.0.1:1883) is shared: tests use a unique topic base and client
ids on it and never stop it. A test that kills or restarts a broker starts a private one on a
free port (Mosquitto with its own config and persistence folder, or the embedded amqtt of
scripts/mqtt_broker.py) and stops only that process.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from fleetportal.tests.queue_helpers import wait_for
from telemetry.tests.helpers import process_env

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_MOSQUITTO = "mqtt://127.0.0.1:1883"


def unique(prefix: str = "fp-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def missing(reason: str) -> None:
    """Skips a test whose broker is missing on a developer's machine, but fails it on CI
    (env CI set): .ci/run starts Mosquitto, so a skip there would hide a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: a broker test must not be skipped)")
    pytest.skip(reason)


def require_system_mosquitto() -> None:
    if not port_open(1883):
        missing("no Mosquitto on 127.0.0.1:1883 (.ci/run starts it)")


class PrivateBroker:
    """A broker process of this test only: Mosquitto (persistent sessions kept on disk over a
    restart) or the embedded amqtt."""

    def __init__(self, kind: str, folder: Path, **mosquitto_options: int) -> None:
        self.kind = kind
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = folder / f"{kind}.log"
        if kind == "mosquitto":
            if not shutil.which("mosquitto"):
                missing("mosquitto is not installed")
            lines = [
                f"listener {self.port} 127.0.0.1",
                # Run as root, Mosquitto would switch to its own user and could not write here.
                f"user {getpass.getuser()}",
                "allow_anonymous true",
                "persistence true",
                f"persistence_location {folder}/",
                f"log_dest file {self.log_path}",
                "log_type all",
            ]
            lines += [f"{key} {value}" for key, value in mosquitto_options.items()]
            self.conf = folder / "mosquitto.conf"
            self.conf.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        query = "?version=3.1.1" if self.kind == "amqtt" else ""
        return f"mqtt://127.0.0.1:{self.port}{query}"

    def start(self) -> PrivateBroker:
        if self.kind == "mosquitto":
            command = ["mosquitto", "-c", str(self.conf)]
        else:
            command = [sys.executable, str(ROOT / "scripts" / "mqtt_broker.py")]
            command += ["--port", str(self.port)]
        log = self.log_path.open("a") if self.kind == "amqtt" else subprocess.DEVNULL
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(lambda: port_open(self.port), f"{self.kind} listening on {self.port}", 30)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)
        self.process = None

    def __enter__(self) -> PrivateBroker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop(signal.SIGKILL)


def publish(url: str, messages: Iterable[tuple[str, bytes]], qos: int = 1) -> int:
    """Publish and wait until the broker has taken every message (QoS 1: its PUBACK)."""
    from telemetry.stream.client import BrokerURL

    broker = BrokerURL.parse(url)
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=unique("fp-pub"), protocol=broker.version
    )
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(100)
    client.connect(broker.host, broker.port)
    client.loop_start()
    sent = []
    try:
        for topic, payload in messages:
            sent.append(client.publish(topic, payload, qos=qos))
        for info in sent:
            info.wait_for_publish(timeout=60)
            assert info.is_published(), "the broker did not take a message"
    finally:
        client.disconnect()
        client.loop_stop()
    return len(sent)


def consumer_env() -> dict[str, str]:
    """The test's own database for a consumer process (development settings, no `.env`)."""
    return {**process_env(), "PYTHONUNBUFFERED": "1"}


class ConsumerProcess:
    """`manage.py telemetry_stream` as its own process, as in production."""

    def __init__(self, log_path: Path, url: str, base: str, client_id: str, *extra: str):
        self.log_path = log_path
        self.args = [
            sys.executable, "manage.py", "telemetry_stream", "--url", url,
            "--topic-base", base, "--client-id", client_id, "--heartbeat-seconds", "0.2",
            *extra,
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None

    def start(self) -> ConsumerProcess:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=consumer_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text()

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
        # Longer than SQLite's busy timeout (30 s): a SIGTERM that finds the consumer waiting
        # for the database's write lock still gets its clean stop (seen once in CI).
        try:
            code = self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            # Not stopped: its threads' stacks (SIGUSR1, faulthandler) say what it waits for.
            os.killpg(self.process.pid, signal.SIGUSR1)
            time.sleep(2)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None
            stacks = self.log()
            raise AssertionError(f"the consumer did not stop on signal {sig}:\n{stacks}") from None
        self.process = None
        return code

    def __enter__(self) -> ConsumerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.kill()


def start_consumer_thread(consumer) -> threading.Thread:
    """Run `consumer` in a daemon thread that closes its own database connection at the end."""
    from django.db import connection

    def run() -> None:
        try:
            consumer.run()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@contextmanager
def consumer_thread(url: str, client_id: str, topic_base: str) -> Iterator[object]:
    """The stream consumer in a thread of this process (its own database connection),
    connected before the body runs; on exit it is stopped, which drains it (it writes what it
    still holds), and it must end within 30 s."""
    from telemetry.stream.client import Consumer, Options

    consumer = Consumer(Options(url=url, client_id=client_id, topic_base=topic_base))
    thread = start_consumer_thread(consumer)
    try:
        wait_for(lambda: consumer.connected, "the consumer's connection")
        yield consumer
    finally:
        consumer.stop()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the consumer did not stop within 30 s"
