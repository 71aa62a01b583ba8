"""The telemetry stream at scale: 1,000 cars x 10 fields published at QoS 1 through a real
Mosquitto, consumed by `manage.py telemetry_stream` into PostgreSQL and, in the same run, by a
bare paho subscriber that stores nothing.

Phases, all on one Mosquitto (a private one by default, started by the bench with its queue
sized so no QoS 1 message is dropped; BENCH_STREAM_BROKER=system uses the machine's
127.0.0.1:1883 with its default limits, and the figures then report what it dropped):

1. capacity: several publisher processes send BENCH_STREAM_MESSAGES field messages as fast
   as they can, the consumer and the bare subscriber both subscribed before the first one;
   each rate is messages / seconds from the first publish until the last message is stored
   (consumer: its signal counts in StreamSignalDay cover them all) or received (bare).
2. sustained: BENCH_STREAM_RATE messages per second for BENCH_STREAM_SECONDS (60 by default;
   300 for the 5-minute run) plus probe messages whose value is their publish time, polled in
   StreamValue: the p95 delay from publish to visible; the consumer's RSS from /proc, its
   peak and its growth between the first and the last window (a minute, or a quarter of a
   shorter run).
3. two consumers on a shared subscription (`--shared-group`): the capacity phase again.

`.venv/bin/python -m bench bench_stream` (needs DATABASE_URL=postgres://…, as `make bench`).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager, suppress
from pathlib import Path

from bench.common import (
    ROOT,
    database_url,
    django_setup,
    free_port,
    on_postgres,
    report,
    test_database,
    wait_until,
)

CARS = int(os.environ.get("BENCH_STREAM_CARS", "1000"))
MESSAGES = int(os.environ.get("BENCH_STREAM_MESSAGES", "100000"))
SECONDS = float(os.environ.get("BENCH_STREAM_SECONDS", "60"))
RATE = float(os.environ.get("BENCH_STREAM_RATE", "5000"))
PUBLISHERS = int(os.environ.get("BENCH_STREAM_PUBLISHERS", "2"))
BROKER = os.environ.get("BENCH_STREAM_BROKER", "private")  # or "system"
PUBLISHER = os.environ.get("BENCH_STREAM_PUBLISHER", "raw")  # or "paho"
# Extra options for `manage.py telemetry_stream`, e.g. "--flush-messages 10000" (default: none,
# the figures are those of the settings an operator gets).
CONSUMER_ARGS = shlex.split(os.environ.get("BENCH_STREAM_CONSUMER_ARGS", ""))
# Field messages per car: real names from the catalogue (a consumer may count unknown ones).
FIELDS = (
    "Soc",
    "BatteryLevel",
    "VehicleSpeed",
    "Odometer",
    "EstBatteryRange",
    "PackVoltage",
    "PackCurrent",
    "OutsideTemp",
    "InsideTemp",
    "ChargeAmps",
)
PROBE_CARS = 50
PROBE_FIELD = "Odometer"
PROBE_EVERY = 0.2  # seconds; each probe car gets a new value every PROBE_CARS x this
QOS = 1
LOG_DIR = ROOT / "var"


def _vins(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n:09d}" for n in range(count)]


# ---------------------------------------------------------------- worker processes (no Django)


def _client(client_id: str, *, v5: bool):
    import paho.mqtt.client as mqtt

    return mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
    )


def _connect(client, host: str, port: int, **kwargs) -> None:
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    client.connect(host, port, keepalive=60, **kwargs)
    client.loop_start()
    if not connected.wait(15):
        raise RuntimeError(f"could not connect to {host}:{port}")


def _publisher(spec: dict) -> dict:
    """Publish spec["count"] field messages over the cars x fields topics (at spec["rate"] per
    second, or as fast as QoS 1 allows when 0), once "go" arrives on stdin."""
    client = _client(spec["client_id"], v5=False)
    client.max_inflight_messages_set(spec.get("inflight", 1000))
    client.max_queued_messages_set(0)
    acked = [0]
    done = threading.Event()
    count = spec["count"]

    def on_publish(*_args) -> None:
        acked[0] += 1
        if acked[0] >= count:
            done.set()

    client.on_publish = on_publish
    _connect(client, spec["host"], spec["port"])
    base, vins = spec["base"], spec["vins"]
    topics = [f"{base}/{vin}/v/{field}" for field in FIELDS for vin in vins]
    offset = spec["offset"]
    payloads = [json.dumps(round(20 + (n * 7.3) % 80, 1)).encode() for n in range(97)]
    rate = spec["rate"]
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    t0 = time.time()
    publish = client.publish
    for k in range(count):
        n = offset + k
        publish(topics[n % len(topics)], payloads[n % 97], qos=QOS)
        if rate and k % 50 == 49:
            ahead = t0 + (k + 1) / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
    if count and not done.wait(max(120, 3 * count / max(rate, 1000))):
        raise RuntimeError(f"only {acked[0]} of {count} publishes acknowledged")
    t1 = time.time()
    client.disconnect()
    client.loop_stop()
    return {"published": count, "acked": acked[0], "started": t0, "finished": t1}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _raw_publisher(spec: dict) -> dict:
    """The same messages as _publisher, QoS 1 over MQTT 3.1.1, written on a bare socket: PUBLISH
    packets encoded here and sent in batches, at most `window` not yet acknowledged, every
    PUBACK counted. A paho publisher spends ~150 us of Python per message, which on 2 cores
    makes the publisher, not the consumer, the limit."""
    import socket
    import struct

    sock = socket.create_connection((spec["host"], spec["port"]), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_id = spec["client_id"].encode()
    # CONNECT: protocol "MQTT" level 4, clean session, keepalive 0 (off).
    body = b"\x00\x04MQTT\x04\x02\x00\x00" + struct.pack("!H", len(client_id)) + client_id
    sock.sendall(b"\x10" + _varint(len(body)) + body)
    connack = sock.recv(4)
    if connack[:1] != b"\x20" or connack[3:4] != b"\x00":
        raise RuntimeError(f"CONNACK refused: {connack!r}")
    base, vins, count, rate = spec["base"], spec["vins"], spec["count"], spec["rate"]
    heads = [
        struct.pack("!H", len(t)) + t
        for t in (f"{base}/{vin}/v/{field}".encode() for field in FIELDS for vin in vins)
    ]
    payloads = [json.dumps(round(20 + (n * 7.3) % 80, 1)).encode() for n in range(97)]
    acked = [0]
    failed: list[str] = []

    def read_acks() -> None:
        pending = b""
        try:
            while acked[0] < count:
                data = sock.recv(65536)
                if not data:
                    failed.append("connection closed")
                    return
                pending += data
                n = len(pending) // 4
                if pending[: 4 * n : 4] != b"\x40" * n:
                    failed.append(f"unexpected packet {pending[:8]!r}")
                    return
                pending = pending[4 * n :]
                acked[0] += n
        except OSError as exc:
            failed.append(str(exc))

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    window, batch = spec.get("window", 5000), 100
    offset = spec["offset"]
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    t0 = time.time()
    sent = 0
    while sent < count and not failed:
        while sent - acked[0] > window - batch and not failed:
            time.sleep(0.0005)
        end = min(count, sent + batch)
        packets = []
        for k in range(sent, end):
            n = offset + k
            head, payload = heads[n % len(heads)], payloads[n % 97]
            packets.append(
                b"\x32"
                + _varint(len(head) + 2 + len(payload))
                + head
                + struct.pack("!H", k % 65535 + 1)
                + payload
            )
        sock.sendall(b"".join(packets))
        sent = end
        if rate:
            ahead = t0 + sent / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
    reader.join(max(120, 3 * count / max(rate, 1000)))
    if failed or acked[0] < count:
        raise RuntimeError(f"{acked[0]} of {count} publishes acknowledged {failed}")
    t1 = time.time()
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    return {"published": count, "acked": acked[0], "started": t0, "finished": t1}


def _bare(spec: dict) -> dict:
    """A bare subscriber: paho, QoS 1, counts messages under the topic base and stores
    nothing; stops at spec["expect"] messages or after spec["idle"] seconds without one."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = _client(spec["client_id"], v5=True)
    state = {"received": 0, "first": None, "last": None}
    subscribed = threading.Event()
    complete = threading.Event()
    expect = spec["expect"]

    def on_message(_client, _userdata, _message) -> None:
        now = time.time()
        if state["first"] is None:
            state["first"] = now
        state["last"] = now
        state["received"] += 1
        if state["received"] >= expect:
            complete.set()

    client.on_message = on_message
    client.on_subscribe = lambda *a: subscribed.set()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    # As the consumer asks (telemetry/stream/client.py): without it Mosquitto sends at most
    # max_inflight_messages (20 by default) unacknowledged and queues, then drops, the rest.
    props.ReceiveMaximum = 20000
    _connect(client, spec["host"], spec["port"], clean_start=True, properties=props)
    client.subscribe(f"{spec['base']}/#", qos=QOS)
    if not subscribed.wait(15):
        raise RuntimeError("no SUBACK")
    print("ready", flush=True)
    seen = -1
    while not complete.wait(spec["idle"]):
        if state["received"] == seen:
            break  # nothing new for `idle` seconds: the rest was dropped
        seen = state["received"]
    client.disconnect()
    client.loop_stop()
    return state


