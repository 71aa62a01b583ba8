"""The sandbox as the cars and as Tesla's fleet-telemetry server: §10.1 messages on MQTT.

`python -m sandbox --mqtt-url mqtt://127.0.0.1:1883` starts one `Publisher`. For every car
whose telemetry config is synced (and not rejected) it publishes what the MQTT dispatcher of
Tesla's fleet-telemetry server would:

- `<base>/<VIN>/v/<Field>`: the bare JSON value of each *configured* field, checked every
  `interval_seconds` and sent when it changed (by at least `minimum_delta` for numbers) or
  when `resend_interval_seconds` passed since it was last sent (§5.3, §10.2);
- `<base>/<VIN>/connectivity`: CONNECTED when the car (re)connects, DISCONNECTED when it
  falls asleep, goes offline or loses its config;
- `<base>/<VIN>/errors/unsupported_field`: once per configured field the car's firmware
  cannot send (`sandbox.firmware.FIELD_MINIMA`), Tags `{"field": <name>}` (§10.2);
- `<base>/<VIN>/alerts/<Name>/current` and `/history`: now and then, for configs with
  `alert_types`.

Each car is a small simulation in "sim seconds" (wall seconds times `time_scale`): it parks,
drives a loop around its region's city (battery drains, odometer rises, location moves),
parks, charges (battery rises with charger power), parks again and, after
`stream_sleep_after` sim seconds parked, sleeps for `stream_sleep_for` (world settings;
0 = never sleeps). Sleeping sets the world's vehicle state to asleep, so the Fleet API
agrees; a car the Fleet API wakes (or the control API sets online) reconnects.

Whenever a car connects (first adoption of a config, wake, un-silence) or a config is posted
again (a new `created_at`), it sends every configured field once (fleet-telemetry #246).
A car with several apps' configs streams the union of their fields (smallest interval wins).

One scheduler thread (plus paho's network thread) drives every car from one heap: per car
one entry per configured field and one for its next phase change. `refresh()` re-reads the
world at once; the control API calls it so that e.g. a silence is in force when it answers.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import logging
import math
import random
import ssl
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sandbox import fleet
from sandbox.firmware import unsupported_fields
from sandbox.state import DEFAULT_SETTINGS, World

log = logging.getLogger(__name__)

SYNC_SECONDS = 0.5  # wall seconds between two looks at the world
SLICE_SECONDS = 0.05  # wall seconds of publishing before others get the lock
SAVE_SECONDS = 30.0  # wall seconds between two saves of the cars' positions and odometers
# Flow control: at most this many messages handed to paho and not yet acknowledged (QoS 1)
# or written (QoS 0). Past it the scheduler waits for the broker (so a burst is slowed down,
# not dropped) for up to STALL_SECONDS, then drops and counts ("dropped" in the status): a
# broker that is away must not freeze the cars or grow memory.
MAX_PENDING = 2_000
STALL_SECONDS = 1.0
INFLIGHT = 100

ALERT_NAMES = (
    "CHG_a024_chargeRateReduced",
    "BMS_a066_packCellImbalance",
    "VCFRONT_a180_lowVoltageBattery",
)
ALERT_SECONDS = 300.0  # sim seconds an alert stays active
ALERT_CHANCE = 0.3  # per charging session
CITIES = {"NA": (37.4925, -121.9447), "EU": (52.5200, 13.4050), "CN": (31.2304, 121.4737)}
ROUTE_RADIUS_KM = 4.0
PACK_KWH = 75.0
WH_PER_MILE = 250.0
PARKED_DRAIN_PER_HOUR = 0.3  # % per hour: sentry and the computer keep the car busy
CHARGE_LIMIT = 80
KM_PER_DEG = 111.32


# -- the car -----------------------------------------------------------------------------------


@dataclass
class FieldSpec:
    interval: float
    minimum_delta: float | None = None
    resend: float | None = None


def field_specs(configs: list[dict[str, Any]]) -> dict[str, FieldSpec]:
    """The union of the configs' fields; for a field in several, the smallest settings."""
    specs: dict[str, FieldSpec] = {}
    for config in configs:
        for name, raw in (config.get("fields") or {}).items():
            raw = raw if isinstance(raw, dict) else {}
            spec = FieldSpec(
                interval=float(raw.get("interval_seconds") or 60),
                minimum_delta=_number(raw.get("minimum_delta")),
                resend=_number(raw.get("resend_interval_seconds")),
            )
            old = specs.get(name)
            if old is not None:
                spec.interval = min(spec.interval, old.interval)
                spec.minimum_delta = _smallest(spec.minimum_delta, old.minimum_delta)
                spec.resend = _smallest(spec.resend, old.resend)
            specs[name] = spec
    return specs


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _smallest(a: float | None, b: float | None) -> float | None:
    return min(x for x in (a, b) if x is not None) if a is not None or b is not None else None


