"""Every rule of the builder and the admin: each bad input and the message it gets."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone, translation

from telemetry.forms import AssignForm, TelemetryConfigForm, TelemetryFieldForm
from telemetry.tests.factories import ca, pem_cert, pem_private_key
from vehicles import services as vehicle_services
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db

NOW = dt.datetime.now(dt.UTC)


def config_data(**overrides) -> dict:
    data = {
        "name": "fleet",
        "hostname": "telemetry.example.com",
        "port": "4443",
        "ca": ca(),
        "exp": (timezone.now() + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
        "delivery_policy": "latest",
        "alert_types": ["service"],
        "prefer_typed": "on",
    }
    data.update(overrides)
    return data


CONFIG_CASES = [
    ("hostname", "https://telemetry.example.com", "without a scheme"),
    ("hostname", "telemetry.example.com/path", "without a path"),
    ("hostname", "telemetry.example.com:4443", "in the port field"),
    ("hostname", "203.0.113.7", "An IP address is not accepted"),
    ("hostname", "[2001:db8::1]", "An IP address is not accepted"),
    ("hostname", "localhost", "localhost is not reachable"),
    ("hostname", "Telemetry.Example.com", "must be lower case"),
    ("hostname", "bad_host.example.com", "is not a valid DNS host name"),
    ("hostname", "telemetry.other.org", "a name ending in .example.com"),
    ("hostname", "", "This field is required."),
    ("port", "0", "from 1 to 65535"),
    ("port", "65536", "from 1 to 65535"),
    ("port", "-1", "from 1 to 65535"),
    ("port", "https", "Enter a whole number."),
    ("ca", "not a certificate", "This is not PEM"),
    ("ca", pem_private_key(), "This contains a private key"),
    ("ca", ca() + pem_private_key(), "This contains a private key"),
    ("ca", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "Only CERTIFICATE"),
    (
        "ca",
        "-----BEGIN CERTIFICATE-----\nMIIBsandbox\n-----END CERTIFICATE-----\n",
        "cannot be read",
    ),
    (
        "ca",
        pem_cert(not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1)),
        "expired on",
    ),
    (
        "ca",
        pem_cert(not_before=NOW + dt.timedelta(days=2), not_after=NOW + dt.timedelta(days=30)),
        "is not valid before",
    ),
    ("exp", "2020-01-01T00:00", "The expiry must be in the future."),
]


@pytest.mark.parametrize(("field", "value", "message"), CONFIG_CASES)
def test_config_form_refuses_bad_input_with_a_clear_message(partner_domain, field, value, message):
    form = TelemetryConfigForm(data=config_data(**{field: value}))
    assert not form.is_valid()
    assert message in " ".join(form.errors[field])


def test_a_good_config_is_valid_and_the_ca_is_normalised(partner_domain):
    form = TelemetryConfigForm(data=config_data(ca="\n\n" + ca() + "\n\n"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["ca"] == ca().strip() + "\n"
    assert form.cleaned_data["hostname"] == "telemetry.example.com"


def test_sandbox_accepts_loopback_hosts_production_does_not(settings):
    settings.TESLA_PARTNER_DOMAIN = "127.0.0.1:8000"
    settings.TESLA_ENV = "sandbox"
    assert TelemetryConfigForm(data=config_data(hostname="127.0.0.1")).is_valid()
    settings.TESLA_ENV = "production"
    form = TelemetryConfigForm(data=config_data(hostname="127.0.0.1"))
    assert not form.is_valid()
    assert "An IP address is not accepted" in form.errors["hostname"][0]


FIELD_CASES = [
    ("name", "NotAField", "NotAField is not a Fleet Telemetry field."),
    ("name", "Unknown", "Unknown is a placeholder"),
    ("name", "Deprecated_2", "Deprecated_2 is a placeholder"),
    ("name", "Experimental_15", "Experimental_15 is a placeholder"),
    ("name", "soc", "soc is not a Fleet Telemetry field."),
    ("interval_seconds", "0", "at least 1"),
    ("interval_seconds", "-5", "at least 1"),
    ("interval_seconds", "1.5", "Enter a whole number."),
    ("interval_seconds", "", "at least 1"),
    ("resend_interval_seconds", "0", "at least 1"),
    ("minimum_delta", "0", "greater than 0"),
    ("minimum_delta", "-1", "greater than 0"),
    ("minimum_delta", "nan", "Enter a number."),
]


@pytest.mark.parametrize(("field", "value", "message"), FIELD_CASES)
def test_field_form_refuses_bad_input_with_a_clear_message(field, value, message):
    data = {"name": "Soc", "interval_seconds": "60", field: value}
    form = TelemetryFieldForm(data=data)
    assert not form.is_valid()
    assert message in " ".join(form.errors[field])


def test_field_form_takes_catalogue_fields_with_optional_settings():
    form = TelemetryFieldForm(
        data={
            "name": "ChargerVoltage",
            "interval_seconds": "1",
            "minimum_delta": "5",
            "resend_interval_seconds": "3600",
        }
    )
    assert form.is_valid(), form.errors


def test_messages_are_translated_to_simplified_chinese(partner_domain):
    with translation.override("zh-hans"):
        form = TelemetryConfigForm(data=config_data(hostname="203.0.113.7", port="0"))
        assert not form.is_valid()
        assert (
            "IP" in form.errors["hostname"][0] and "An IP address" not in form.errors["hostname"][0]
        )
        assert "65535" in form.errors["port"][0] and "The port must" not in form.errors["port"][0]
        field = TelemetryFieldForm(data={"name": "Unknown", "interval_seconds": "0"})
        assert not field.is_valid()
        assert "placeholder" not in field.errors["name"][0]


def test_assign_form_splits_a_paste_as_the_vehicle_roster_does():
    # One rule for a pasted VIN list: a semicolon separates VINs here as in the roster.
    text = "xp7ygcek5sb617830;LRW3E7FS0RC257863, LRW3E7FS0RC257863"
    for vin in ("XP7YGCEK5SB617830", "LRW3E7FS0RC257863"):
        Vehicle.objects.create(vin=vin)
    form = AssignForm({"vins": text})

    assert form.is_valid(), form.errors
    assert form.cleaned_data["vins"] == sorted(vehicle_services.roster_parse(text)[0])


def test_builder_form_shows_which_host_names_the_partner_domain_allows(partner_domain):
    form = TelemetryConfigForm()

    assert "a name ending in .example.com" in str(form["hostname"].help_text)
    assert "a name ending in .example.com" in form.as_div()