def _worker_main(role: str) -> None:
    spec = json.loads(sys.stdin.readline())
    if role == "bare":
        result = _bare(spec)
    elif PUBLISHER == "paho":
        result = _publisher(spec)
    else:
        result = _raw_publisher(spec)
    print(json.dumps(result), flush=True)


@contextmanager
def _worker(role: str, spec: dict):
    """A worker process of this module; yields (process, a function returning its result)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_stream", role],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    proc.stdin.write(json.dumps(spec) + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise RuntimeError(f"{role} worker did not start: {line!r}")

    def result(timeout: float = 600) -> dict:
        out, _ = proc.communicate(timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    try:
        yield proc, result
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def _publishers(host: str, port: int, base: str, vins: list[str], total: int, rate: float):
    """PUBLISHERS connected publisher processes; yields go() that starts them all at once and
    returns (the wall time they started, a function that waits for their results)."""
    share = total // PUBLISHERS
    with _many(
        _worker(
            "publish",
            {
                "client_id": f"{base}-pub-{i}",
                "host": host,
                "port": port,
                "base": base,
                "vins": vins,
                "count": share + (total % PUBLISHERS if i == 0 else 0),
                "offset": i * share,
                "rate": rate / PUBLISHERS,
            },
        )
        for i in range(PUBLISHERS)
    ) as workers:

        def go() -> tuple[float, object]:
            started = time.time()
            for proc, _ in workers:
                proc.stdin.write("go\n")
                proc.stdin.flush()

            def results() -> list[dict]:
                return [result() for _, result in workers]

            return started, results

        yield go


@contextmanager
def _many(contexts):
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield [stack.enter_context(c) for c in contexts]


# ---------------------------------------------------------------- broker and consumer processes


@contextmanager
def _broker():
    """(host, port, label): a private Mosquitto sized for the bench, or the machine's own."""
    if BROKER == "system":
        yield "127.0.0.1", 1883, "system mosquitto 127.0.0.1:1883 (default limits)"
        return
    port = free_port()
    LOG_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-mosquitto-") as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        queued = max(1_000_000, 4 * MESSAGES)
        conf.write_text(
            f"listener {port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            # Past max_queued_messages Mosquitto drops QoS 1 messages for a client silently
            # (1000 by default); max_inflight_messages (20 by default) caps the messages sent
            # and not yet acknowledged, which a consumer that acknowledges after its flush
            # needs to be at least a flush's worth.
            f"max_queued_messages {queued}\n"
            "max_queued_bytes 0\n"
            "max_inflight_messages 0\n"
            f"log_dest file {LOG_DIR / 'bench-mosquitto.log'}\n"
            "log_type error\nlog_type warning\n"
        )
        proc = subprocess.Popen(
            ["mosquitto", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until(lambda: _port_open(port), 10, "the private mosquitto", every=0.1)
            yield "127.0.0.1", port, f"private mosquitto 127.0.0.1:{port} (max_queued {queued})"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Rss:
    """Samples a process's resident memory (VmRSS in /proc) every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                text = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    self.samples.append((time.time(), int(line.split()[1]) / 1024))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)

    def window_peak(self, start: float, end: float) -> float:
        return max((mb for t, mb in self.samples if start <= t <= end), default=0.0)


@contextmanager
def _consumer(env: dict[str, str], host: str, port: int, base: str, client_id: str, group=""):
    LOG_DIR.mkdir(exist_ok=True)
    log_path = LOG_DIR / f"bench-stream-{client_id.rsplit('-', 1)[-1]}.log"
    args = [
        sys.executable, "manage.py", "telemetry_stream",
        "--url", f"mqtt://{host}:{port}", "--client-id", client_id, "--topic-base", base,
    ]  # fmt: skip
    if group:
        args += ["--shared-group", group]
    args += CONSUMER_ARGS
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            time.sleep(0.5)
            if proc.poll() is not None:
                raise RuntimeError(f"the consumer exited; see {log_path}")
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # graceful: flush, ack, disconnect
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            _forget_session(host, port, client_id)


def _forget_session(host: str, port: int, client_id: str) -> None:
    """Connect once with clean start and no expiry: the broker drops the consumer's
    persistent session (and its queue), so nothing lingers on a shared broker."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    with suppress(Exception):
        client = _client(client_id, v5=True)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        _connect(client, host, port, clean_start=True, properties=props)
        client.disconnect()
        client.loop_stop()


# ---------------------------------------------------------------- what the database shows


def _stored() -> int:
    """Field messages the consumer has stored: its signal counts (one per field message)."""
    from django.db.models import Sum

    from telemetry.models import StreamSignalDay

    return StreamSignalDay.objects.aggregate(n=Sum("signals"))["n"] or 0


class Probes:
    """Probe messages whose value is their publish time, rotated over PROBE_CARS cars, and a
    poller that notes when each becomes visible in StreamValue."""

    def __init__(self, host: str, port: int, base: str, vins: list[str], ids: list[int]):
        self.base, self.vins, self.ids = base, vins, ids
        self.sent: list[float] = []
        self.seen: dict[float, float] = {}
        self._stop_publishing, self._stop_polling = threading.Event(), threading.Event()
        self._client = _client(f"{base}-probe", v5=False)
        self._client.max_inflight_messages_set(100)
        _connect(self._client, host, port)
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._publisher = threading.Thread(target=self._publish, daemon=True)
        self._poller.start()
        self._publisher.start()

    def _publish(self) -> None:
        n = 0
        while not self._stop_publishing.wait(PROBE_EVERY):
            sent = round(time.time(), 6)
            vin = self.vins[n % len(self.vins)]
            self._client.publish(f"{self.base}/{vin}/v/{PROBE_FIELD}", json.dumps(sent), qos=QOS)
            self.sent.append(sent)
            n += 1

    def _poll(self) -> None:
        from django.db import connection

        from telemetry.models import StreamValue

        rows = StreamValue.objects.filter(vehicle_id__in=self.ids, field=PROBE_FIELD)
        try:
            while not self._stop_polling.wait(0.05):
                now = time.time()
                for value in rows.values_list("value", flat=True):
                    with suppress(TypeError, ValueError):
                        self.seen.setdefault(float(value), now)
        finally:
            connection.close()

    def stop(self, settle: float) -> None:
        """Stop publishing; keep polling up to `settle` seconds for the last probes."""
        self._stop_publishing.set()
        self._publisher.join()
        deadline = time.monotonic() + settle
        while self.sent and self.sent[-1] not in self.seen and time.monotonic() < deadline:
            time.sleep(0.1)
        self._stop_polling.set()
        self._poller.join()
        self._client.disconnect()
        self._client.loop_stop()

    def delays(self) -> list[float]:
        """Publish-to-visible delay of each probe; a probe never seen (overwritten by the next
        one on its car before it showed) counts as infinitely late."""
        return sorted(self.seen[s] - s if s in self.seen else float("inf") for s in self.sent)


# ---------------------------------------------------------------- phases


def _warm_up(host: str, port: int, base: str, vin: str, clients: list[str]) -> None:
    """Publish until the consumers have stored something: they are subscribed. With several
    consumers on a shared subscription, until each one's heartbeat counts messages."""
    from telemetry.models import StreamConsumer, StreamValue

    client = _client(f"{base}-warmup", v5=False)
    _connect(client, host, port)
    value = -1.0

    def ready() -> bool:
        if not StreamValue.objects.filter(vehicle__vin=vin, value=value).exists():
            return False
        if len(clients) == 1:
            return True
        rows = StreamConsumer.objects.filter(client_id__in=clients, messages__gt=0)
        return rows.count() == len(clients)

    deadline = time.monotonic() + 60
    try:
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the consumers {clients} stored nothing; see var/*.log")
            value -= 1
            client.publish(f"{base}/{vin}/v/{PROBE_FIELD}", json.dumps(value), qos=QOS)
            time.sleep(0.2)
    finally:
        client.disconnect()
        client.loop_stop()


def _wait_stored(target: int, *, idle: float = 20.0) -> tuple[float, int]:
    """Poll until `target` messages are stored, or nothing new arrived for `idle` seconds:
    (wall time of the last progress, stored count)."""
    progress_at, seen = time.time(), -1
    while True:
        n = _stored()
        if n != seen:
            seen, progress_at = n, time.time()
        if n >= target or time.time() - progress_at > idle:
            return progress_at, n
        time.sleep(0.05)


def _bare_capacity(host: str, port: int, base: str, vins: list[str]) -> dict:
    """MESSAGES published as fast as the publishers go to the bare subscriber alone (on a topic
    base of its own, so the consumer idles): its rate from the first publish to the last
    message received, and the publishers' own rate."""
    spec = {"client_id": f"{base}-bare", "host": host, "port": port, "base": base}
    with _worker("bare", {**spec, "expect": MESSAGES, "idle": 20}) as (_, bare_result):
        with _publishers(host, port, base, vins, MESSAGES, rate=0) as go:
            started, results = go()
            pubs = results()
        seen = bare_result()
    received = seen["received"]
    return {
        "publisher": MESSAGES / (max(p["finished"] for p in pubs) - started),
        "bare": received / (seen["last"] - started) if received else 0.0,
        "dropped": MESSAGES - received,
    }


def _consumer_capacity(host: str, port: int, base: str, vins: list[str]) -> dict:
    """The same to the consumer(s): the rate from the first publish until StreamSignalDay
    counts them all (or nothing more arrived for 20 s: the rest was dropped)."""
    baseline = _stored()
    with _publishers(host, port, base, vins, MESSAGES, rate=0) as go:
        started, results = go()
        stored_at, stored = _wait_stored(baseline + MESSAGES)
        pubs = results()
    stored -= baseline
    return {
        "publisher": MESSAGES / (max(p["finished"] for p in pubs) - started),
        "consumer": stored / (stored_at - started),
        "dropped": max(0, MESSAGES - stored),
    }


def _sustained(host, port, base, vins, probe_vins, probe_ids, rss: Rss) -> dict:
    """RATE messages per second for SECONDS with probes: p95 delay, memory over the run."""
    total = int(RATE * SECONDS)
    baseline = _stored()
    probes = Probes(host, port, base, probe_vins, probe_ids)
    with _publishers(host, port, base, vins, total, rate=RATE) as go:
        started, results = go()
        pubs = results()
    finished = max(p["finished"] for p in pubs)
    probes.stop(settle=10)
    stored_at, stored = _wait_stored(baseline + total + len(probes.sent))
    delays = probes.delays()
    p95 = delays[max(0, -(-95 * len(delays) // 100) - 1)] if delays else float("inf")
    window = min(60.0, (finished - started) / 4)
    return {
        "offered": total / (finished - started),
        "p95": p95,
        "probes": len(delays),
        "probes_seen": sum(1 for d in delays if d != float("inf")),
        "max_delay": max((d for d in delays if d != float("inf")), default=float("inf")),
        "dropped": max(0, baseline + total + len(probes.sent) - stored),
        # How long after the last publish the consumer had stored everything: near the flush
        # interval when it keeps up, growing with the run when it does not.
        "lag": max(0.0, stored_at - finished),
        "window": window,
        "rss_first": rss.window_peak(started, started + window),
        "rss_last": rss.window_peak(finished - window, finished),
    }


def _figure(name: str, value: float) -> None:
    print(f"bench: {name}={value:.3f}" if isinstance(value, float) else f"bench: {name}={value}")


def main() -> None:
    django_setup()
    from django.core.management import get_commands

    if not on_postgres("bench_stream"):
        return
    if "telemetry_stream" not in get_commands():
        print("bench_stream: skipped, this tree has no `manage.py telemetry_stream`")
        return
    from vehicles.models import Vehicle

    run = uuid.uuid4().hex[:8]
    base = f"fp-bench-{run}"
    vins = _vins("5YJ3E1EA", CARS)
    probe_vins = _vins("5YJ3E1EP", PROBE_CARS)
    load_before = os.getloadavg()[0]
    with test_database() as db, _broker() as (host, port, broker):
        Vehicle.objects.bulk_create(Vehicle(vin=vin, model="3") for vin in vins + probe_vins)
        probe_ids = list(Vehicle.objects.filter(vin__in=probe_vins).values_list("pk", flat=True))
        env = {
            "DATABASE_URL": database_url(db),
            "DJANGO_SETTINGS_MODULE": "fleetportal.settings.test",
        }
        one = f"{base}-one"
        with _consumer(env, host, port, base, one) as proc:
            rss = Rss(proc.pid)
            _warm_up(host, port, base, probe_vins[0], [one])
            bare = _bare_capacity(host, port, f"{base}-bare", vins)
            capacity = _consumer_capacity(host, port, base, vins)
            sustained = _sustained(host, port, base, vins, probe_vins, probe_ids, rss)
            rss.stop()
        shared_base = f"{base}-shared"
        group = f"bench{run}"
        pair = [f"{base}-a", f"{base}-b"]
        with (
            _consumer(env, host, port, shared_base, pair[0], group),
            _consumer(env, host, port, shared_base, pair[1], group),
        ):
            _warm_up(host, port, shared_base, probe_vins[0], pair)
            shared = _consumer_capacity(host, port, shared_base, vins)

    ratio = capacity["consumer"] / bare["bare"] if bare["bare"] else 0.0
    dropped = capacity["dropped"] + sustained["dropped"] + shared["dropped"]
    report(
        f"telemetry stream: {CARS} cars x {len(FIELDS)} fields, QoS 1, {PUBLISHERS} {PUBLISHER} "
        f"publisher processes, {broker} (targets: >= 5,000 msg/s, ratio >= 0.8, p95 <= 2 s, "
        "memory flat over BENCH_STREAM_SECONDS=300)",
        [
            (
                f"{MESSAGES} messages to the bare subscriber (no database)",
                f"{bare['bare']:.0f} msg/s; publishers {bare['publisher']:.0f} msg/s",
            ),
            (
                f"{MESSAGES} messages to the consumer into PostgreSQL",
                f"{capacity['consumer']:.0f} msg/s, ratio {ratio:.2f}; "
                f"publishers {capacity['publisher']:.0f} msg/s",
            ),
            (
                f"{MESSAGES} messages to two consumers, shared subscription",
                f"{shared['consumer']:.0f} msg/s",
            ),
            (
                f"sustained {SECONDS:.0f} s at {RATE:.0f} msg/s to the consumer",
                f"offered {sustained['offered']:.0f} msg/s, p95 delay {sustained['p95']:.2f} s "
                f"(max {sustained['max_delay']:.2f} s, {sustained['probes_seen']}/"
                f"{sustained['probes']} probes seen), all stored {sustained['lag']:.1f} s "
                "after the last publish",
            ),
            (
                "consumer memory (VmRSS)",
                f"peak {rss.peak():.0f} MB; first {sustained['window']:.0f} s "
                f"{sustained['rss_first']:.0f} MB, last {sustained['window']:.0f} s "
                f"{sustained['rss_last']:.0f} MB",
            ),
            ("messages lost", f"consumer {dropped}, bare subscriber {bare['dropped']}"),
            (
                "machine load (1-minute average, 2 cores shared)",
                f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after",
            ),
            ("consumer options", " ".join(CONSUMER_ARGS) or "defaults"),
        ],
    )
    _figure("stream.msgs_per_s", capacity["consumer"])
    _figure("stream.bare_msgs_per_s", bare["bare"])
    _figure("stream.publisher_msgs_per_s", min(bare["publisher"], capacity["publisher"]))
    _figure("stream.ratio_vs_bare", ratio)
    _figure("stream.p95_delay_s", sustained["p95"])
    _figure("stream.sustained_msgs_per_s", sustained["offered"])
    _figure("stream.sustained_lag_s", sustained["lag"])
    _figure("stream.peak_rss_mb", rss.peak())
    _figure("stream.rss_growth_mb", sustained["rss_last"] - sustained["rss_first"])
    _figure("stream.msgs_per_s_two_consumers", shared["consumer"])
    _figure("stream.dropped", dropped)
    _figure("stream.bare_dropped", bare["dropped"])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("publish", "bare"):
        _worker_main(sys.argv[1])
    else:
        main()