@dataclass
class Sim:
    """One car's physical state, advanced in sim seconds through a cycle of phases."""

    vin: str
    region: str
    sleep_after: float
    sleep_for: float
    t: float = 0.0
    phase: str = "parked"
    phase_until: float = 0.0
    soc: float = 0.0
    odometer: float = 0.0
    angle: float = 0.0  # position on the route circle, radians
    speed: float = 0.0  # mph
    charge_kw: float = 0.0
    fast_charger: bool = False
    session_kwh: float = 0.0  # energy added by the current (or last) charging session
    parked_since: float = 0.0
    step: int = 0
    rng: random.Random = field(default_factory=random.Random)

    # The cycle: (phase, sim seconds); "charging" lasts until the charge limit.
    CYCLE = (
        ("parked", 120.0),
        ("driving", 1200.0),
        ("parked", 600.0),
        ("charging", math.inf),
        ("complete", 600.0),
        ("parked", -1.0),  # sleep_after
        ("asleep", -2.0),  # sleep_for
    )

    @classmethod
    def for_vehicle(cls, vin: str, region: str, sleep_after: float, sleep_for: float) -> Sim:
        seed = zlib.crc32(vin.encode())
        rng = random.Random(seed)  # noqa: S311 (a simulation, not a secret)
        sim = cls(
            vin=vin,
            region=region if region in CITIES else "NA",
            sleep_after=sleep_after,
            sleep_for=sleep_for,
            soc=40.0 + seed % 35,
            odometer=5_000.0 + seed % 40_000,
            angle=(seed % 628) / 100,
            rng=rng,
        )
        sim.phase_until = sim._duration(0)
        return sim

    def _duration(self, step: int) -> float:
        phase, seconds = self.CYCLE[step]
        if seconds == -1.0:
            return self.sleep_after if self.sleep_after > 0 else 1800.0
        if seconds == -2.0:
            return self.sleep_for
        return seconds

    def advance(self, t: float) -> list[str]:
        """Move to sim time `t`; returns the phases entered on the way (oldest first)."""
        entered = []
        while self.t < t:
            end = min(t, self.phase_until)
            self._run(end - self.t)
            self.t = end
            if self.t >= self.phase_until:
                entered.append(self.next_phase())
        return entered

    def next_phase(self) -> str:
        while True:
            self.step = (self.step + 1) % len(self.CYCLE)
            phase = self.CYCLE[self.step][0]
            if phase == "asleep" and not (self.sleep_after > 0 and self.sleep_for > 0):
                continue  # sleeping switched off
            break
        self.enter(phase, self.t + self._duration(self.step))
        return phase

    def enter(self, phase: str, until: float) -> None:
        self.phase, self.phase_until = phase, until
        self.speed = 0.0
        self.charge_kw = 0.0
        if phase == "parked":
            self.parked_since = self.t
        elif phase == "charging":
            self.fast_charger = self.rng.random() < 0.25
            self.charge_kw = 150.0 if self.fast_charger else 11.0
            self.session_kwh = 0.0
            hours = max(0.0, CHARGE_LIMIT - self.soc) / 100 * PACK_KWH / self.charge_kw
            self.phase_until = self.t + hours * 3600

    def wake(self) -> None:
        """The car wakes (Fleet API wake_up, control API): parked, at the cycle's start."""
        self.step = 0
        self.enter("parked", self.t + self._duration(0))

    def sleep_forever(self) -> None:
        """Asleep until the world wakes it (not a timed sleep of the cycle)."""
        self.enter("asleep", math.inf)

    def _run(self, dt: float) -> None:
        if dt <= 0:
            return
        if self.phase == "driving":
            # Speed wanders between ~25 and ~70 mph along a loop around the city.
            self.speed = 47 + 22 * math.sin(self.t / 90) + self.rng.uniform(-3, 3)
            miles = self.speed * dt / 3600
            self.odometer += miles
            self.soc = max(1.0, self.soc - miles * WH_PER_MILE / (PACK_KWH * 10))
            self.angle += miles * 1.609 / ROUTE_RADIUS_KM
        elif self.phase == "charging":
            room = max(0.0, (CHARGE_LIMIT - self.soc) / 100 * PACK_KWH)
            added = min(self.charge_kw * dt / 3600, room)  # kWh, up to the charge limit
            self.session_kwh += added
            self.soc += added / PACK_KWH * 100
        elif self.phase in ("parked", "complete"):
            self.soc = max(1.0, self.soc - PARKED_DRAIN_PER_HOUR * dt / 3600)

    # -- what the car reports ----------------------------------------------------------------

    def location(self) -> tuple[float, float, float]:
        lat0, lon0 = CITIES[self.region]
        r = ROUTE_RADIUS_KM / KM_PER_DEG
        lat = lat0 + r * math.sin(self.angle)
        lon = lon0 + r * math.cos(self.angle) / math.cos(math.radians(lat0))
        heading = (math.degrees(-self.angle) % 360 + 360) % 360  # tangent, counter-clockwise
        return lat, lon, heading

    def value(self, name: str, firmware: str) -> Any:
        maker = VALUES.get(name)
        return maker(self, firmware) if maker else fallback_value(self, name)


