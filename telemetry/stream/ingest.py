"""Messages into the stream models, coalesced: a burst costs one write per row, not per message.

``Ingest.add`` only touches memory (no query per message, except once for a VIN it has never
seen); ``Ingest.flush`` writes everything gathered since the last flush in ONE transaction:

- StreamValue: the latest value per (vehicle, field);
- StreamPoint: one point per history bucket for the fields whose config keeps history;
- VehicleStream: first/last field message, the last connectivity event, the last CONNECTED;
  data arriving clears silent_notified_at (each silence is one incident);
- StreamSignalDay: field messages per vehicle per UTC day (each is a billed signal, §10.1);
- StreamFieldDay: the same messages per field per UTC day, over all vehicles (usage);
- StreamDrop: input set aside, per kind per UTC day;
- StreamEvent: the errors and alerts cars report.

Decisions: a VIN the portal does not know is dropped and counted (unknown_vin), never stored;
a field name missing from Tesla's list (telemetry/catalogue.py) is counted (unknown_field) and
its value IS stored, because a newer firmware sends names our copy of the list may not have
yet; a field whose JSON type changed since its previous message in this process (number ↔
string) is counted (type_changed) and its value stored. Counters are added in SQL (``count =
count + excluded.count``), so several consumers on a shared subscription never lose counts;
rows are written in key order, so two consumers' transactions cannot deadlock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from telemetry import catalogue
from telemetry.models import (
    StreamDrop,
    StreamEvent,
    StreamFieldDay,
    StreamPoint,
    StreamSignalDay,
    StreamValue,
    TelemetryField,
    VehicleStream,
)
from telemetry.stream import parse
from vehicles.models import Vehicle

Drop = StreamDrop.Kind
# How far ahead of our clock a connectivity event's CreatedAt may be and still be believed.
FUTURE_SKEW = timedelta(minutes=5)
# Rows per INSERT statement (SQLite caps the number of parameters of one statement).
CHUNK = 400
# Parsed topics kept (cleared when full).
TOPIC_CACHE = 100_000


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


class Batch:
    """What ``Ingest.add`` gathered since the last detach: written by ``Ingest.write``."""

    __slots__ = (
        "pending",
        "values",
        "points",
        "signals",
        "fields",
        "drops",
        "streams",
        "events",
        "alerts",
    )

    def __init__(self) -> None:
        self.pending = 0
        self.values: dict[tuple[int, str], tuple[Any, datetime]] = {}
        self.points: dict[tuple[int, str, datetime], Any] = {}
        self.signals: dict[tuple[int, date], int] = {}
        self.fields: dict[tuple[date, str], int] = {}
        self.drops: dict[tuple[str, date], list] = {}
        self.streams: dict[int, dict[str, Any]] = {}
        self.events: list[StreamEvent] = []
        self.alerts: dict[tuple[int, str, datetime | None], StreamEvent] = {}


class Ingest:
    def __init__(
        self,
        topic_base: str | None = None,
        *,
        max_payload: int | None = None,
        bucket_seconds: int | None = None,
        refresh_seconds: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic_base = topic_base or settings.TELEMETRY_MQTT_TOPIC_BASE
        self.max_payload = max_payload or settings.TELEMETRY_STREAM_MAX_PAYLOAD
        self.bucket_seconds = bucket_seconds or settings.TELEMETRY_HISTORY_BUCKET_SECONDS
        self.refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._signal_names = catalogue.signal_names()
        self._vins: dict[str, int] = {}
        self._unknown: dict[str, float] = {}  # VIN → when it was last looked up in vain
        self._history: dict[int, frozenset[str]] = {}
        self._loaded_at: float | None = None
        self._types: dict[tuple[int, str], str] = {}
        # Parsed topics: a fleet sends the same few thousand topics over and over.
        self._topics: dict[str, parse.Topic | None] = {}
        # The UTC day of the last received_at seen (the consumer passes one per slice).
        self._day_of: tuple[datetime | None, date | None] = (None, None)
        self._batch = Batch()
        # The batch being written by write() (at most one write at a time).
        self._out = self._batch

    # -- caches ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Reload the VIN → vehicle map and which fields keep history (one query each)."""
        self._vins = dict(Vehicle.objects.values_list("vin", "id"))
        history: dict[int, set[str]] = {}
        rows = TelemetryField.objects.filter(
            keep_history=True, config__assignments__isnull=False
        ).values_list("config__assignments__vehicle_id", "name")
        for vehicle_id, name in rows:
            history.setdefault(vehicle_id, set()).add(name)
        self._history = {key: frozenset(names) for key, names in history.items()}
        self._unknown.clear()
        self._loaded_at = self._monotonic()

    def _vehicle_id(self, vin: str) -> int | None:
        now = self._monotonic()
        if self._loaded_at is None or now - self._loaded_at > self.refresh_seconds:
            try:
                self.refresh()
            except DatabaseError:
                if self._loaded_at is None:
                    raise
                # Keep the map we have; try again next period.
                self._loaded_at = now
                connection.close()
        vehicle_id = self._vins.get(vin)
        if vehicle_id is not None:
            return vehicle_id
        # A car linked since the last refresh: look it up, at most once per VIN per period.
        missed = self._unknown.get(vin)
        if missed is not None and now - missed < self.refresh_seconds:
            return None
        vehicle_id = Vehicle.objects.filter(vin=vin).values_list("id", flat=True).first()
        if vehicle_id is None:
            self._unknown[vin] = now
            return None
        self._vins[vin] = vehicle_id
        self._history[vehicle_id] = frozenset(
            TelemetryField.objects.filter(
                keep_history=True, config__assignments__vehicle_id=vehicle_id
            ).values_list("name", flat=True)
        )
        return vehicle_id

    # -- gathering ---------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Messages gathered since the last flush (or detach)."""
        return self._batch.pending

    def detach(self) -> Batch:
        """Hand over what was gathered (for ``write``, possibly in another thread) and start
        a fresh batch: ``add`` goes on while the detached one is written."""
        batch, self._batch = self._batch, Batch()
        return batch

    def _utc_day(self, received_at: datetime) -> date:
        at, day = self._day_of
        if at is not received_at:
            day = _day(received_at)
            self._day_of = (received_at, day)
        return day

    def _drop(self, kind: str, topic: str, received_at: datetime) -> None:
        drops = self._batch.drops
        key = (kind, self._utc_day(received_at))
        entry = drops.get(key)
        if entry is None:
            drops[key] = [1, topic[:200], received_at]
        else:
            entry[0] += 1
            entry[1] = topic[:200]
            entry[2] = received_at

    def set_aside(self, topic: str, received_at: datetime) -> None:
        """Count a message the database refused to store (see Consumer._write_apart) as
        malformed, in the batch being gathered."""
        self._batch.pending += 1
        self._drop(Drop.MALFORMED, topic, received_at)

    def _stream(self, vehicle_id: int) -> dict[str, Any]:
        streams = self._batch.streams
        stream = streams.get(vehicle_id)
        if stream is None:
            stream = streams[vehicle_id] = {
                "first": None,
                "last": None,
                "connectivity": "",
                "connectivity_at": None,
                "connected_at": None,
            }
        return stream

    def add(self, topic: str, payload: bytes, received_at: datetime) -> None:
        """Take one message into memory; bad input is counted, never raised."""
        self._batch.pending += 1
        try:
            parsed = self._topics[topic]
        except KeyError:
            if len(self._topics) >= TOPIC_CACHE:
                self._topics.clear()
            parsed = self._topics[topic] = parse.parse_topic(topic, self.topic_base)
        if parsed is None:
            self._drop(Drop.BAD_TOPIC, topic, received_at)
            return
        if len(payload) > self.max_payload:
            self._drop(Drop.OVERSIZED, topic, received_at)
            return
        vehicle_id = self._vehicle_id(parsed.vin)
        if vehicle_id is None:
            self._drop(Drop.UNKNOWN_VIN, topic, received_at)
            return
        try:
            if parsed.kind == parse.FIELD:
                self._add_field(vehicle_id, parsed.name, topic, payload, received_at)
            else:
                self._add_event(vehicle_id, parsed, payload, received_at)
        except parse.Malformed:
            self._drop(Drop.MALFORMED, topic, received_at)

    def _add_field(
        self, vehicle_id: int, name: str, topic: str, payload: bytes, received_at: datetime
    ) -> None:
        decoded = parse.decode_field(payload)
        if name not in self._signal_names:
            self._drop(Drop.UNKNOWN_FIELD, topic, received_at)
        key = (vehicle_id, name)
        if decoded.wire_type != "null":
            previous = self._types.get(key)
            if previous is not None and previous != decoded.wire_type:
                self._drop(Drop.TYPE_CHANGED, topic, received_at)
            self._types[key] = decoded.wire_type
        batch = self._batch
        batch.values[key] = (decoded.value, received_at)
        if name in self._history.get(vehicle_id, ()):
            stamp = int(received_at.timestamp())
            bucket = datetime.fromtimestamp(stamp - stamp % self.bucket_seconds, tz=UTC)
            batch.points[(vehicle_id, name, bucket)] = decoded.value
        day = self._utc_day(received_at)
        day_key = (vehicle_id, day)
        signals = batch.signals
        signals[day_key] = signals.get(day_key, 0) + 1
        field_key = (day, name)
        fields = batch.fields
        fields[field_key] = fields.get(field_key, 0) + 1
        stream = self._stream(vehicle_id)
        if stream["first"] is None or received_at < stream["first"]:
            stream["first"] = received_at
        if stream["last"] is None or received_at > stream["last"]:
            stream["last"] = received_at

    def _add_event(
        self, vehicle_id: int, parsed: parse.Topic, payload: bytes, received_at: datetime
    ) -> None:
        data = parse.parse_payload(parsed.kind, payload)
        if parsed.kind == parse.CONNECTIVITY:
            stream = self._stream(vehicle_id)
            at = data["created_at"] or received_at
            # Not later than we got it (plus clock skew): a time from the future would win
            # over every real event after it and pin the car's connection.
            if at > received_at + FUTURE_SKEW:
                at = received_at
            if stream["connectivity_at"] is None or at >= stream["connectivity_at"]:
                stream["connectivity"] = data["status"]
                stream["connectivity_at"] = at
            if data["status"] == "CONNECTED" and (
                stream["connected_at"] is None or at > stream["connected_at"]
            ):
                stream["connected_at"] = at
        elif parsed.kind == parse.ERROR:
            self._batch.events.append(
                StreamEvent(
                    vehicle_id=vehicle_id,
                    kind=StreamEvent.Kind.ERROR,
                    name=parsed.name[:100],
                    body=data["body"],
                    tags=data["tags"],
                    occurred_at=data["created_at"],
                    received_at=received_at,
                )
            )
        else:
            alerts = data if parsed.kind == parse.ALERT_HISTORY else [data]
            for alert in alerts:
                # One row per alert occurrence (vehicle, name, start): a repeat or the
                # history's copy of it updates that row (its end, its audiences).
                key = (vehicle_id, parsed.name[:100], alert["started_at"])
                self._batch.alerts[key] = StreamEvent(
                    vehicle_id=vehicle_id,
                    kind=StreamEvent.Kind.ALERT,
                    name=key[1],
                    audiences=alert["audiences"],
                    occurred_at=alert["started_at"],
                    ended_at=alert["ended_at"],
                    received_at=received_at,
                )

    # -- writing -----------------------------------------------------------------------

    def flush(self) -> int:
        """Write what was gathered in one transaction; returns how many messages it covered.

        On an exception nothing is written and the gathered data is kept, so the caller
        may retry (and must not acknowledge the messages meanwhile).
        """
        covered = self.write(self._batch)
        if covered:
            self._batch = Batch()
        return covered

    def write(self, batch: Batch) -> int:
        """Write a batch (from ``detach``) in one transaction, on the calling thread's database
        connection; returns how many messages it covered. On an exception nothing is written
        and the batch may be written again. One write at a time (``add`` may run meanwhile).
        """
        if not batch.pending:
            return 0
        self._out = batch
        with transaction.atomic():
            self._write_values()
            self._write_points()
            self._write_streams()
            self._write_signals()
            self._write_fields()
            self._write_drops()
            self._write_events()
        return batch.pending

    def _write_values(self) -> None:
        if not self._out.values:
            return
        q = connection.ops.quote_name
        table = q(StreamValue._meta.db_table)
        rows = [
            (vid, name, value, at)
            for (vid, name), (value, at) in sorted(self._out.values.items(), key=lambda kv: kv[0])
        ]
        updates = (
            f"{q('value')} = EXCLUDED.{q('value')}, "
            f"{q('received_at')} = EXCLUDED.{q('received_at')}"
        )
        columns = [
            ("vehicle_id", "bigint"),
            ("field", "text"),
            ("value", "jsonb"),
            ("received_at", "timestamptz"),
        ]
        _upsert(table, columns, ["vehicle_id", "field"], updates, rows)

    def _write_points(self) -> None:
        if not self._out.points:
            return
        q = connection.ops.quote_name
        table = q(StreamPoint._meta.db_table)
        rows = [
            (vid, name, at, value)
            for (vid, name, at), value in sorted(self._out.points.items(), key=lambda kv: kv[0])
        ]
        columns = [
            ("vehicle_id", "bigint"),
            ("field", "text"),
            ("at", "timestamptz"),
            ("value", "jsonb"),
        ]
        updates = f"{q('value')} = EXCLUDED.{q('value')}"
        _upsert(table, columns, ["vehicle_id", "field", "at"], updates, rows)

    def _write_streams(self) -> None:
        if not self._out.streams:
            return
        q = connection.ops.quote_name
        table = q(VehicleStream._meta.db_table)

        def newer(column: str) -> str:
            col = q(column)
            return (
                f"{col} = CASE WHEN {table}.{col} IS NULL OR EXCLUDED.{col} > {table}.{col} "
                f"THEN EXCLUDED.{col} ELSE {table}.{col} END"
            )

        conn_at = q("connectivity_at")
        takes_event = (
            f"EXCLUDED.{conn_at} IS NOT NULL AND ({table}.{conn_at} IS NULL "
            f"OR EXCLUDED.{conn_at} >= {table}.{conn_at})"
        )
        updates = ", ".join(
            [
                f"{q('first_message_at')} = COALESCE({table}.{q('first_message_at')}, "
                f"EXCLUDED.{q('first_message_at')})",
                newer("last_message_at"),
                f"{q('connectivity')} = CASE WHEN {takes_event} THEN EXCLUDED.{q('connectivity')}"
                f" ELSE {table}.{q('connectivity')} END",
                f"{conn_at} = CASE WHEN {takes_event} THEN EXCLUDED.{conn_at}"
                f" ELSE {table}.{conn_at} END",
                newer("connected_at"),
                f"{q('silent_notified_at')} = CASE WHEN EXCLUDED.{q('last_message_at')} IS NOT NULL"
                f" THEN NULL ELSE {table}.{q('silent_notified_at')} END",
            ]
        )
        rows = [
            (
                vid,
                s["first"],
                s["last"],
                s["connectivity"],
                s["connectivity_at"],
                s["connected_at"],
                None,
            )
            for vid, s in sorted(self._out.streams.items())
        ]
        columns = [
            ("vehicle_id", "bigint"),
            ("first_message_at", "timestamptz"),
            ("last_message_at", "timestamptz"),
            ("connectivity", "text"),
            ("connectivity_at", "timestamptz"),
            ("connected_at", "timestamptz"),
            ("silent_notified_at", "timestamptz"),
        ]
        _upsert(table, columns, ["vehicle_id"], updates, rows)

    def _write_signals(self) -> None:
        columns = [("vehicle_id", "bigint"), ("day", "date"), ("signals", "bigint")]
        _add_signals(StreamSignalDay, columns, self._out.signals)

    def _write_fields(self) -> None:
        columns = [("day", "date"), ("field", "text"), ("signals", "bigint")]
        _add_signals(StreamFieldDay, columns, self._out.fields)

    def _write_drops(self) -> None:
        if not self._out.drops:
            return
        q = connection.ops.quote_name
        table = q(StreamDrop._meta.db_table)
        rows = [
            (str(kind), day, count, topic, seen)
            for (kind, day), (count, topic, seen) in sorted(self._out.drops.items())
        ]
        updates = ", ".join(
            [
                f"{q('count')} = {table}.{q('count')} + EXCLUDED.{q('count')}",
                f"{q('last_topic')} = EXCLUDED.{q('last_topic')}",
                f"{q('last_seen_at')} = EXCLUDED.{q('last_seen_at')}",
            ]
        )
        columns = [
            ("kind", "text"),
            ("day", "date"),
            ("count", "bigint"),
            ("last_topic", "text"),
            ("last_seen_at", "timestamptz"),
        ]
        _upsert(table, columns, ["kind", "day"], updates, rows)

    def _write_events(self) -> None:
        if self._out.events:
            StreamEvent.objects.bulk_create(self._out.events)
        if not self._out.alerts:
            return
        vehicle_ids = {vid for vid, _, _ in self._out.alerts}
        names = {name for _, name, _ in self._out.alerts}
        existing = {
            (event.vehicle_id, event.name, event.occurred_at): event
            for event in StreamEvent.objects.filter(
                kind=StreamEvent.Kind.ALERT, vehicle_id__in=vehicle_ids, name__in=names
            )
        }
        new, changed = [], []
        for key, alert in self._out.alerts.items():
            row = existing.get(key)
            if row is None:
                new.append(alert)
            elif (row.ended_at, row.audiences) != (alert.ended_at, alert.audiences):
                row.ended_at, row.audiences = alert.ended_at, alert.audiences
                changed.append(row)
        StreamEvent.objects.bulk_create(new)
        if changed:
            StreamEvent.objects.bulk_update(changed, ["ended_at", "audiences"])


