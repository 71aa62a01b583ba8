"""Partner tokens: one per region, cached encrypted, fetched again before they expire."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from partners import services
from partners.models import PartnerToken

pytestmark = pytest.mark.django_db


def _token_calls(tesla_sandbox) -> list[dict]:
    return tesla_sandbox.control.requests(path="/token")


def test_second_call_uses_the_cached_token_without_asking_tesla(fresh_apps, tesla_sandbox):
    first = services.partner_token_get(region="NA")
    second = services.partner_token_get(region="NA")
    assert first == second
    calls = _token_calls(tesla_sandbox)
    assert len(calls) == 1
    assert calls[0]["grant_type"] == "client_credentials"
    assert calls[0]["client_id"] == fresh_apps["global"]["client_id"]


def test_each_region_gets_its_own_token_from_its_own_server(fresh_apps, tesla_sandbox):
    tokens = {code: services.partner_token_get(region=code) for code in ("NA", "EU", "CN")}
    assert len(set(tokens.values())) == 3
    client_ids = [call["client_id"] for call in _token_calls(tesla_sandbox)]
    assert client_ids.count(fresh_apps["cn"]["client_id"]) == 1
    assert client_ids.count(fresh_apps["global"]["client_id"]) == 2


def test_token_is_encrypted_at_rest(fresh_apps):
    token = services.partner_token_get(region="EU")
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM partners_partnertoken")
        raw = cursor.fetchone()[0]
    assert token not in raw and raw.startswith("gAAAAA")


def test_a_token_close_to_expiry_is_replaced_before_use(fresh_apps, tesla_sandbox):
    first = services.partner_token_get(region="NA")
    PartnerToken.objects.update(expires_at=timezone.now() + dt.timedelta(minutes=5))
    second = services.partner_token_get(region="NA")
    assert second != first
    assert len(_token_calls(tesla_sandbox)) == 2
    assert PartnerToken.objects.get().expires_at > timezone.now() + dt.timedelta(hours=7)


def test_changed_credentials_never_reuse_the_old_apps_token(fresh_apps, settings, tesla_sandbox):
    services.partner_token_get(region="NA")
    other = tesla_sandbox.control.register_client(server="global", allowed_origins=["localhost"])
    settings.TESLA_CLIENT_ID = other["client_id"]
    settings.TESLA_CLIENT_SECRET = other["client_secret"]
    services.partner_token_get(region="NA")
    calls = _token_calls(tesla_sandbox)
    assert [call["client_id"] for call in calls] == [
        fresh_apps["global"]["client_id"],
        other["client_id"],
    ]
    assert PartnerToken.objects.get().client_id == other["client_id"]


def test_a_cached_token_tesla_rejects_is_replaced_once(fresh_apps, tesla_sandbox):
    services.partner_key_generate()
    services.partner_token_get(region="NA")
    # The sandbox clock runs past the 8 h lifetime while our cache still believes in it.
    tesla_sandbox.control.advance_clock(9 * 3600)
    row = services.partner_registration_check(region="NA")
    assert row.state == "not_registered"  # a real answer from Tesla, not a 401
    assert len(_token_calls(tesla_sandbox)) == 2


def test_no_token_without_credentials(fresh_apps, settings, tesla_sandbox):
    settings.TESLA_CLIENT_SECRET = ""
    with pytest.raises(services.PartnerSetupError, match="TESLA_CLIENT_SECRET"):
        services.partner_token_get(region="EU")
    assert tesla_sandbox.control.requests() == []