def car_version(firmware: str) -> str:
    """What the car calls its software: the version and a build hash (Version, car_version)."""
    return f"{firmware} 5a9c1e0d3b72"


def _charging(sim: Sim) -> bool:
    return sim.phase == "charging"


def _plugged(sim: Sim) -> bool:
    return sim.phase in ("charging", "complete")


def _detailed_charge_state(sim: Sim, _fw: str) -> str:
    if sim.phase == "charging":
        return "DetailedChargeStateCharging"
    if sim.phase == "complete":
        return "DetailedChargeStateComplete"
    return "DetailedChargeStateDisconnected"


def _time_to_full(sim: Sim, _fw: str) -> float:
    if not _charging(sim) or not sim.charge_kw:
        return 0.0
    return round((CHARGE_LIMIT - sim.soc) / 100 * PACK_KWH / sim.charge_kw, 2)


def _miles_to_arrival(sim: Sim) -> float | None:
    if sim.phase != "driving":
        return None  # invalid while not navigating: the server sends null
    remaining = max(0.0, sim.phase_until - sim.t)
    return round(remaining * max(sim.speed, 1) / 3600, 2)


VALUES: dict[str, Any] = {
    "BatteryLevel": lambda s, fw: round(s.soc, 2),
    "Soc": lambda s, fw: round(max(0.0, s.soc - 0.7), 2),
    "EstBatteryRange": lambda s, fw: round(s.soc * 2.9, 2),
    "RatedRange": lambda s, fw: round(s.soc * 3.1, 2),
    "IdealBatteryRange": lambda s, fw: round(s.soc * 3.3, 2),
    "EnergyRemaining": lambda s, fw: round(s.soc / 100 * PACK_KWH, 3),
    "VehicleSpeed": lambda s, fw: round(s.speed, 1),
    "Odometer": lambda s, fw: round(s.odometer, 3),
    "Gear": lambda s, fw: "ShiftStateD" if s.phase == "driving" else "ShiftStateP",
    "Location": lambda s, fw: {
        "latitude": round(s.location()[0], 6),
        "longitude": round(s.location()[1], 6),
    },
    "GpsHeading": lambda s, fw: round(s.location()[2], 1),
    "DetailedChargeState": _detailed_charge_state,
    "ChargeLimitSoc": lambda s, fw: CHARGE_LIMIT,
    "ACChargingPower": lambda s, fw: s.charge_kw if _charging(s) and not s.fast_charger else 0.0,
    "DCChargingPower": lambda s, fw: s.charge_kw if _charging(s) and s.fast_charger else 0.0,
    "ChargerVoltage": lambda s, fw: (400.0 if s.fast_charger else 240.0) if _charging(s) else 0.0,
    "ChargeAmps": lambda s, fw: 48 if _charging(s) and not s.fast_charger else 0,
    "FastChargerPresent": lambda s, fw: _charging(s) and s.fast_charger,
    "ChargePortDoorOpen": lambda s, fw: _plugged(s),
    "TimeToFullCharge": _time_to_full,
    "Locked": lambda s, fw: not (s.phase == "parked" and s.t - s.parked_since < 60),
    "DoorState": lambda s, fw: {
        door: s.phase == "parked" and s.t - s.parked_since < 30 and door == "DriverFront"
        for door in (
            "DriverFront",
            "DriverRear",
            "PassengerFront",
            "PassengerRear",
            "TrunkFront",
            "TrunkRear",
        )
    },
    "SentryMode": lambda s, fw: (
        "SentryModeStateArmed" if s.phase in ("parked", "complete") else "SentryModeStateOff"
    ),
    "Version": lambda s, fw: car_version(fw),
    "InsideTemp": lambda s, fw: round(21.0 + (0 if s.phase == "driving" else 2.5), 1),
    "OutsideTemp": lambda s, fw: round(14.0 + 6 * math.sin(s.t / 43200 * math.pi), 1),
    "MilesToArrival": lambda s, fw: _miles_to_arrival(s),
    "MinutesToArrival": lambda s, fw: (
        None if s.phase != "driving" else round(max(0.0, s.phase_until - s.t) / 60, 1)
    ),
    "DestinationName": lambda s, fw: "Home" if s.phase == "driving" else None,
}
BOOL_HINTS = ("Open", "Enabled", "Active", "Present", "Installed", "Pending", "Locked", "Mode")


