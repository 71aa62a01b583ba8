"""Topics and payloads of fleet-telemetry's MQTT dispatcher (§10.1), read without side effects.

Topics: ``<base>/<VIN>/v/<Field>``, ``<base>/<VIN>/alerts/<Name>/current|history``,
``<base>/<VIN>/errors/<Name>`` and ``<base>/<VIN>/connectivity``. Field payloads are the bare
JSON value (an older server wrapped it as ``{"value": …}``: both are accepted); numbers may
arrive as strings, ``null`` is the car's "invalid", locations and doors are objects, times are
``"HH:MM:SS"`` and enums are their names.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

FIELD = "field"
ALERT_CURRENT = "alert_current"
ALERT_HISTORY = "alert_history"
ERROR = "error"
CONNECTIVITY = "connectivity"
KINDS = (FIELD, ALERT_CURRENT, ALERT_HISTORY, ERROR, CONNECTIVITY)

# A decimal number written as a string ("12.3", "-4", "1e3"); "2024.44.25" is not one.
NUMBER_RE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
CONNECTIVITY_STATUSES = frozenset({"CONNECTED", "DISCONNECTED", "UNKNOWN"})
# StreamValue.field's length: no field of §10.1 comes near it; a longer name cannot be stored.
MAX_FIELD_NAME = 64

# A bare JSON number exactly as JSON writes it (no spaces, no "+", no leading zeros): most
# field payloads. Read without the JSON parser, to the same value it would give.
JSON_NUMBER_RE = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class Malformed(ValueError):
    """The payload is not what fleet-telemetry sends for this kind of topic."""


@dataclass(frozen=True, slots=True)
class Topic:
    vin: str
    kind: str
    name: str = ""  # the field, alert or error name; "" for connectivity


class FieldValue(NamedTuple):
    value: Any
    # The JSON type on the wire ("number", "string", "bool", "object", "null", "array"): a
    # change between two messages of one field is counted as type_changed.
    wire_type: str


def parse_topic(topic: str, base: str) -> Topic | None:
    """The parts of a fleet-telemetry topic under ``base``, or None for any other topic."""
    prefix = base.rstrip("/") + "/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/")
    if len(parts) < 2 or not parts[0] or any(not part for part in parts):
        return None
    vin, section = parts[0], parts[1]
    if section == "v" and len(parts) == 3:
        return Topic(vin, FIELD, parts[2]) if len(parts[2]) <= MAX_FIELD_NAME else None
    if section == "connectivity" and len(parts) == 2:
        return Topic(vin, CONNECTIVITY)
    if section == "errors" and len(parts) == 3:
        return Topic(vin, ERROR, parts[2])
    if section == "alerts" and len(parts) == 4:
        if parts[3] == "current":
            return Topic(vin, ALERT_CURRENT, parts[2])
        if parts[3] == "history":
            return Topic(vin, ALERT_HISTORY, parts[2])
    return None


def _loads(payload: bytes) -> Any:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than Python's parser goes ("[[[[…").
        raise Malformed(f"not JSON: {type(exc).__name__}") from exc
    _check_storable(data)
    return data


def _check_storable(data: Any) -> None:
    """Raise Malformed for what no database column takes: the NUL character (PostgreSQL's
    text and jsonb refuse it) anywhere in a string or key. Walked without recursion, as the
    nesting may be deep."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise Malformed("NUL character")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_finite(data: Any) -> None:
    """Raise Malformed for NaN/Infinity inside an object or array: JSON columns refuse them
    (a bare NaN is the car's invalid, see decode_field)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise Malformed("NaN or Infinity inside a value")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _wire_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _number(text: str) -> int | float | None:
    text = text.strip()
    if not NUMBER_RE.fullmatch(text):
        return None
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def decode_field(payload: bytes) -> FieldValue:
    """A field message's value and its JSON type on the wire.

    A number sent as a string is stored as the number (the wire type stays "string", so a
    switch between the two is still seen); NaN/Infinity, which JSON does not allow but
    Python's parser reads, are treated as the car's invalid (None).
    """
    number = JSON_NUMBER_RE.fullmatch(payload)
    if number is not None:
        try:
            if number.lastindex is None:  # no fraction, no exponent: an int, as JSON reads it
                return FieldValue(int(payload), "number")
            real = float(payload)
        except ValueError:  # more digits than int() reads: the JSON parser says why
            pass
        else:
            return FieldValue(real if math.isfinite(real) else None, "number")
    raw = _loads(payload)
    if isinstance(raw, dict) and set(raw) == {"value"}:
        raw = raw["value"]
    wire = _wire_type(raw)
    value = raw
    if isinstance(raw, str):
        number = _number(raw)
        if number is not None:
            value = number
    elif isinstance(raw, float) and not math.isfinite(raw):
        value = None
    else:
        _check_finite(value)
    return FieldValue(value, wire)


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 time from the car, or None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    # Go writes nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip())
    text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    # In UTC: PostgreSQL refuses offsets beyond ±15:59 that Python reads, and a time at the
    # edge of year 1 or 9999 leaves the range once converted (a flush would fail for good).
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def _event(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise Malformed("not an object")
    return obj


def parse_payload(kind: str, payload: bytes) -> Any:
    """The payload of a message of ``kind`` (see KINDS), or raises Malformed.

    field → the value (see decode_field); alert_current → {"started_at", "ended_at",
    "audiences"}; alert_history → a list of those; error → {"body", "tags", "created_at"};
    connectivity → {"status", "connection_id", "created_at"}.
    """
    if kind == FIELD:
        return decode_field(payload).value
    data = _loads(payload)
    if kind == ALERT_CURRENT:
        return _alert(data)
    if kind == ALERT_HISTORY:
        if not isinstance(data, list):
            raise Malformed("alert history is not a list")
        return [_alert(item) for item in data]
    if kind == ERROR:
        data = _event(data)
        tags = data.get("Tags") or {}
        if not isinstance(tags, dict):
            raise Malformed("error tags are not an object")
        body = data.get("Body", "")
        return {
            "body": body if isinstance(body, str) else json.dumps(body),
            "tags": {str(key): str(value) for key, value in tags.items()},
            "created_at": parse_time(data.get("CreatedAt")),
        }
    if kind == CONNECTIVITY:
        data = _event(data)
        status = data.get("Status")
        if not isinstance(status, str) or status not in CONNECTIVITY_STATUSES:
            raise Malformed("unknown connectivity status")
        return {
            "status": status,
            "connection_id": str(data.get("ConnectionId") or ""),
            "created_at": parse_time(data.get("CreatedAt")),
        }
    raise Malformed(f"unknown kind {kind!r}")


def _alert(data: Any) -> dict[str, Any]:
    data = _event(data)
    audiences = data.get("Audiences") or []
    if not isinstance(audiences, list):
        raise Malformed("alert audiences are not a list")
    return {
        "started_at": parse_time(data.get("StartedAt")),
        "ended_at": parse_time(data.get("EndedAt")),
        "audiences": [str(item) for item in audiences],
    }
