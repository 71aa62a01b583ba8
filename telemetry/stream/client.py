"""The MQTT client of the stream consumer (paho-mqtt 2.x).

- MQTT 5 by default (``?version=3.1.1`` in the URL for brokers without it, such as the embedded
  amqtt of ``make run``); a fixed client id with clean start off and a session expiry, so the
  broker keeps QoS 1 messages while the consumer is down (up to its queue limit, see
  docs/streaming.md);
- manual acknowledgement: a message is acknowledged only after the flush that stored it has
  committed, so a consumer killed with SIGKILL loses nothing (the broker redelivers);
- pipelined: a writer thread (with its own database connection) stores one batch while the
  main thread parses the next into a fresh one; at most one write in flight; the writer
  acknowledges its batch, in order, once its transaction has committed, and retries a failed
  write (its messages stay unacknowledged meanwhile);
- MQTT 5 Receive Maximum raised so the broker keeps sending while a batch waits for its flush
  (Mosquitto otherwise stops at max_inflight_messages, 20 by default, un-acknowledged
  messages per client);
- reconnect with backoff; ``$share/<group>/<base>/#`` when a shared group is set;
- SIGTERM/SIGINT: flush everything, acknowledge, disconnect cleanly;
- a heartbeat row in StreamConsumer every few seconds (and at once when the connection
  changes), which /healthz and the staff overview read.
"""

from __future__ import annotations

import logging
import queue
import signal
import ssl
import struct
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from django import db
from django.conf import settings
from django.db.models import F
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from telemetry.models import StreamConsumer
from telemetry.stream.ingest import Batch, Ingest

log = logging.getLogger("telemetry.stream")

QOS = 1
# A batch write failing this many times in a row while the database answers holds a message
# the database refuses: the batch is written apart (Consumer._write_apart).
POISON_AFTER = 3
# A PUBACK without reason code or properties (success), MQTT 3.1.1 and 5.
PUBACK = struct.Struct("!BBH")


class _BufferedSocket:
    """A plain TCP socket read in 64 KiB chunks.

    paho reads every packet with three ``recv`` calls (type, length, body) after a
    ``select``: three system calls per message, each giving the GIL away. Served from memory
    instead; ``pending()`` (which paho's loop asks of TLS sockets too) tells it not to wait in
    ``select`` while bytes are buffered. Everything else goes to the socket.
    """

    CHUNK = 65536

    def __init__(self, sock) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        if self._pos >= len(self._buffer):
            self._buffer = self._sock.recv(self.CHUNK)  # BlockingIOError when none: as paho
            self._pos = 0
        start = self._pos
        self._pos = min(start + size, len(self._buffer))
        return self._buffer[start : self._pos]

    def pending(self) -> int:
        return len(self._buffer) - self._pos

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class _Client(mqtt.Client):
    """paho's client with buffered reads on plain TCP (TLS sockets buffer on their own)."""

    def _create_socket(self):
        sock = super()._create_socket()
        if self._transport == "tcp" and not self._ssl:
            return _BufferedSocket(sock)
        return sock