def fallback_value(sim: Sim, name: str) -> Any:
    """A steady, type-plausible value for a field the simulation does not model."""
    if any(hint in name for hint in BOOL_HINTS):
        return False
    if "Temp" in name:
        return 20.0 + zlib.crc32(name.encode()) % 50 / 10
    return round(zlib.crc32(f"{sim.vin}:{name}".encode()) % 10_000 / 10, 1)


@dataclass
class Car:
    vin: str
    region: str
    firmware: str
    sim: Sim
    configs: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    alert_types: bool = False
    gen: int = 0
    connected: bool = False
    connection_id: str = ""
    silenced: bool = False
    dropped: set[str] = field(default_factory=set)
    as_string: set[str] = field(default_factory=set)
    last_sent: dict[str, tuple[Any, float]] = field(default_factory=dict)
    active_alert: str | None = None
    phase_at: float | None = None  # the phase change the heap holds for this car


# -- the publisher ----------------------------------------------------------------------------


@dataclass
class MqttTarget:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    version: int

    @classmethod
    def parse(cls, url: str) -> MqttTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            # Not the URL itself: it may hold a password.
            raise ValueError(
                f"an MQTT URL looks like mqtt://host:1883, not {parts.scheme or 'no'}:// "
                f"with host {parts.hostname or 'missing'}"
            )
        query = parse_qs(parts.query)
        version = mqtt.MQTTv311 if query.get("version") == ["3.1.1"] else mqtt.MQTTv5
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if parts.scheme == "mqtts" else 1883),
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            version=version,
        )


class StreamOff(RuntimeError):
    """A one-shot publish was asked of a sandbox started without --mqtt-url."""


