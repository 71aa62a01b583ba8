"""Signed pushes against the sandbox over real HTTP: updated and skipped vehicles, reconcile
through every state, removal."""

from __future__ import annotations

import pytest

from partners import services as partner_services
from telemetry import explanations, services
from telemetry.models import TelemetryAuditEntry, TelemetryDeployment, TelemetryRun
from telemetry.services import signing
from telemetry.tests.factories import make_config
from telemetry.tests.helpers import (
    ALL,
    ASLEEP,
    GOOD,
    LEGACY,
    OLD_FW,
    SHARED,
    run_inline,
    statuses,
)
from teslafleet import jws

pytestmark = pytest.mark.django_db

Status = TelemetryDeployment.Status


@pytest.fixture
def config(alice, manager):
    config = make_config(hostname="127.0.0.1", fields={"Soc": 60, "VehicleSpeed": 10})
    services.telemetry_config_assign(config=config, vins=ALL, user=manager)
    return config


def test_push_records_updated_and_each_skip_reason(config, manager, tesla_sandbox, portal_key):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    tesla_sandbox.control.pair(SHARED, portal_key.domain)
    tesla_sandbox.control.clear_requests()

    run = run_inline(services.telemetry_push_start(config=config, user=manager))

    assert (run.status, run.total, run.links_total, run.links_done) == ("done", 5, 1, 1)
    assert statuses(config) == {
        GOOD: ("updated", ""),
        SHARED: ("updated", ""),
        ASLEEP: ("skipped", "missing_key"),
        LEGACY: ("skipped", "unsupported_hardware"),
        OLD_FW: ("skipped", "unsupported_firmware"),
    }
    # One call for the link with its five VINs, signed with the portal's key.
    calls = tesla_sandbox.control.requests(path="/fleet_telemetry_config_jws")
    assert [(c["method"], c["status"]) for c in calls] == [("POST", 200)]


def test_the_sandbox_verifies_our_jws_and_sees_our_config(config, manager, portal_key):
    version = services.telemetry_version_current(config=config)
    token = signing.signed_token(version)
    claims = jws.verify(token, portal_key.private_key.public_key())
    assert claims["aud"] == "com.tesla.fleet.TelemetryClient"
    assert claims["iss"] == jws.issuer_for(portal_key.private_key.public_key())
    assert {k: v for k, v in claims.items() if k not in ("aud", "iss")} == version.payload
    assert isinstance(claims["port"], int) and claims["fields"]["Soc"] == {"interval_seconds": 60}


