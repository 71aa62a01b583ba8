"""The builder and the pages: who may do what, what they see, in both languages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from telemetry import services
from telemetry.models import (
    TelemetryAuditEntry,
    TelemetryConfig,
    TelemetryDeployment,
    TelemetryRun,
)
from telemetry.tests.factories import ca, make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


def builder_post(**overrides) -> dict:
    data = {
        "name": "fleet",
        "hostname": "telemetry.example.com",
        "port": "4443",
        "ca": ca(),
        "exp": (timezone.now() + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
        "delivery_policy": "latest",
        "alert_types": ["service"],
        "prefer_typed": "on",
        "fields-TOTAL_FORMS": "2",
        "fields-INITIAL_FORMS": "0",
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "1000",
        "fields-0-name": "Soc",
        "fields-0-interval_seconds": "60",
        "fields-1-name": "ChargerVoltage",
        "fields-1-interval_seconds": "1",
        "fields-1-minimum_delta": "5",
    }
    data.update(overrides)
    return data


@pytest.fixture
def cars(owner):
    link = make_link(owner)
    return make_vehicles(link, 3)


# --- permissions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/telemetry/", "/telemetry/new/", "/telemetry/errors/", "/telemetry/runs/1/status/"],
)
def test_users_without_the_permission_get_403(owner_client, staff_client, url):
    assert owner_client.get(url).status_code == 403
    # Staff alone is not enough: the permission is what counts.
    assert staff_client.get(url).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/telemetry/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("action", ["push", "remove", "assign", "edit"])
def test_only_managers_may_push_assign_remove_or_edit(owner_client, staff_client, action, cars):
    config = make_config()
    for client in (owner_client, staff_client):
        response = client.post(f"/telemetry/{config.pk}/{action}/", {"vehicle": [cars[0].pk]})
        assert response.status_code == 403
    assert not TelemetryRun.objects.exists()
    assert not TelemetryAuditEntry.objects.exists()


def test_superusers_manage_without_an_explicit_permission(client, db):
    from accounts.tests.factories import UserFactory

    root = UserFactory(email="root@example.com", is_staff=True, is_superuser=True)
    client.force_login(root)
    assert client.get("/telemetry/").status_code == 200


# --- builder --------------------------------------------------------------------------------


def test_builder_offers_the_catalogue_grouped_with_sane_defaults(manager_client, partner_domain):
    page = manager_client.get("/telemetry/new/").content.decode()
    assert 'id="telemetry-catalogue"' in page and 'data-group="location"' in page
    assert 'value="Soc"' in page and 'value="443"' in page
    assert "Experimental_1" not in page and ">Unknown<" not in page
    assert 'id="catalogue-search"' in page


def test_builder_creates_a_config_with_its_first_version_and_an_audit_entry(
    manager_client, manager, partner_domain
):
    response = manager_client.post("/telemetry/new/", builder_post())
    config = TelemetryConfig.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/telemetry/{config.pk}/"
    version = config.versions.get()
    assert version.number == 1
    assert version.payload["fields"] == {
        "ChargerVoltage": {"interval_seconds": 1, "minimum_delta": 5.0},
        "Soc": {"interval_seconds": 60},
    }
    assert version.payload["port"] == 4443 and version.payload["alert_types"] == ["service"]
    entry = TelemetryAuditEntry.objects.get()
    assert (entry.action, entry.actor_email, entry.version_number) == ("created", manager.email, 1)


def test_editing_makes_a_new_version_and_saving_unchanged_does_not(manager_client, partner_domain):
    manager_client.post("/telemetry/new/", builder_post())
    config = TelemetryConfig.objects.get()
    rows = list(config.fields.order_by("name"))
    edit = builder_post(
        **{
            "fields-TOTAL_FORMS": "2",
            "fields-INITIAL_FORMS": "2",
            "fields-0-id": str(rows[0].pk),
            "fields-0-name": rows[0].name,
            "fields-0-interval_seconds": "1",
            "fields-0-minimum_delta": "5",
            "fields-1-id": str(rows[1].pk),
            "fields-1-name": rows[1].name,
            "fields-1-interval_seconds": "60",
        }
    )
    edit.pop("fields-1-minimum_delta", None)
    manager_client.post(f"/telemetry/{config.pk}/edit/", edit)
    assert list(config.versions.values_list("number", flat=True)) == [1]  # same content
    edit["port"] = "4444"
    manager_client.post(f"/telemetry/{config.pk}/edit/", edit)
    assert sorted(config.versions.values_list("number", flat=True)) == [1, 2]
    assert [e.action for e in TelemetryAuditEntry.objects.order_by("pk")] == [
        "created",
        "edited",
        "edited",
    ]


def test_builder_shows_errors_with_400_and_saves_nothing(manager_client, partner_domain):
    response = manager_client.post(
        "/telemetry/new/",
        builder_post(
            hostname="https://x.example.com", **{"fields-0-name": "Unknown", "fields-1-name": ""}
        ),
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "without a scheme" in page and "Unknown is a placeholder" in page
    assert not TelemetryConfig.objects.exists()


def test_a_config_needs_at_least_one_field(manager_client, partner_domain):
    response = manager_client.post(
        "/telemetry/new/", builder_post(**{"fields-0-name": "", "fields-1-name": ""})
    )
    assert response.status_code == 400 and "Add at least one field." in response.content.decode()


def test_a_field_listed_twice_is_refused(manager_client, partner_domain):
    response = manager_client.post("/telemetry/new/", builder_post(**{"fields-1-name": "Soc"}))
    assert response.status_code == 400 and "Soc is listed twice." in response.content.decode()


# --- detail, assignment, progress -----------------------------------------------------------


def test_assigning_vins_and_the_repush_offer(manager_client, cars):
    config = make_config()
    url = f"/telemetry/{config.pk}/assign/"
    vins = " ".join(car.vin for car in cars[:2])
    # One unknown VIN in the paste: nothing is assigned (#16 item 2), the VIN is named.
    refused = manager_client.post(url, {"vins": vins + " NOTAKNOWNVIN0000"})
    assert refused.status_code == 400 and "NOTAKNOWNVIN0000 is not a valid VIN" in (
        refused.content.decode()
    )
    assert not config.assignments.exists()

    response = manager_client.post(url, {"vins": vins}, follow=True)
    page = response.content.decode()
    assert "Vehicles assigned: 2." in page
    assert set(config.assignments.values_list("vehicle__vin", flat=True)) == {
        c.vin for c in cars[:2]
    }
    assert (
        'id="repush-offer"' in page and "Assigned vehicles without the current version: 2." in page
    )


def test_push_from_the_page_queues_a_run_and_the_status_endpoint_reports_it(
    manager_client, cars, django_capture_on_commit_callbacks
):
    from unittest import mock

    config = make_config()
    services.telemetry_config_assign(config=config, vins=[c.vin for c in cars], user=None)
    with (
        mock.patch("telemetry.tasks.telemetry_push.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = manager_client.post(f"/telemetry/{config.pk}/push/")
    run = TelemetryRun.objects.get()
    assert response.status_code == 302
    delay.assert_called_once_with(run.pk)
    status = manager_client.get(f"/telemetry/runs/{run.pk}/status/").json()
    assert status["active"] is True and status["total"] == 3 and status["done"] == 0
    assert {v["status"] for v in status["vehicles"]} == {"pending"}
    page = manager_client.get(f"/telemetry/{config.pk}/").content.decode()
    assert 'data-active="1"' in page and 'http-equiv="refresh"' in page


# --- the owner's read-only view -------------------------------------------------------------


def test_owner_sees_their_vehicle_state_read_only_on_the_vehicle_page(owner_client, cars):
    config = make_config(name="Fleet A")
    services.telemetry_config_assign(config=config, vins=[cars[0].vin], user=None)
    version = services.telemetry_version_current(config=config)
    TelemetryDeployment.objects.create(
        vehicle=cars[0], version=version, status="skipped", reason="missing_key"
    )
    page = owner_client.get(f"/vehicles/{cars[0].pk}/").content.decode()
    assert 'id="telemetry-state"' in page and "Fleet A" in page
    assert "Skipped" in page and "missing_key" in page
    assert "/push/" not in page and "/remove/" not in page


def test_another_users_vehicle_telemetry_is_404_without_any_outbound_call(
    owner_client, other_user, db
):
    from unittest import mock

    theirs = make_vehicles(make_link(other_user), 1, prefix="OTH")[0]
    with mock.patch("accounts.services.link_fleet_call") as call:
        assert owner_client.get(f"/telemetry/vehicles/{theirs.pk}/").status_code == 404
        assert owner_client.get(f"/vehicles/{theirs.pk}/").status_code == 404
    call.assert_not_called()


def test_owner_sees_errors_reported_by_their_vehicle_explained(owner_client, cars):
    from unittest import mock

    error = {
        "created_at": "2025-01-13T19:59:18Z",
        "error": "error loading config file: InvalidSignature: unknown issuer",
        "vin": cars[0].vin,
    }
    from teslafleet.fleet import TelemetryError

    reported = [TelemetryError.from_json(error)]
    with mock.patch("telemetry.services.tesla_errors.link_fleet_call", return_value=reported):
        page = owner_client.get(f"/telemetry/vehicles/{cars[0].pk}/").content.decode()
    assert "unknown issuer" in page and "key the car does not hold" in page


# --- languages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"), [("en", "Telemetry configurations"), ("zh-hans", "遥测配置")]
)
def test_pages_render_in_both_languages(manager_client, cars, language, expected):
    config = make_config()
    services.telemetry_config_assign(config=config, vins=[cars[0].vin], user=None)
    manager_client.cookies["django_language"] = language
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    page = manager_client.get("/telemetry/", **headers).content.decode()
    assert expected in page
    for url in (f"/telemetry/{config.pk}/", "/telemetry/new/", f"/telemetry/{config.pk}/edit/"):
        assert manager_client.get(url, **headers).status_code == 200


def test_error_inbox_without_partner_credentials_says_so_without_calling_out(
    manager_client, settings
):
    from unittest import mock

    settings.TESLA_CLIENT_ID = settings.TESLA_CN_CLIENT_ID = ""
    with mock.patch("requests.Session.request") as http:
        response = manager_client.get("/telemetry/errors/")
    assert response.status_code == 200
    assert "No credentials for this region" in response.content.decode()
    http.assert_not_called()


def test_the_catalogue_has_no_placeholders_and_flags_location_fields():
    from telemetry import catalogue

    names = catalogue.signal_names()
    assert len(catalogue.all_names()) == 260 and len(names) == 260 - 19
    assert not {"Unknown", "Deprecated_1", "Experimental_15"} & names
    assert catalogue.LOCATION_FIELDS.issubset(names)
    grouped = {key: n for key, _label, n in catalogue.grouped()}
    assert "Location" in grouped["location"] and sum(map(len, grouped.values())) == len(names)