class Publisher:
    """Publishes the §10.1 stream of every car with a synced config; see the module doc."""

    def __init__(
        self,
        world: World,
        mqtt_url: str,
        *,
        topic_base: str = "telemetry",
        time_scale: float = 1.0,
        qos: int = 1,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.world = world
        self.target = MqttTarget.parse(mqtt_url)
        self.topic_base = topic_base.strip("/")
        self.time_scale = float(time_scale)
        self.qos = qos
        self.cars: dict[str, Car] = {}
        self._sims: dict[str, Sim] = {}
        self.published: dict[str, int] = {
            "field": 0,
            "connectivity": 0,
            "error": 0,
            "alert": 0,
            "injected": 0,
            "dropped": 0,
        }
        self._flow = threading.Condition()
        self._pending = 0
        self._stalled = False  # waited STALL_SECONDS in vain: drop at once until it drains
        self._cond = threading.Condition(threading.RLock())
        self._heap: list[tuple[float, int, str, str, str, int]] = []
        self._seq = itertools.count()
        self._stop = False
        self._t0 = time.monotonic()
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._client = self._make_client()

    # -- lifecycle -----------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"tesla-sandbox-{uuid.uuid4().hex[:10]}",
            protocol=self.target.version,
        )
        if self.target.username:
            client.username_pw_set(self.target.username, self.target.password)
        if self.target.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.max_inflight_messages_set(INFLIGHT)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._flow:
            self._pending = max(0, self._pending - 1)
            if self._pending < MAX_PENDING:
                self._stalled = False
            self._flow.notify_all()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            with self._flow:
                # What paho lost with the old connection will never be acknowledged.
                self._pending = 0
                self._stalled = False
                self._flow.notify_all()
            self._connected.set()
            log.info("stream: connected to %s:%s", self.target.host, self.target.port)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._connected.clear()

    def start(self) -> None:
        """Connect in the background (the broker may start after us) and start the cars."""
        self._client.connect_async(self.target.host, self.target.port, keepalive=30)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="sandbox-stream", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stop = True
        with self._flow:
            self._flow.notify_all()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._cond:
            if self._sims:
                self._save_sims()
        self._client.disconnect()
        self._client.loop_stop()

    # -- time ----------------------------------------------------------------------------------

    def sim_now(self) -> float:
        return (time.monotonic() - self._t0) * self.time_scale

    def _settings(self) -> tuple[float, float]:
        settings = self.world.data["settings"]
        after = settings.get("stream_sleep_after", DEFAULT_SETTINGS["stream_sleep_after"])
        sleep = settings.get("stream_sleep_for", DEFAULT_SETTINGS["stream_sleep_for"])
        return float(after), float(sleep)

    # -- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        next_sync = 0.0
        next_save = time.monotonic() + SAVE_SECONDS
        with self._cond:
            while not self._stop:
                try:
                    if time.monotonic() >= next_sync:
                        self._sync()
                        next_sync = time.monotonic() + SYNC_SECONDS
                    if time.monotonic() >= next_save and self._sims:
                        self._save_sims()
                        next_save = time.monotonic() + SAVE_SECONDS
                    now = self.sim_now()
                    # A bounded slice: when the broker is the limit the heap runs behind, and
                    # the control API and the world sync must still get their turn.
                    slice_end = time.monotonic() + SLICE_SECONDS
                    while self._heap and self._heap[0][0] <= now and not self._stop:
                        due, _, kind, vin, arg, gen = heapq.heappop(self._heap)
                        self._handle(kind, vin, arg, gen, due)
                        if time.monotonic() >= slice_end:
                            break
                except Exception:  # a bug in one car must not end the stream for all
                    log.exception("stream: scheduler step failed")
                wait = next_sync - time.monotonic()
                if self._heap:
                    wait = min(wait, (self._heap[0][0] - self.sim_now()) / self.time_scale)
                self._cond.wait(timeout=max(wait, 0.0005))

    def refresh(self) -> None:
        """Re-read the world now (the control API calls this before it answers)."""
        with self._cond:
            self._sync()
            self._cond.notify_all()

    def _push(self, due: float, kind: str, vin: str, arg: str, gen: int) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), kind, vin, arg, gen))

    # -- world → cars --------------------------------------------------------------------------

    def _sync(self) -> None:
        w = self.world
        sleep_after, sleep_for = self._settings()
        snapshot = []
        with w.read() as data:
            now = w.now()
            ticked = False
            stream = data.get("stream", {})
            for vehicle in data["vehicles"].values():
                # The cars pick configs up and wake by themselves, not only when the portal asks.
                if _needs_tick(vehicle, now):
                    fleet.tick(data, vehicle, now)
                    ticked = True
                vin = vehicle["vin"]
                if vin in self.cars or any(
                    r["synced"] and not r["rejected"] for r in vehicle["telemetry"].values()
                ):
                    snapshot.append(
                        (
                            {k: vehicle[k] for k in ("vin", "region", "firmware")},
                            {cid: dict(r) for cid, r in vehicle["telemetry"].items()},
                            copy.deepcopy(stream.get("vehicles", {}).get(vin, {})),
                            stream.get("sims", {}).get(vin),
                        )
                    )
            if ticked:
                w.save()
            in_world = set(data["vehicles"])
        # Publishing may wait for the broker: never while holding the world's lock.
        seen = set()
        for vehicle, records, controls, saved in snapshot:
            seen.add(vehicle["vin"])
            self._sync_car(vehicle, records, controls, saved, sleep_after, sleep_for)
        for vin in set(self.cars) - seen:  # reset or removed: the car is gone
            self._disconnect(self.cars.pop(vin))
        for vin in set(self._sims) - in_world:
            del self._sims[vin]

    def _world_state(self, vin: str) -> str:
        with self.world.read() as data:
            vehicle = data["vehicles"].get(vin)
            return vehicle["state"] if vehicle else "offline"

    def _sim_for(self, vehicle: dict[str, Any], saved: dict[str, float] | None, t: float) -> Sim:
        """The car's simulation; it outlives a removed config (odometers never go back)."""
        sim = self._sims.get(vehicle["vin"])
        if sim is None:
            sim = Sim.for_vehicle(vehicle["vin"], vehicle["region"], 0, 0)
            if saved:  # where it was when the sandbox last saved (a restart)
                sim.soc, sim.odometer, sim.angle = saved["soc"], saved["odometer"], saved["angle"]
            sim.t, sim.phase_until = t, t + sim.phase_until
            self._sims[vehicle["vin"]] = sim
        return sim

    def _save_sims(self) -> None:
        """Keep where the cars are in the world, so a restarted sandbox continues from there."""
        sims = {
            vin: {"soc": sim.soc, "odometer": sim.odometer, "angle": sim.angle}
            for vin, sim in self._sims.items()
        }
        with self.world.transaction() as data:
            data.setdefault("stream", {"vehicles": {}})["sims"] = sims

    def _sync_car(
        self,
        vehicle: dict[str, Any],
        records: dict[str, dict[str, Any]],
        controls: dict[str, Any],
        saved: dict[str, float] | None,
        sleep_after: float,
        sleep_for: float,
    ) -> None:
        vin = vehicle["vin"]
        t = self.sim_now()
        car = self.cars.get(vin)
        if car is None:
            sim = self._sim_for(vehicle, saved, t)
            sim.sleep_after, sim.sleep_for = sleep_after, sleep_for
            sim.advance(t)  # quietly: the car was not streaming meanwhile
            car = self.cars[vin] = Car(vin=vin, region=vehicle["region"], firmware="", sim=sim)
        car.sim.sleep_after, car.sim.sleep_for = sleep_after, sleep_for
        car.firmware = vehicle["firmware"]
        self._advance(car, t)

        # Which configs the car runs: a re-posted config still pending keeps the old one
        # running (the car has not adopted the new one yet); a deleted or rejected one stops.
        changed = False
        for client_id in list(car.configs):
            record = records.get(client_id)
            if record is None or (record["synced"] and record["rejected"]):
                del car.configs[client_id]
                changed = True
        for client_id, record in records.items():
            if not record["synced"] or record["rejected"]:
                continue
            held = car.configs.get(client_id)
            if held is None or held[0] != record["created_at"]:
                car.configs[client_id] = (record["created_at"], record["config"])
                changed = True
        if changed:
            self._apply_configs(car, t)

        dropped, as_string = set(controls.get("dropped", [])), set(controls.get("as_string", []))
        for name in car.dropped - dropped:
            car.last_sent.pop(name, None)  # restored: sent again at its next check
        car.dropped, car.as_string = dropped, as_string
        silenced = bool(controls.get("silenced"))
        was_silenced, car.silenced = car.silenced, silenced

        if not car.configs:
            self._disconnect(car)
            del self.cars[vin]  # a later config connects anew (the simulation goes on)
            return
        online = self._world_state(vin) == "online"  # after _advance, which may change it
        if not online and car.sim.phase != "asleep":
            car.sim.sleep_forever()  # the world says asleep/offline
        if online and car.sim.phase == "asleep":
            car.sim.wake()
            self._push_phase(car)
        if not online:
            self._disconnect(car)
        elif not car.connected or (was_silenced and not silenced):
            self._connect(car, t)
        elif changed:
            self._send_all(car, t)  # the config was posted again (#246)

    def _apply_configs(self, car: Car, t: float) -> None:
        configs = [config for _, config in car.configs.values()]
        car.fields = field_specs(configs)
        car.alert_types = any(config.get("alert_types") for config in configs)
        car.gen += 1
        car.phase_at = None
        for name, spec in car.fields.items():
            self._push(t + spec.interval, "field", car.vin, name, car.gen)
        self._push_phase(car)

    def _push_phase(self, car: Car) -> None:
        # One pending phase entry per car: entries for an older phase end are ignored.
        until = car.sim.phase_until
        if math.isfinite(until) and car.phase_at != until:
            car.phase_at = until
            self._push(until, "phase", car.vin, "", car.gen)

    # -- events --------------------------------------------------------------------------------

    def _handle(self, kind: str, vin: str, arg: str, gen: int, due: float) -> None:
        car = self.cars.get(vin)
        if car is None or (gen != car.gen and kind != "alert_end"):
            return  # the car went away or its config changed: a stale entry
        if kind == "field":
            spec = car.fields.get(arg)
            if spec is None:
                return
            self._push(due + spec.interval, "field", vin, arg, gen)
            self._advance(car, due)
            self._maybe_send(car, arg, spec, due)
        elif kind == "phase" and due == car.phase_at:
            car.phase_at = None
            self._advance(car, due)
            self._push_phase(car)
        elif kind == "alert_end":
            self._end_alert(car, arg)

    def _advance(self, car: Car, t: float) -> None:
        for phase in car.sim.advance(t):
            if phase == "asleep":
                self._set_world_state(car.vin, "asleep")
                self._disconnect(car)
            elif phase == "parked" and not car.connected and car.configs:
                self._set_world_state(car.vin, "online")
                self._connect(car, car.sim.t)
            elif (
                phase == "charging"
                and car.alert_types
                and car.connected
                and car.sim.rng.random() < ALERT_CHANCE
            ):
                self.raise_alert(car.vin)

    def _set_world_state(self, vin: str, state: str) -> None:
        with self.world.transaction() as data:
            vehicle = data["vehicles"].get(vin)
            if vehicle is not None:
                vehicle["state"], vehicle["wake_at"] = state, None

    def _maybe_send(self, car: Car, name: str, spec: FieldSpec, t: float) -> None:
        if not self._can_send(car, name):
            return
        value = car.sim.value(name, car.firmware)
        last = car.last_sent.get(name)
        due_resend = last is not None and spec.resend is not None and t - last[1] >= spec.resend
        if last is None or _changed(last[0], value, spec.minimum_delta) or due_resend:
            self._send_field(car, name, value, t)

    def _can_send(self, car: Car, name: str) -> bool:
        return (
            car.connected
            and not car.silenced
            and name not in car.dropped
            and not unsupported_fields(car.firmware, [name])
        )

    def _send_field(self, car: Car, name: str, value: Any, t: float) -> None:
        car.last_sent[name] = (value, t)
        wire = value
        if name in car.as_string and isinstance(value, int | float) and not isinstance(value, bool):
            wire = str(value)  # §10.2: a firmware that sends the number as a string
        self._publish(f"{car.vin}/v/{name}", wire, "field")

    def _send_all(self, car: Car, t: float) -> None:
        for name in car.fields:
            if self._can_send(car, name):
                self._send_field(car, name, car.sim.value(name, car.firmware), t)

    def _connect(self, car: Car, t: float) -> None:
        car.connected = True
        car.connection_id = str(uuid.uuid4())
        if car.silenced:
            return
        self._connectivity(car, "CONNECTED")
        for name in unsupported_fields(car.firmware, sorted(car.fields)):
            self._publish(
                f"{car.vin}/errors/unsupported_field",
                {
                    "Body": f"field {name} is not supported by this vehicle's firmware "
                    f"{car.firmware}",
                    "Tags": {"field": name},
                    "CreatedAt": self.world.iso_now(),
                },
                "error",
            )
        self._send_all(car, t)

    def _disconnect(self, car: Car) -> None:
        if not car.connected:
            return
        if not car.silenced:
            self._connectivity(car, "DISCONNECTED")
        car.connected = False

    def _connectivity(self, car: Car, status: str) -> None:
        payload = {
            "ConnectionId": car.connection_id,
            "Status": status,
            "CreatedAt": self.world.iso_now(),
        }
        self._publish(f"{car.vin}/connectivity", payload, "connectivity")

    # -- alerts --------------------------------------------------------------------------------

    def raise_alert(self, vin: str, name: str | None = None) -> str:
        """The car raises an alert now; it ends ALERT_SECONDS sim seconds later."""
        with self._cond:
            car = self.cars.get(vin)
            if car is None or not car.connected:
                raise StreamOff(f"{vin} is not streaming")
            name = name or car.sim.rng.choice(ALERT_NAMES)
            started = self.world.iso_now()
            car.active_alert = started
            if not car.silenced:
                payload = {"StartedAt": started, "Audiences": ["Customer", "Service"]}
                self._publish(f"{vin}/alerts/{name}/current", payload, "alert")
            self._push(self.sim_now() + ALERT_SECONDS, "alert_end", vin, name, car.gen)
            self._cond.notify_all()
            return name

    def _end_alert(self, car: Car, name: str) -> None:
        started, car.active_alert = car.active_alert, None
        if started is None or car.silenced or not car.connected:
            return
        record = {
            "StartedAt": started,
            "EndedAt": self.world.iso_now(),
            "Audiences": ["Customer", "Service"],
        }
        self._publish(f"{car.vin}/alerts/{name}/current", record, "alert")
        self._publish(f"{car.vin}/alerts/{name}/history", [record], "alert")

    # -- publishing ----------------------------------------------------------------------------

    def _publish(self, suffix: str, payload: Any, kind: str) -> None:
        body = json.dumps(payload, separators=(",", ":"))
        self.publish_raw(f"{self.topic_base}/{suffix}", body.encode(), kind)

    def publish_raw(self, topic: str, payload: bytes, kind: str = "injected") -> None:
        with self._flow:
            deadline = time.monotonic() + STALL_SECONDS
            while self._pending >= MAX_PENDING and not self._stop:
                left = deadline - time.monotonic()
                if left <= 0 or self._stalled:
                    self._stalled = True
                    self._dropped(topic)
                    return
                self._flow.wait(left)
            self._pending += 1
        info = self._client.publish(topic, payload, qos=self.qos)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            with self._flow:
                self._pending -= 1
                self._dropped(topic)
            return
        with self._flow:
            self.published[kind] += 1

    def _dropped(self, topic: str) -> None:
        """Count a message the broker could not take; log the first and every 10,000th."""
        self.published["dropped"] += 1
        if self.published["dropped"] % 10_000 == 1:
            log.warning(
                "stream: the broker does not keep up, dropped %d messages (last %s)",
                self.published["dropped"],
                topic,
            )

    def live(self, vin: str) -> dict[str, Any] | None:
        """The car's simulated state for the Fleet API's vehicle_data (None: not simulated).

        Values the stream also sends come from the same makers (`VALUES`), so a poll and
        the stream tell the same story (sandbox/vehicle_data.py turns this into Tesla's
        sub-objects)."""
        with self._cond:
            sim = self._sims.get(vin)
            if sim is None:
                return None
            lat, lon, heading = sim.location()
            return {
                "phase": sim.phase,
                "battery_level": round(sim.soc),
                "usable_battery_level": round(sim.value("Soc", "")),
                "battery_range": sim.value("RatedRange", ""),
                "est_battery_range": sim.value("EstBatteryRange", ""),
                "ideal_battery_range": sim.value("IdealBatteryRange", ""),
                "charge_limit_soc": CHARGE_LIMIT,
                "charging_state": {"charging": "Charging", "complete": "Complete"}.get(
                    sim.phase, "Disconnected"
                ),
                "charger_power": round(sim.charge_kw) if sim.phase == "charging" else 0,
                "charger_voltage": round(sim.value("ChargerVoltage", "")),
                "charge_amps": sim.value("ChargeAmps", ""),
                "fast_charger": sim.fast_charger,
                "fast_charger_present": sim.value("FastChargerPresent", ""),
                "charge_port_door_open": sim.phase in ("charging", "complete"),
                "charge_energy_added": round(sim.session_kwh, 2),
                "time_to_full_charge": sim.value("TimeToFullCharge", ""),
                "odometer": round(sim.odometer, 1),
                "shift_state": "D" if sim.phase == "driving" else "P",
                "speed": round(sim.speed) if sim.phase == "driving" else None,
                "latitude": round(lat, 6),
                "longitude": round(lon, 6),
                "heading": round(heading),
                "inside_temp": sim.value("InsideTemp", ""),
                "outside_temp": sim.value("OutsideTemp", ""),
                "locked": sim.value("Locked", ""),
                "driver_door_open": sim.value("DoorState", "")["DriverFront"],
                "sentry_mode": sim.value("SentryMode", "") == "SentryModeStateArmed",
            }

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "running": True,
                "broker_connected": self._connected.is_set(),
                "topic_base": self.topic_base,
                "time_scale": self.time_scale,
                "sim_seconds": round(self.sim_now(), 1),
                "published": dict(self.published),
                "pending": self._pending,
                "cars": {
                    vin: {
                        "connected": car.connected,
                        "silenced": car.silenced,
                        "phase": car.sim.phase,
                        "fields": sorted(car.fields),
                        "unsupported": unsupported_fields(car.firmware, sorted(car.fields)),
                        "dropped": sorted(car.dropped),
                        "as_string": sorted(car.as_string),
                        "battery_level": round(car.sim.soc, 2),
                        "odometer": round(car.sim.odometer, 3),
                    }
                    for vin, car in self.cars.items()
                },
            }