@dataclass(frozen=True)
class BrokerURL:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    # Out of repr: a logged or reported object must not carry the broker password.
    password: str | None = field(default=None, repr=False)
    version: int = mqtt.MQTTv5

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        """mqtt://[user:password@]host[:port][?version=3.1.1], or mqtts:// for TLS."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"not an MQTT URL: {parts.scheme!r}")
        tls = parts.scheme in ("mqtts", "ssl")
        version_text = parse_qs(parts.query).get("version", ["5"])[0]
        versions = {"5": mqtt.MQTTv5, "5.0": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}
        if version_text not in versions:
            raise ValueError(f"unsupported MQTT version {version_text!r}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            version=versions[version_text],
        )


@dataclass(frozen=True)
class Options:
    url: str = field(default="mqtt://127.0.0.1:1883", repr=False)  # may hold a password
    client_id: str = "fleet-portal-stream"
    topic_base: str = "telemetry"
    shared_group: str = ""
    ca_file: str = ""
    # A flush every flush_seconds, or at flush_messages, or as soon as the stream pauses.
    # While a write is in flight the next batch keeps growing (up to max_batch_messages):
    # a bigger batch coalesces more (one row per vehicle and field, per vehicle and day).
    flush_seconds: float = 0.5
    flush_messages: int = 2000
    max_batch_messages: int = 10000
    idle_flush_seconds: float = 0.05
    heartbeat_seconds: float = 5.0
    # How long the broker keeps the session (and its queued messages) while we are away.
    session_expiry_seconds: int = 7 * 24 * 3600
    # Un-acknowledged messages the broker may send us (MQTT 5): above flush_messages, so it
    # keeps sending while a batch is written.
    receive_maximum: int = 20000
    keepalive: int = 30
    reconnect_min_seconds: int = 1
    reconnect_max_seconds: int = 30

    @property
    def subscription(self) -> str:
        topic = f"{self.topic_base.rstrip('/')}/#"
        return f"$share/{self.shared_group}/{topic}" if self.shared_group else topic

    @classmethod
    def from_settings(cls, **overrides) -> Options:
        options = cls(
            url=settings.TELEMETRY_MQTT_URL,
            client_id=settings.TELEMETRY_MQTT_CLIENT_ID,
            topic_base=settings.TELEMETRY_MQTT_TOPIC_BASE,
            shared_group=settings.TELEMETRY_MQTT_SHARED_GROUP,
            ca_file=settings.TELEMETRY_MQTT_CA_FILE,
        )
        return replace(options, **{k: v for k, v in overrides.items() if v is not None})


# What the network thread puts in the inbox: (topic, payload, mid, qos, connection generation).
_Received = tuple[str, bytes, int, int, int]


@dataclass
class _Job:
    """A detached batch for the writer thread, and the messages it covers (to acknowledge)."""

    batch: Batch
    received: list[_Received]
    last_at: datetime


class Consumer:
    """Runs until stop() (or SIGTERM/SIGINT when run() installs the handlers)."""

    def __init__(self, options: Options, ingest: Ingest | None = None) -> None:
        self.options = options
        self.broker = BrokerURL.parse(options.url)
        self.ingest = ingest or Ingest(options.topic_base)
        self._inbox: queue.SimpleQueue[_Received] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._state_changed = threading.Event()
        self.connected = False
        # Message ids are per connection: acknowledge only those of the current one (after a
        # reconnect the broker redelivers what was not acknowledged).
        self._generation = 0
        self._unacked: list[_Received] = []  # taken into the ingest's current batch
        self._last_taken_at: datetime | None = None
        self.messages = 0  # stored (flushed) by this process
        self.last_message_at: datetime | None = None
        self._heartbeat_messages = 0
        self._logged_state: tuple | None = None
        self._logged_at = 0.0
        # The writer thread: one job at a time; _idle is set when none is in flight.
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._idle = threading.Event()
        self._idle.set()
        self._in_flight = 0  # messages of the job being written
        self._writer: threading.Thread | None = None
        # SQLite has one writer at a time: the heartbeat waits for the batch's transaction.
        self._db_lock: threading.Lock | nullcontext = (
            threading.Lock() if db.connection.vendor == "sqlite" else nullcontext()
        )
        self.client = self._make_client()

    # -- paho setup and callbacks (network thread) ----------------------------------------

    def _make_client(self) -> mqtt.Client:
        kwargs = {}
        if self.broker.version != mqtt.MQTTv5:
            kwargs["clean_session"] = False
        client = _Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=self.broker.version,
            manual_ack=True,
            **kwargs,
        )
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set(
                ca_certs=self.options.ca_file or None, tls_version=ssl.PROTOCOL_TLS_CLIENT
            )
        client.reconnect_delay_set(
            self.options.reconnect_min_seconds, self.options.reconnect_max_seconds
        )
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties | None:
        if self.broker.version != mqtt.MQTTv5:
            return None
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.options.session_expiry_seconds
        properties.ReceiveMaximum = self.options.receive_maximum
        return properties

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("stream: broker refused the connection: %s", reason_code)
            return
        self._generation += 1
        self.connected = True
        self._state_changed.set()
        log.info(
            "stream: connected to %s:%s as %s (session present: %s), subscribing to %s",
            self.broker.host,
            self.broker.port,
            self.options.client_id,
            flags.session_present,
            self.options.subscription,
        )
        client.subscribe(self.options.subscription, qos=QOS)

    def _on_connect_fail(self, client, userdata) -> None:
        # Without this line a wrong host or port (or a broker that is down) shows only as
        # "connected=False" heartbeats. The address only: the URL may hold a password.
        log.warning(
            "stream: cannot reach the broker at %s:%s, retrying",
            self.broker.host,
            self.broker.port,
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected = False
        self._state_changed.set()
        if not self._stop.is_set():
            log.warning("stream: disconnected (%s), reconnecting", reason_code)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(
            (message.topic, message.payload, message.mid, message.qos, self._generation)
        )

    # -- main loop (the caller's thread: parses; VIN look-ups and heartbeats) -------------

    def stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.ingest.refresh()
                break
            except db.DatabaseError:
                log.exception("stream: database not reachable, retrying")
                db.connection.close()
                self._stop.wait(2.0)
        self.client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=self.options.keepalive,
            clean_start=False,
            properties=self._connect_properties(),
        )
        self._writer = threading.Thread(target=self._write_loop, name="stream-writer", daemon=True)
        self._writer.start()
        self.client.loop_start()
        next_heartbeat = 0.0
        first_pending: float | None = None
        last_got = time.monotonic()
        try:
            while not self._stop.is_set():
                if len(self._unacked) >= self.options.max_batch_messages:
                    # The batch is full and the writer still busy: let it catch up.
                    self._idle.wait(0.05)
                    got = 0
                else:
                    got = self._take(min(0.05, self.options.idle_flush_seconds))
                now = time.monotonic()
                if got:
                    last_got = now
                    if first_pending is None:
                        first_pending = now
                due = self._unacked and (
                    len(self._unacked) >= self.options.flush_messages
                    or now - first_pending >= self.options.flush_seconds
                    or (not got and now - last_got >= self.options.idle_flush_seconds)
                )
                if due and self._idle.is_set():
                    self._hand_over()
                    first_pending = None
                if now >= next_heartbeat or self._state_changed.is_set():
                    self._state_changed.clear()
                    self._heartbeat()
                    next_heartbeat = now + self.options.heartbeat_seconds
        finally:
            self._shutdown()

    def _take(self, timeout: float) -> int:
        """Move what arrived into the ingest; wait up to ``timeout`` for the first one."""
        try:
            item = self._inbox.get(timeout=timeout)
        except queue.Empty:
            return 0
        taken = 0
        limit = self.options.flush_messages
        # One time for the slice (the values are coalesced anyway): no clock per message.
        received_at = self._last_taken_at = datetime.now(UTC)
        add = self.ingest.add
        unacked = self._unacked
        while True:
            try:
                add(item[0], item[1], received_at)
            except db.DatabaseError:
                # A VIN lookup failed (database away): leave this message unacknowledged,
                # the broker redelivers it on the next connection.
                log.exception("stream: message not taken (database error)")
                db.connection.close()
            else:
                unacked.append(item)
            taken += 1
            if taken >= limit:
                return taken
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return taken

    def _hand_over(self) -> None:
        """Give the gathered batch to the writer (none in flight) and start a fresh one."""
        received, self._unacked = self._unacked, []
        self._idle.clear()
        self._in_flight = len(received)
        self._jobs.put(_Job(self.ingest.detach(), received, self._last_taken_at))

    # -- the writer thread (its own database connection) ----------------------------------

    def _write_loop(self) -> None:
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                try:
                    self._write(job)
                finally:
                    self._in_flight = 0
                    self._idle.set()
        finally:
            db.connection.close()

    def _write(self, job: _Job) -> bool:
        """Store the batch, then acknowledge its messages in order; a failed write is retried
        (every second; at most 3 times once stopping) and its messages stay unacknowledged.
        A batch that keeps failing while the database answers holds a message the database
        refuses: it is written apart (``_write_apart``) so one message cannot stop the stream.
        """
        failures = 0
        while True:
            try:
                with self._db_lock:
                    self.ingest.write(job.batch)
                break
            except Exception:
                failures += 1
                log.exception("stream: flush failed, retrying (messages stay unacknowledged)")
                db.connection.close()
                if failures >= POISON_AFTER and self._database_answers():
                    if self._write_apart(job):
                        break
                    continue
                if self._stop.is_set():
                    if failures >= 3:
                        log.error("stream: %d messages left unacknowledged", len(job.received))
                        return False
                    time.sleep(1.0)
                else:
                    self._stop.wait(1.0)
        self._acknowledge(job.received)
        self.messages += len(job.received)
        self.last_message_at = job.last_at
        return True

    def _database_answers(self) -> bool:
        try:
            with self._db_lock, db.connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except Exception:
            db.connection.close()
            return False

    def _write_apart(self, job: _Job) -> bool:
        """Write the batch's messages in halves, down to single messages; a single message
        the database still refuses, while it answers, is set aside (counted as malformed,
        visible to staff) and acknowledged with the rest. Returns False, having written
        parts of it, when the database stopped answering (the whole batch is then retried:
        values are upserts and a re-counted signal is the QoS 1 duplicate any broker makes).
        """
        log.error(
            "stream: a batch of %d messages keeps failing while the database answers: "
            "writing it apart to find the message it refuses",
            len(job.received),
        )
        apart = Ingest(self.options.topic_base)
        parts = [job.received]
        while parts:
            part = parts.pop()
            for topic, payload, *_ in part:
                apart.add(topic, payload, job.last_at)
            try:
                with self._db_lock:
                    apart.write(apart.detach())
                continue
            except Exception:
                db.connection.close()
            if not self._database_answers():
                return False
            if len(part) > 1:
                middle = len(part) // 2
                parts += [part[middle:], part[:middle]]
                continue
            topic = part[0][0]
            log.error("stream: set aside a message the database refuses (topic %.200s)", topic)
            apart.set_aside(topic, job.last_at)
            try:
                with self._db_lock:
                    apart.write(apart.detach())
            except Exception:
                db.connection.close()
                return False
        return True

    def _acknowledge(self, received: list[_Received]) -> None:
        """Acknowledge, in order, the messages of the current connection (message ids are per
        connection: the broker redelivers the others).

        paho's ``ack`` queues one packet per message, which its network thread then writes
        with one system call each; here the PUBACKs of a batch go as ONE queued write (the
        same bytes, in the same order) through paho's packet queue, which ``ack`` and
        ``publish`` use from any thread. Checked against paho-mqtt 2.2 (pinned); without that
        internal, or for QoS 2, ``ack`` one by one.
        """
        generation = self._generation
        mids = [
            mid for _topic, _payload, mid, qos, gen in received if qos == 1 and gen == generation
        ]
        queue_packet = getattr(self.client, "_packet_queue", None)
        if mids and queue_packet is not None and self.client._manual_ack:
            pack = PUBACK.pack
            queue_packet(mqtt.PUBACK, b"".join([pack(mqtt.PUBACK, 2, mid) for mid in mids]), 0, 0)
        else:
            for mid in mids:
                self.client.ack(mid, 1)
        for _topic, _payload, mid, qos, gen in received:
            if qos == 2 and gen == generation:
                self.client.ack(mid, qos)

    def _heartbeat(self) -> None:
        delta = self.messages - self._heartbeat_messages
        values = {
            "connected": self.connected,
            "heartbeat_at": datetime.now(UTC),
            "last_message_at": self.last_message_at,
        }
        try:
            with self._db_lock:
                updated = StreamConsumer.objects.filter(client_id=self.options.client_id).update(
                    messages=F("messages") + delta,
                    **{k: v for k, v in values.items() if v is not None or k != "last_message_at"},
                )
                if not updated:
                    StreamConsumer.objects.create(
                        client_id=self.options.client_id, messages=delta, **values
                    )
        except Exception:
            log.exception("stream: heartbeat not written")
            db.connection.close()
            return
        self._heartbeat_messages = self.messages
        # Logged when something changed, and once a minute anyway: a quiet stream (make run)
        # does not fill the console with the same line every few seconds.
        state = (self.connected, self.messages, len(self._unacked) + self._in_flight)
        now = time.monotonic()
        if state != self._logged_state or now - self._logged_at >= 60:
            self._logged_state, self._logged_at = state, now
            log.info("stream: heartbeat connected=%s stored=%d waiting=%d", *state)

    def _shutdown(self) -> None:
        """Take what already arrived, store it, acknowledge it, then leave cleanly."""
        log.info("stream: stopping")
        while self._take(0.0):
            pass
        if self._writer is not None:
            if self._unacked:
                self._idle.wait()
                self._hand_over()
            self._jobs.put(None)
            self._writer.join()
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False
        self._heartbeat()
        log.info("stream: stopped after %s messages", self.messages)
