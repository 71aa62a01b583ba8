"""What a car's software can take (issue 17): a config that asks for more than a car's
telemetry client can do is flagged on the config page; an expired config is never pushed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from telemetry import catalogue, services
from telemetry.models import TelemetryField, TelemetryRun
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


@pytest.fixture
def cars(owner):
    """Three assigned cars: client 0.9.0, client 1.0.0, and one whose client is unknown."""
    cars = make_vehicles(make_link(owner), 3)
    for car, version in zip(cars, ["0.9.0", "1.0.0", ""], strict=True):
        car.telemetry_version = version
        car.save(update_fields=["telemetry_version"])
    return cars


def _assign(config, cars):
    services.telemetry_config_assign(config=config, vins=[c.vin for c in cars], user=None)


def _problems(config, cars):
    from telemetry import selectors

    return selectors.client_problems(config=config, vehicles=cars)


def test_delivery_policy_is_flagged_on_cars_whose_client_is_older_than_1_0(manager_client, cars):
    config = make_config()  # delivery_policy "latest"
    _assign(config, cars)
    problems = _problems(config, cars)
    assert list(problems) == [cars[0].pk]
    assert "client 0.9.0" in problems[cars[0].pk]
    assert "delivery policy" in problems[cars[0].pk]
    page = manager_client.get(f"/telemetry/{config.pk}/").content.decode()
    assert page.count("This car runs telemetry client 0.9.0") == 1


def test_a_location_minimum_change_is_flagged_and_a_plain_config_is_not(cars):
    config = make_config(fields={"Location": 10})
    config.delivery_policy = ""
    config.save()
    _assign(config, cars)
    assert _problems(config, cars) == {}
    TelemetryField.objects.filter(config=config, name="Location").update(minimum_delta=100)
    problems = _problems(config, cars)
    assert list(problems) == [cars[0].pk]
    assert "minimum change for Location" in problems[cars[0].pk]


def test_an_expired_config_is_not_pushed_and_says_why(manager_client, cars):
    config = make_config(exp=timezone.now() - dt.timedelta(minutes=1))
    _assign(config, cars)
    with pytest.raises(services.ConfigExpired, match="expired on"):
        services.telemetry_push_start(config=config, user=None)
    response = manager_client.post(f"/telemetry/{config.pk}/push/", follow=True)
    assert "expired on" in response.content.decode()
    assert not TelemetryRun.objects.exists()
    # A later expiry pushes again.
    config.exp = timezone.now() + dt.timedelta(days=1)
    config.save()
    assert services.telemetry_push_start(config=config, user=None).total == 3


def test_an_atom_car_skipped_for_its_key_is_told_about_the_safety_screen():
    from telemetry.explanations import explain_skip

    assert "Safety screen" in explain_skip("missing_key")["fix"]
    assert "2025.20" in explain_skip("unsupported_hardware")["fix"]


def test_the_builder_warns_which_fields_the_assigned_cars_software_cannot_send(
    manager_client, cars
):

    for car, firmware in zip(cars, ["2024.44.30", "2024.45.32 abc", ""], strict=True):
        car.firmware_version = firmware
        car.save(update_fields=["firmware_version"])
    config = make_config(fields={"Soc": 60, "ChargerVoltage": 10, "ChargeRateMilePerHour": 60})
    _assign(config, cars)
    page = manager_client.get(f"/telemetry/{config.pk}/edit/").content.decode()
    # ChargerVoltage: 2024.44.32 / 2024.45.32; the 2024.44.30 car is below, 2024.45.32 is not.
    assert "ChargerVoltage needs software 2024.44.32 / 2024.45.32: 1 assigned car runs" in page
    # ChargeRateMilePerHour needs client 1.0.0 (2025.2.6 / 2024.45.32.20): both known cars.
    assert "ChargeRateMilePerHour needs software" in page and "2 assigned cars run" in page
    assert "Soc needs" not in page  # no known minimum: nothing claimed
    # delivery_policy and the 0.9.0 client of the first car
    assert "1 assigned car runs a telemetry client older than 1.0.0" in page
    assert catalogue.firmware_supports("ChargerVoltage", (2024, 45, 32)) is True
    assert catalogue.firmware_supports("ChargerVoltage", (2024, 45, 31)) is False
    assert catalogue.firmware_supports("ChargerVoltage", (2025, 1)) is True
    assert catalogue.firmware_supports("Soc", (2020, 1)) is None
    # A new config has no assigned cars: no warning.
    assert "version-warnings" not in manager_client.get("/telemetry/new/").content.decode()


def test_a_new_configuration_starts_with_an_expiry_a_year_ahead_and_service_alerts(
    manager_client,
):
    """The builder never offers a config without a future expiry by default (issue 17 item 7:
    Tesla's own example's exp is in the past), and service alerts are ticked."""
    import re

    html = manager_client.get("/telemetry/new/").content.decode()
    exp = re.search(r'name="exp" value="([^"]+)"', html)
    assert exp, "no default expiry"
    when = dt.datetime.fromisoformat(exp.group(1))
    ahead = when - timezone.localtime().replace(tzinfo=None)
    assert dt.timedelta(days=300) < ahead < dt.timedelta(days=400)
    assert re.search(r'name="alert_types" value="service"[^>]*checked', html)


def test_the_builder_prices_its_signal_estimate_at_the_usage_pages_rate(manager_client, settings):
    """Issue 18 item 5: the field catalogue's estimate uses the usage page's signal rate."""
    from telemetry.forms import signals_cost

    settings.USAGE_RATES = {**settings.USAGE_RATES, "signals": "1/150000"}
    html = manager_client.get("/telemetry/new/").content.decode()
    rows = [(interval, None) for _name, interval in catalogue.DEFAULT_FIELDS]
    ceiling = catalogue.signals_per_day(rows)
    from decimal import Decimal

    expected = (Decimal(ceiling) * 30 / 150000).quantize(Decimal("0.01"))
    assert 'id="estimate-ceiling-cost"' in html
    assert f">{expected}</span>" in html or f">{expected:,}</span>" in html
    assert signals_cost(21888, Decimal(1) / 150000) == "4.38"
    settings.USAGE_RATES = {**settings.USAGE_RATES, "signals": "1/10000"}
    html = manager_client.get("/telemetry/new/").content.decode()
    assert signals_cost(ceiling, Decimal(1) / 10000) in html


def test_an_unreadable_minimum_firmware_is_an_error_not_any_firmware(monkeypatch):
    broken = catalogue.FieldDetails("Soc", "percent", "soon", "", "")
    monkeypatch.setattr(catalogue, "details_for", lambda name: broken)
    with pytest.raises(ValueError, match="Soc: unreadable minimum firmware 'soon'"):
        catalogue.firmware_supports("Soc", (2025, 1))