def _needs_tick(vehicle: dict[str, Any], now: float) -> bool:
    if vehicle["wake_at"] is not None and now >= vehicle["wake_at"]:
        return True
    return vehicle["state"] == "online" and any(
        not r["synced"] and now >= r["pickup_at"] for r in vehicle["telemetry"].values()
    )


def _changed(old: Any, new: Any, minimum_delta: float | None) -> bool:
    numeric = (int, float)
    if (
        minimum_delta is not None
        and isinstance(old, numeric)
        and isinstance(new, numeric)
        and not isinstance(old, bool)
        and not isinstance(new, bool)
    ):
        return abs(new - old) >= minimum_delta
    return old != new


# -- bad input the control API can inject --------------------------------------------------------

MALFORMED_KINDS = ("invalid_json", "not_utf8", "oversized", "bad_topic")


def malformed(kind: str, base: str, vin: str, name: str, size: int) -> tuple[str, bytes]:
    """(topic, payload) of one bad message of `kind` (see MALFORMED_KINDS)."""
    topic = f"{base}/{vin}/v/{name}"
    if kind == "invalid_json":
        return topic, b'{"latitude": 37.49, "longitude":'
    if kind == "not_utf8":
        return topic, b"\xff\xfe\x00garbage"
    if kind == "oversized":
        return topic, json.dumps("x" * max(size - 2, 0)).encode()
    if kind == "bad_topic":
        return f"{base}/{vin}/v", b"42"
    raise ValueError(kind)
