"""Hypothesis fuzzing of the builder: whatever is posted, never a 500 and never a call out
for input that does not validate."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry.models import TelemetryConfig
from telemetry.tests.factories import ca

pytestmark = pytest.mark.django_db

text = st.text(max_size=300)
maybe_number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    text,
)
field_names = st.one_of(
    st.sampled_from(["Soc", "Unknown", "Deprecated_1", "Experimental_3", "Location", ""]), text
)
posts = st.fixed_dictionaries(
    {
        "name": text,
        "hostname": st.one_of(
            st.sampled_from(
                ["telemetry.example.com", "localhost", "127.0.0.1", "https://a.example.com"]
            ),
            text,
        ),
        "port": maybe_number,
        "ca": st.one_of(st.just(ca()), text, st.just("-----BEGIN CERTIFICATE-----\n")),
        "exp": st.one_of(st.just("2999-01-01T00:00"), text),
        "delivery_policy": st.one_of(st.just("latest"), text),
        "alert_types": st.lists(st.one_of(st.just("service"), text), max_size=3),
        "fields-TOTAL_FORMS": st.one_of(st.just("2"), maybe_number),
        "fields-INITIAL_FORMS": st.one_of(st.just("0"), maybe_number),
        "fields-0-name": field_names,
        "fields-0-interval_seconds": maybe_number,
        "fields-0-minimum_delta": maybe_number,
        "fields-0-resend_interval_seconds": maybe_number,
        "fields-1-name": field_names,
        "fields-1-interval_seconds": maybe_number,
    }
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=posts)
def test_builder_never_errors_and_never_calls_out(manager_client, partner_domain, data):
    # Strip what Django's test client cannot encode (NUL bytes in form values).
    data = {
        k: ([x.replace("\x00", "") for x in v] if isinstance(v, list) else v.replace("\x00", ""))
        for k, v in data.items()
    }
    with (
        mock.patch("accounts.services.link_fleet_call") as link_call,
        mock.patch("requests.Session.request") as http,
    ):
        response = manager_client.post("/telemetry/new/", data)
    assert response.status_code in (302, 400)
    link_call.assert_not_called()
    http.assert_not_called()
    TelemetryConfig.objects.all().delete()