def _json(value: Any) -> str | None:
    """A JSONField value as its column holds it (None is SQL NULL: the car's "invalid")."""
    return None if value is None else json.dumps(value)


def _iso(value: Any) -> str:
    """Datetimes and dates inside the JSON document of a PostgreSQL upsert."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _sqlite_params(columns: Sequence[tuple[str, str]]) -> list[Callable[[Any], Any]]:
    ops = connection.ops
    by_kind = {
        "jsonb": _json,
        "timestamptz": ops.adapt_datetimefield_value,
        "date": ops.adapt_datefield_value,
    }
    return [by_kind.get(kind, lambda value: value) for _, kind in columns]


def _add_signals(model, columns: list[tuple[str, str]], counts: dict[tuple, int]) -> None:
    """Add per-key signal counts to `model`'s rows (key columns first, `signals` last)."""
    if not counts:
        return
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    rows = [(*key, count) for key, count in sorted(counts.items())]
    updates = f"{q('signals')} = {table}.{q('signals')} + EXCLUDED.{q('signals')}"
    _upsert(table, columns, [name for name, _type in columns[:-1]], updates, rows)


def _upsert(
    table: str,
    columns: Sequence[tuple[str, str]],
    conflict: Sequence[str],
    updates: str,
    rows: Iterable[tuple],
) -> None:
    """INSERT … ON CONFLICT (…) DO UPDATE SET …, the same statement on PostgreSQL and SQLite.

    PostgreSQL gets ONE parameter, the rows as a JSON array of arrays (``json.dumps`` in C is
    far cheaper than psycopg quoting thousands of array elements one by one); the server
    unpacks it with ``jsonb_array_elements`` (a JSON null is SQL NULL, as before). SQLite gets
    VALUES in chunks (it caps the parameters of one statement). Identifiers come from the
    models' metadata, values are always parameters.
    """
    q = connection.ops.quote_name
    names = ", ".join(q(name) for name, _ in columns)
    tail = f" ON CONFLICT ({', '.join(q(c) for c in conflict)}) DO UPDATE SET {updates}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            picks = ", ".join(
                f"NULLIF(e->{n}, 'null'::jsonb)"
                if kind == "jsonb"
                else f"e->>{n}"
                if kind == "text"
                else f"(e->>{n})::{kind}"
                for n, (_, kind) in enumerate(columns)
            )
            sql = (
                f"INSERT INTO {table} ({names}) SELECT {picks} "  # noqa: S608
                f"FROM jsonb_array_elements(%s::jsonb) AS e{tail}"
            )
            cursor.execute(sql, [json.dumps(list(rows), default=_iso)])
            return
        adapt = _sqlite_params(columns)
        rows = [tuple(f(value) for f, value in zip(adapt, row, strict=True)) for row in rows]
        placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
        head = f"INSERT INTO {table} ({names}) VALUES "  # noqa: S608
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            params = [value for row in chunk for value in row]
            cursor.execute(head + ", ".join([placeholder] * len(chunk)) + tail, params)
