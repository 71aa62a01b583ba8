"""Topics and payloads of fleet-telemetry's MQTT dispatcher (§10.1)."""

from __future__ import annotations

import pytest

from telemetry.stream import parse
from telemetry.stream.parse import Malformed, Topic, decode_field, parse_payload, parse_topic

VIN = "5YJ3E1EA7KF000001"


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        (f"telemetry/{VIN}/v/Soc", Topic(VIN, parse.FIELD, "Soc")),
        (f"telemetry/{VIN}/connectivity", Topic(VIN, parse.CONNECTIVITY)),
        (f"telemetry/{VIN}/errors/unsupported_field", Topic(VIN, parse.ERROR, "unsupported_field")),
        (f"telemetry/{VIN}/alerts/BMS_a079/current", Topic(VIN, parse.ALERT_CURRENT, "BMS_a079")),
        (f"telemetry/{VIN}/alerts/BMS_a079/history", Topic(VIN, parse.ALERT_HISTORY, "BMS_a079")),
        (f"other/{VIN}/v/Soc", None),
        (f"telemetry/{VIN}/v", None),
        (f"telemetry/{VIN}/v/Soc/extra", None),
        (f"telemetry/{VIN}/alerts/X/future", None),
        ("telemetry//v/Soc", None),
        ("telemetry", None),
        (f"telemetryx/{VIN}/v/Soc", None),
    ],
)
def test_parse_topic(topic, expected):
    assert parse_topic(topic, "telemetry") == expected


def test_parse_topic_with_a_nested_base():
    assert parse_topic(f"a/b/{VIN}/v/Odometer", "a/b/") == Topic(VIN, parse.FIELD, "Odometer")


@pytest.mark.parametrize(
    ("payload", "value", "wire"),
    [
        (b"81.5", 81.5, "number"),
        (b"12", 12, "number"),
        (b'"12.3"', 12.3, "string"),
        (b'"-4"', -4, "string"),
        (b'{"value": 42}', 42, "number"),
        (b'{"value": "42.5"}', 42.5, "string"),
        (b"null", None, "null"),
        (b'{"value": null}', None, "null"),
        (b"true", True, "bool"),
        (b'"ShiftStateD"', "ShiftStateD", "string"),
        (b'"DetailedChargeStateCharging"', "DetailedChargeStateCharging", "string"),
        (b'"07:30:00"', "07:30:00", "string"),
        (b'"2024.44.25 abc"', "2024.44.25 abc", "string"),
        (
            b'{"latitude": 37.4, "longitude": -122.1}',
            {"latitude": 37.4, "longitude": -122.1},
            "object",
        ),
        (
            b'{"DriverFront": false, "TrunkRear": true}',
            {"DriverFront": False, "TrunkRear": True},
            "object",
        ),
        (b"NaN", None, "number"),
    ],
)
def test_decode_field_accepts_every_shape(payload, value, wire):
    decoded = decode_field(payload)
    assert decoded.value == value
    assert type(decoded.value) is type(value)
    assert decoded.wire_type == wire
    assert parse_payload(parse.FIELD, payload) == value


@pytest.mark.parametrize("payload", [b"", b"{", b"\xff\xfe", b"81,5", b"'x'"])
def test_malformed_field_payloads_raise(payload):
    with pytest.raises(Malformed):
        parse_payload(parse.FIELD, payload)


def test_connectivity_payload():
    data = parse_payload(
        parse.CONNECTIVITY,
        b'{"ConnectionId": "abc", "Status": "CONNECTED",'
        b' "CreatedAt": "2026-01-02T03:04:05.123456789Z"}',
    )
    assert data["status"] == "CONNECTED"
    assert data["connection_id"] == "abc"
    assert data["created_at"].isoformat() == "2026-01-02T03:04:05.123456+00:00"


@pytest.mark.parametrize(
    "payload", [b'{"Status": "MAYBE"}', b'["CONNECTED"]', b'{"ConnectionId": "x"}']
)
def test_bad_connectivity_is_malformed(payload):
    with pytest.raises(Malformed):
        parse_payload(parse.CONNECTIVITY, payload)


def test_error_payload():
    data = parse_payload(
        parse.ERROR,
        b'{"Body": "field not supported", "Tags": {"field": "Gear", "n": 3},'
        b' "CreatedAt": "2026-01-02T03:04:05Z"}',
    )
    assert data["body"] == "field not supported"
    assert data["tags"] == {"field": "Gear", "n": "3"}
    assert data["created_at"].year == 2026


def test_alert_payloads():
    current = parse_payload(
        parse.ALERT_CURRENT,
        b'{"StartedAt": "2026-01-02T03:04:05Z", "Audiences": ["Customer", "Service"]}',
    )
    assert current["ended_at"] is None
    assert current["audiences"] == ["Customer", "Service"]
    history = parse_payload(
        parse.ALERT_HISTORY,
        b'[{"StartedAt": "2026-01-02T03:04:05Z", "EndedAt": "2026-01-02T03:05:05Z",'
        b' "Audiences": []}]',
    )
    assert history[0]["ended_at"].minute == 5
    with pytest.raises(Malformed):
        parse_payload(parse.ALERT_HISTORY, b'{"StartedAt": "x"}')
    with pytest.raises(Malformed):
        parse_payload(parse.ALERT_CURRENT, b'{"Audiences": "Customer"}')


def test_unreadable_times_are_none():
    assert parse.parse_time("yesterday") is None
    assert parse.parse_time("2026-01-02T03:04:05") is None  # no zone: not the server's format
    assert parse.parse_time(None) is None
