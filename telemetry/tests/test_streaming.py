"""The per-vehicle streaming state: each state from plain facts, then the selector over rows
written as the consumer writes them, in a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from telemetry import services, streaming
from telemetry.models import StreamEvent, StreamValue, TelemetryDeployment, VehicleStream
from telemetry.streaming import DeploymentFacts, FieldSpec, State, StreamFacts, stream_state
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
FIELDS = (FieldSpec("Soc", 60), FieldSpec("VehicleSpeed", 10, resend_interval_seconds=300))
# Largest of 60, 10 and 300, plus 120 s of slack; silent after three windows.
WINDOW = 420
SILENT = 3 * WINDOW


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


def synced(**overrides) -> DeploymentFacts:
    facts = {
        "status": "synced",
        "fields": FIELDS,
        "pushed_at": ago(7200),
        "synced_at": ago(7000),
        "version_number": 2,
    }
    return DeploymentFacts(**(facts | overrides))


def state(deployment=None, stream=None, received=None, unsupported=None, **kw):
    return stream_state(
        deployment=deployment,
        stream=stream,
        received=received or {},
        unsupported=unsupported or {},
        now=NOW,
        slack_seconds=120,
        silent_factor=3,
        **kw,
    )


ALL_RECEIVED = {"Soc": ago(30), "VehicleSpeed": ago(30)}


def test_the_window_is_the_largest_interval_or_resend_interval_plus_slack():
    assert streaming.expected_window(FIELDS, 120) == WINDOW
    assert streaming.expected_window([FieldSpec("Soc", 60)], 120) == 180
    assert streaming.expected_window([], 120) == 120


def test_no_deployment_is_no_config_and_says_push_when_one_is_assigned():
    assert state(None).state == State.NO_CONFIG
    assigned = state(None, assigned=True)
    assert assigned.state == State.NO_CONFIG and "never pushed" in assigned.explanation
    removed = state(DeploymentFacts(status="removed"))
    assert removed.state == State.NO_CONFIG and "removed" in removed.explanation


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("missing_key", "pair_key"),
        ("unsupported_firmware", "update_firmware"),
        ("max_configs", "free_slot"),
        ("unsupported_hardware", "remove"),
    ],
)
def test_a_skip_says_what_fixes_it(reason, kind):
    result = state(DeploymentFacts(status="skipped", reason=reason, fields=FIELDS))
    assert result.state == State.PUSH_FAILED and result.action_kind == kind and result.action


def test_a_failed_push_keeps_its_error_as_detail_and_explains_a_known_one():
    result = state(synced(status="failed", error="x509: unknown issuer"))
    assert result.state == State.PUSH_FAILED
    assert result.detail == "x509: unknown issuer" and "pair the portal's current key" in (
        result.action
    )


def test_synced_without_config_or_at_the_app_limit_is_rejected():
    limit = state(synced(status="limit_reached"))
    assert limit.state == State.REJECTED and limit.action_kind == "free_slot"
    assert "Free an app slot" in limit.action
    rejected = state(synced(status="rejected"))
    assert rejected.state == State.REJECTED and rejected.action_kind == "resync"
    drift = state(synced(status="drift"))
    assert drift.state == State.REJECTED and "Resync" in drift.action


def test_pushed_but_not_synced_is_waiting_for_the_car():
    for status in ("pending", "updated"):
        assert state(synced(status=status, synced_at=None)).state == State.WAITING_CAR


def test_data_after_the_push_proves_the_car_took_it_before_reconcile_says_synced():
    pushed = synced(status="updated", pushed_at=ago(600), synced_at=None)
    stream = StreamFacts(last_message_at=ago(5))
    assert state(pushed, stream, ALL_RECEIVED).state == State.STREAMING
    # Data from before the push proves nothing about it.
    before = StreamFacts(last_message_at=ago(700))
    assert state(pushed, before, ALL_RECEIVED).state == State.WAITING_CAR
    # Fields count from the push: one that has not come since is missing.
    missing = state(pushed, stream, {"Soc": ago(5), "VehicleSpeed": ago(700)})
    assert missing.state == State.FIELD_MISSING and missing.missing_fields == ["VehicleSpeed"]


def test_synced_without_any_data_waits_then_turns_silent():
    fresh = synced(pushed_at=ago(100), synced_at=ago(60))
    assert state(fresh).state == State.WAITING_DATA
    old = synced(pushed_at=ago(SILENT + 200), synced_at=ago(SILENT + 100))
    result = state(old)
    assert result.state == State.SILENT and result.action_kind == "resync"
    assert "sent no data since" in result.explanation


def test_data_within_the_window_is_streaming():
    stream = StreamFacts(last_message_at=ago(WINDOW - 1), connectivity="CONNECTED")
    result = state(synced(), stream, ALL_RECEIVED)
    assert result.state == State.STREAMING and result.action == ""
    assert result.last_data_at == ago(WINDOW - 1)


def test_data_past_the_window_is_late_then_silent():
    late = state(synced(), StreamFacts(last_message_at=ago(WINDOW + 1)), ALL_RECEIVED)
    assert late.state == State.LATE
    silent = state(synced(), StreamFacts(last_message_at=ago(SILENT + 1)), ALL_RECEIVED)
    assert silent.state == State.SILENT and "did not say it disconnected" in silent.explanation


def test_a_car_that_disconnected_after_its_last_data_is_offline_not_silent():
    stream = StreamFacts(
        last_message_at=ago(SILENT + 100),
        connectivity="DISCONNECTED",
        connectivity_at=ago(SILENT + 50),
    )
    assert state(synced(), stream, ALL_RECEIVED).state == State.OFFLINE


def test_connected_without_data_since_waits_a_window_then_says_so():
    just = StreamFacts(last_message_at=ago(5000), connectivity="CONNECTED", connected_at=ago(30))
    assert state(synced(), just, ALL_RECEIVED).state == State.WAITING_DATA
    long = StreamFacts(
        last_message_at=ago(5000), connectivity="CONNECTED", connected_at=ago(WINDOW + 10)
    )
    result = state(synced(), long, ALL_RECEIVED)
    assert result.state == State.CONNECTED_NO_DATA and "pair the portal's key" in result.action
    never = StreamFacts(connectivity="CONNECTED", connected_at=ago(WINDOW + 10))
    assert state(synced(), never).state == State.CONNECTED_NO_DATA


def test_a_field_never_received_since_the_push_is_missing_with_firmware_and_car_error():
    stream = StreamFacts(last_message_at=ago(10), connectivity="CONNECTED")
    # VehicleSpeed came before this config was pushed: it does not count.
    received = {"Soc": ago(10), "VehicleSpeed": ago(8000)}
    result = state(
        synced(),
        stream,
        received,
        {"VehicleSpeed": "field VehicleSpeed unsupported"},
        firmware_version="2024.8.9",
        telemetry_version="1.0.0",
    )
    assert result.state == State.FIELD_MISSING
    assert result.missing_fields == ["VehicleSpeed"]
    assert result.unsupported == {"VehicleSpeed": "field VehicleSpeed unsupported"}
    assert "2024.8.9" in result.explanation and "1.0.0" in result.explanation
    assert result.action_kind == "update_firmware"
    # Without an error from the car, the first thing to try is a resync.
    plain = state(synced(), stream, {"Soc": ago(10)})
    assert plain.state == State.FIELD_MISSING and plain.action_kind == "resync"


def test_a_field_sent_between_push_and_sync_is_not_missing():
    deployment = synced(pushed_at=ago(5000), synced_at=ago(4000))
    received = {"Soc": ago(4500), "VehicleSpeed": ago(4500)}
    stream = StreamFacts(last_message_at=ago(10))
    assert state(deployment, stream, received).state == State.STREAMING


def test_fields_are_not_called_missing_before_a_window_since_sync():
    deployment = synced(pushed_at=ago(100), synced_at=ago(50))
    stream = StreamFacts(last_message_at=ago(10))
    assert state(deployment, stream, {"Soc": ago(10)}).state == State.STREAMING


# --- the selector over the database -----------------------------------------------------------


def _fleet(owner, n: int):
    config = make_config(name=f"fleet-{n}", fields={"Soc": 60, "VehicleSpeed": 10})
    cars = make_vehicles(make_link(owner), n)
    services.telemetry_config_assign(config=config, vins=[c.vin for c in cars], user=None)
    version = services.telemetry_version_current(config=config)
    now = timezone.now()
    for car in cars:
        TelemetryDeployment.objects.create(
            vehicle=car,
            version=version,
            status="synced",
            pushed_at=now - dt.timedelta(hours=2),
            synced_at=now - dt.timedelta(hours=2),
        )
        VehicleStream.objects.create(vehicle=car, last_message_at=now, connectivity="CONNECTED")
        StreamValue.objects.create(vehicle=car, field="Soc", value=80, received_at=now)
        StreamValue.objects.create(vehicle=car, field="VehicleSpeed", value=3, received_at=now)
    return config, cars


@pytest.mark.django_db
def test_the_selector_reads_many_vehicles_in_a_fixed_number_of_queries(owner):
    _fleet(owner, 3)
    with CaptureQueriesContext(connection) as few:
        small = streaming.stream_states()
    _fleet(owner, 12)
    with CaptureQueriesContext(connection) as many:
        large = streaming.stream_states()
    assert (len(small), len(large)) == (3, 15)
    assert len(few.captured_queries) == len(many.captured_queries) <= 7
    assert {r.state.state for r in large} == {State.STREAMING}


@pytest.mark.django_db
def test_the_selector_names_the_config_and_the_unsupported_field_from_the_car(owner):
    config, (car,) = _fleet(owner, 1)
    StreamValue.objects.filter(vehicle=car, field="VehicleSpeed").delete()
    StreamEvent.objects.create(
        vehicle=car,
        kind="error",
        name="unsupported_field",
        body="VehicleSpeed not supported by this firmware",
        tags={"field": "VehicleSpeed"},
        received_at=timezone.now(),
    )
    car.firmware_version = "2024.8.9"
    car.save(update_fields=["firmware_version"])

    result = streaming.vehicle_stream_state(vehicle=car)

    assert result.state == State.FIELD_MISSING and result.config_name == config.name
    assert result.unsupported == {"VehicleSpeed": "VehicleSpeed not supported by this firmware"}
    assert "2024.8.9" in result.explanation


@pytest.mark.django_db
def test_a_replaced_deployment_is_not_the_current_one(owner):
    config, (car,) = _fleet(owner, 1)
    old = TelemetryDeployment.objects.get(vehicle=car)
    config.fields.create(name="Odometer", interval_seconds=60)
    newer = services.telemetry_version_current(config=config)
    TelemetryDeployment.objects.create(vehicle=car, version=newer, status="updated")
    old.status = "superseded"
    old.save()

    result = streaming.vehicle_stream_state(vehicle=car)

    assert result.state == State.WAITING_CAR and result.version_number == newer.number


@pytest.mark.django_db
def test_a_car_without_any_deployment_has_no_config(owner):
    (car,) = make_vehicles(make_link(owner), 1)
    result = streaming.vehicle_stream_state(vehicle=car)
    assert result.state == State.NO_CONFIG and result.config_id is None


@pytest.mark.django_db
def test_the_selector_reads_the_values_of_a_car_proven_by_data_before_reconcile(owner):
    # Pushed ("updated"), not yet seen synced by reconcile, but every field arrived since the
    # push: streaming, not "field missing" for fields whose values were simply not loaded.
    config, (car,) = _fleet(owner, 1)
    now = timezone.now()
    TelemetryDeployment.objects.filter(vehicle=car).update(
        status="updated", pushed_at=now - dt.timedelta(hours=1), synced_at=None
    )

    result = streaming.vehicle_stream_state(vehicle=car)

    assert result.state == State.STREAMING, result.explanation