def test_reconcile_goes_pending_then_synced_after_pickup(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    run_inline(services.telemetry_push_start(config=config, user=manager))
    row = TelemetryDeployment.objects.get(vehicle__vin=GOOD)

    assert services.telemetry_deployment_reconcile(deployment_id=row.pk) == Status.UPDATED
    tesla_sandbox.control.telemetry_pickup(GOOD)
    assert services.telemetry_deployment_reconcile(deployment_id=row.pk) == Status.SYNCED
    row.refresh_from_db()
    assert row.synced_at is not None and row.checked_at is not None
    # Skipped vehicles are never polled; only the accepted one is due.
    assert services.telemetry_reconcile_due() == []


def test_a_config_signed_with_a_key_the_car_does_not_hold_is_rejected_with_unknown_issuer(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    # A new key the portal never registered: Fleet API still accepts the push (§5.4).
    partner_services.partner_key_generate(force=True)
    run_inline(services.telemetry_push_start(config=config, user=manager))
    row = TelemetryDeployment.objects.get(vehicle__vin=GOOD)
    assert row.status == Status.UPDATED

    tesla_sandbox.control.telemetry_pickup(GOOD)
    assert services.telemetry_deployment_reconcile(deployment_id=row.pk) == Status.REJECTED
    row.refresh_from_db()
    assert "unknown issuer" in row.error
    assert "key the car does not hold" in explanations.explain_error(row.error)


def test_config_null_with_limit_reached_shows_limit_reached(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    run_inline(services.telemetry_push_start(config=config, user=manager))
    row = TelemetryDeployment.objects.get(vehicle__vin=GOOD)
    tesla_sandbox.control.fault(
        f"/{GOOD}/fleet_telemetry_config",
        method="GET",
        status=200,
        body={
            "response": {
                "synced": True,
                "config": None,
                "limit_reached": True,
                "key_paired": True,
            }
        },
        count=1,
    )
    assert services.telemetry_deployment_reconcile(deployment_id=row.pk) == Status.LIMIT_REACHED


def test_a_different_config_on_the_car_is_drift_and_a_vanished_one_is_removed(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    run_inline(services.telemetry_push_start(config=config, user=manager))
    tesla_sandbox.control.telemetry_pickup(GOOD)
    row = TelemetryDeployment.objects.get(vehicle__vin=GOOD)
    assert services.telemetry_deployment_reconcile(deployment_id=row.pk) == Status.SYNCED

    other = dict(row.version.payload, port=9999)
    tesla_sandbox.control.fault(
        f"/{GOOD}/fleet_telemetry_config",
        method="GET",
        status=200,
        body={"response": {"synced": True, "config": other, "limit_reached": False}},
        count=1,
    )
    assert services.telemetry_deployment_reconcile(deployment_id=row.pk) == Status.DRIFT

    tesla_sandbox.control.fault(
        f"/{GOOD}/fleet_telemetry_config",
        method="GET",
        status=200,
        body={"response": {"synced": True, "config": None, "limit_reached": False}},
        count=1,
    )
    assert services.telemetry_deployment_reconcile(deployment_id=row.pk) == Status.REMOVED


def test_remove_deletes_the_config_on_the_car_and_unassigns(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    run_inline(services.telemetry_push_start(config=config, user=manager))
    tesla_sandbox.control.telemetry_pickup(GOOD)
    good = TelemetryDeployment.objects.get(vehicle__vin=GOOD)
    services.telemetry_deployment_reconcile(deployment_id=good.pk)
    tesla_sandbox.control.clear_requests()

    run = run_inline(
        services.telemetry_remove_start(config=config, user=manager, vehicle_ids=[good.vehicle_id])
    )

    assert (run.kind, run.status) == ("remove", "done")
    assert statuses(config)[GOOD] == ("removed", "")
    assert not config.assignments.filter(vehicle_id=good.vehicle_id).exists()
    calls = tesla_sandbox.control.requests(path="/fleet_telemetry_config")
    assert [(c["method"], c["status"]) for c in calls] == [("DELETE", 200)]
    # The car no longer holds a config of ours.
    from accounts.services import link_fleet_call

    state = link_fleet_call(link=good.link, call=lambda c: c.fleet_telemetry_config(GOOD))
    assert state.config is None and state.synced is False


def test_a_transient_failure_on_the_last_try_is_recorded_as_failed(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.fault("/fleet_telemetry_config_jws", status=503, body={"error": "x"})
    run = services.telemetry_push_start(config=config, user=manager)
    link_ids = services.telemetry_push_dispatch(run_id=run.pk)
    services.telemetry_push_link(run_id=run.pk, link_id=link_ids[0], final=True)
    assert {s for s, _r in statuses(config).values()} == {"failed"}
    assert "503" in TelemetryDeployment.objects.first().error


def test_a_new_version_supersedes_the_old_one_on_the_car(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    run_inline(services.telemetry_push_start(config=config, user=manager))
    first = TelemetryDeployment.objects.get(vehicle__vin=GOOD)

    config.port = 4444
    config.save()
    services.telemetry_config_saved(config=config, user=manager, created=False)
    run = run_inline(services.telemetry_push_start(config=config, user=manager))

    assert run.version.number == 2
    first.refresh_from_db()
    assert first.status == Status.SUPERSEDED
    assert (
        TelemetryDeployment.objects.get(vehicle__vin=GOOD, version=run.version).status == "updated"
    )


def test_location_fields_fail_for_a_link_without_vehicle_location_without_a_call(
    config, manager, alice, tesla_sandbox
):
    alice.scopes = [s for s in alice.scopes if s != "vehicle_location"]
    alice.save(update_fields=["scopes"])
    config.fields.create(name="Location", interval_seconds=30)
    tesla_sandbox.control.clear_requests()

    run = services.telemetry_push_start(config=config, user=manager)

    assert run.status == TelemetryRun.Status.DONE and run.links_total == 0
    assert {s for s, _r in statuses(config).values()} == {"failed"}
    assert "vehicle_location" in TelemetryDeployment.objects.first().error
    assert tesla_sandbox.control.requests(path="/fleet_telemetry_config_jws") == []


def test_push_and_removal_leave_audit_entries_with_the_outcome(
    config, manager, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    run_inline(services.telemetry_push_start(config=config, user=manager))
    good = TelemetryDeployment.objects.get(vehicle__vin=GOOD)
    run_inline(
        services.telemetry_remove_start(config=config, user=manager, vehicle_ids=[good.vehicle_id])
    )
    entries = list(TelemetryAuditEntry.objects.order_by("pk"))
    assert [(e.action, e.actor_email) for e in entries] == [
        ("assigned", "manager@example.com"),
        ("pushed", "manager@example.com"),
        ("pushed", "manager@example.com"),
        ("removed", "manager@example.com"),
        ("removed", "manager@example.com"),
    ]
    finished_push = entries[2]
    assert finished_push.vins == sorted(ALL) and finished_push.version_number == 1
    assert "updated 1" in finished_push.outcome and "missing_key 2" in finished_push.outcome
    assert entries[4].vins == [GOOD] and "removed 1" in entries[4].outcome


def test_the_error_inbox_shows_partner_and_vehicle_errors_explained(
    config, manager, manager_client, tesla_sandbox, portal_key
):
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    partner_services.partner_key_generate(force=True)
    run_inline(services.telemetry_push_start(config=config, user=manager))
    tesla_sandbox.control.telemetry_pickup(GOOD)
    row = TelemetryDeployment.objects.get(vehicle__vin=GOOD)
    services.telemetry_deployment_reconcile(deployment_id=row.pk)

    regions = {r["region"]: r for r in services.telemetry_partner_errors()}
    assert [e["vin"] for e in regions["NA"]["errors"]] == [GOOD]
    assert "key the car does not hold" in regions["NA"]["errors"][0]["explanation"]
    assert regions["EU"]["errors"] == [] and regions["EU"]["problem"] == ""

    page = manager_client.get("/telemetry/errors/").content.decode()
    assert GOOD in page and "unknown issuer" in page and "key the car does not hold" in page
    access = row.vehicle.accesses.get(link=row.link)
    errors, problem = services.telemetry_vehicle_errors(vehicle=row.vehicle, access=access)
    assert problem == "" and "unknown issuer" in errors[0]["error"]


def test_wrong_key_type_is_explained():
    text = (
        "error loading config file: InvalidSignature: invalid mailbox public key: "
        "only NIST-P256 ECDH keys permitted"
    )
    assert "Wrong key type" in explanations.explain_error(text)
    assert explanations.explain_error("something else") == ""
