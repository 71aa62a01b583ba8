"""Linking Tesla accounts through allauth against the sandbox, over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import TeslaLink
from accounts.tests.tesla_flow import (
    consent,
    finish,
    link,
    messages_of,
    start_link,
    start_relink,
    token_calls,
)
from conftest import EXTERNAL_CALLBACK

pytestmark = pytest.mark.django_db


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = _query(url) | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_authorize_request_carries_state_pkce_prompt_scopes_and_locale(
    owner_client, tesla_apps, tesla_sandbox
):
    url = start_link(owner_client)
    assert url.startswith(f"{tesla_sandbox.url}/auth/global/oauth2/v3/authorize?")
    query = _query(url)
    assert query["client_id"] == tesla_apps["global"]["client_id"]
    assert query["redirect_uri"] == "http://testserver/accounts/tesla/login/callback/"
    assert query["response_type"] == "code"
    assert query["prompt"] == "login"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 12
    assert query["locale"] == "en-US"
    assert set(query["scope"].split()) == {
        "openid",
        "offline_access",
        "user_data",
        "vehicle_device_data",
        "vehicle_location",
    }


def test_owner_links_a_global_account_and_sees_it_healthy(owner_client, owner, tesla_apps):
    response = link(owner_client, "alice@example.com")
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    link_row = TeslaLink.objects.get(user=owner)
    assert link_row.auth_server == "global"
    assert link_row.region == "NA"
    assert link_row.fleet_api_base_url.endswith("/fleet/na")
    assert link_row.email == "alice@example.com"
    assert link_row.health == TeslaLink.Health.OK
    assert "vehicle_device_data" in link_row.scopes
    assert link_row.access_token.count(".") == 2 and link_row.refresh_token
    html = response.content.decode()
    assert "alice@example.com" in html and "Healthy" in html and "NA" in html
    assert SocialAccount.objects.get(user=owner, provider="tesla").uid == link_row.subject


def test_owner_links_an_eu_account_through_the_global_server(owner_client, owner, tesla_apps):
    link(owner_client, "erika@example.de")
    link_row = TeslaLink.objects.get(user=owner)
    assert (link_row.auth_server, link_row.region) == ("global", "EU")
    assert link_row.fleet_api_base_url.endswith("/fleet/eu")


def test_owner_links_a_china_account_and_a_global_one(owner_client, owner, tesla_apps):
    url = start_link(owner_client, "tesla_cn")
    assert "/auth/cn/oauth2/v3/authorize" in url
    finish(owner_client, consent(url, "wei@example.cn"))
    link(owner_client, "alice@example.com")
    links = {row.auth_server: row for row in TeslaLink.objects.filter(user=owner)}
    assert set(links) == {"global", "cn"}
    assert links["cn"].region == "CN" and links["cn"].fleet_api_base_url.endswith("/fleet/cn")
    assert all(row.health == TeslaLink.Health.OK for row in links.values())


def test_tokens_are_never_stored_in_plaintext_anywhere(owner_client, owner, tesla_apps):
    link(owner_client, "alice@example.com")
    link_row = TeslaLink.objects.get(user=owner)
    secrets = [link_row.access_token, link_row.refresh_token]
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM accounts_teslalink")
        raw_access, raw_refresh = cursor.fetchone()
    assert raw_access not in secrets and raw_refresh not in secrets
    assert raw_access.startswith("gAAAAA")  # Fernet
    assert not SocialToken.objects.exists()
    account = SocialAccount.objects.get(user=owner)
    dumped = str(account.extra_data)
    sessions = "".join(s.session_data for s in Session.objects.all())
    for secret in secrets:
        assert secret not in dumped
        assert secret[:40] not in sessions


def test_key_rotation_re_encrypts_and_the_old_key_can_go(owner_client, owner, tesla_apps, settings):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    link(owner_client, "alice@example.com")
    token = TeslaLink.objects.get(user=owner).access_token
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert TeslaLink.objects.get(user=owner).access_token == token


def test_cancel_at_tesla_links_nothing(owner_client, tesla_apps):
    url = start_link(owner_client)
    response = finish(owner_client, consent(url, "alice@example.com", action="cancel"))
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert "You cancelled at Tesla" in " ".join(messages_of(response))
    assert not TeslaLink.objects.exists()


def test_forged_state_is_refused_without_spending_the_code(owner_client, tesla_apps, tesla_sandbox):
    callback = consent(start_link(owner_client), "alice@example.com")
    before = token_calls(tesla_sandbox)
    response = finish(owner_client, _with_query(callback, state="forged-state-value"))
    assert "could not be verified" in " ".join(messages_of(response))
    assert token_calls(tesla_sandbox) == before
    assert not TeslaLink.objects.exists()


def test_missing_state_is_refused(owner_client, tesla_apps):
    callback = consent(start_link(owner_client), "alice@example.com")
    parts = urlsplit(callback)
    query = {k: v for k, v in _query(callback).items() if k != "state"}
    response = owner_client.get(f"{parts.path}?{urlencode(query)}", follow=True)
    assert "could not be verified" in " ".join(messages_of(response))
    assert not TeslaLink.objects.exists()


def test_a_reused_callback_is_refused(owner_client, owner, tesla_apps, tesla_sandbox):
    callback = consent(start_link(owner_client), "alice@example.com")
    finish(owner_client, callback)
    version = TeslaLink.objects.get(user=owner).token_version
    before = token_calls(tesla_sandbox)
    response = finish(owner_client, callback)
    assert "could not be verified" in " ".join(messages_of(response))
    assert token_calls(tesla_sandbox) == before
    assert TeslaLink.objects.get(user=owner).token_version == version


def test_state_from_another_session_is_refused(owner_client, other_user, tesla_apps):
    callback = consent(start_link(owner_client), "alice@example.com")
    intruder = Client()
    intruder.force_login(other_user)
    response = finish(intruder, callback)
    assert "could not be verified" in " ".join(messages_of(response))
    assert not TeslaLink.objects.exists()


def test_a_china_answer_at_the_global_callback_is_refused(owner_client, tesla_apps, tesla_sandbox):
    callback = consent(start_link(owner_client, "tesla_cn"), "wei@example.cn")
    before = token_calls(tesla_sandbox)
    response = finish(owner_client, callback, path=reverse("tesla_callback"))
    assert "could not be verified" in " ".join(messages_of(response))
    assert token_calls(tesla_sandbox) == before
    assert not TeslaLink.objects.exists()


def test_an_answer_naming_another_issuer_is_refused(owner_client, tesla_apps, tesla_sandbox):
    callback = consent(start_link(owner_client), "alice@example.com")
    before = token_calls(tesla_sandbox)
    forged = _with_query(callback, issuer=tesla_sandbox.issuer("cn"))
    response = finish(owner_client, forged)
    assert "different Tesla sign-in server" in " ".join(messages_of(response))
    assert token_calls(tesla_sandbox) == before
    assert not TeslaLink.objects.exists()


def test_an_expired_code_is_explained(owner_client, tesla_apps, tesla_sandbox):
    callback = consent(start_link(owner_client), "alice@example.com")
    tesla_sandbox.control.advance_clock(11 * 60)
    response = finish(owner_client, callback)
    assert "expired or was already used" in " ".join(messages_of(response))
    assert not TeslaLink.objects.exists()


def test_a_redirect_uri_mismatch_is_explained(owner_client, tesla_apps, settings):
    callback = consent(start_link(owner_client), "alice@example.com")
    # The exchange now names another (registered) redirect URI than the authorize request did.
    settings.TESLA_REDIRECT_URI = EXTERNAL_CALLBACK
    response = finish(owner_client, callback)
    assert "redirect URI does not match" in " ".join(messages_of(response))
    assert not TeslaLink.objects.exists()


def test_token_endpoint_down_is_a_try_again_message(owner_client, tesla_apps, tesla_sandbox):
    callback = consent(start_link(owner_client), "alice@example.com")
    tesla_sandbox.control.fault("/oauth2/v3/token", status=503, body={"error": "server_error"})
    response = finish(owner_client, callback)
    assert "did not answer in time" in " ".join(messages_of(response))
    assert not TeslaLink.objects.exists()


def test_a_slow_token_endpoint_times_out_cleanly(owner_client, tesla_apps, tesla_sandbox, settings):
    callback = consent(start_link(owner_client), "alice@example.com")
    settings.TESLA_HTTP_TIMEOUT = (2.0, 0.5)
    tesla_sandbox.control.fault("/oauth2/v3/token", latency=2.0, count=1)
    response = finish(owner_client, callback)
    assert response.status_code == 200
    assert "did not answer in time" in " ".join(messages_of(response))
    assert not TeslaLink.objects.exists()


def test_a_tesla_account_linked_to_another_user_is_refused(
    owner_client, owner, other_user, tesla_apps
):
    link(owner_client, "alice@example.com")
    version = TeslaLink.objects.get(user=owner).token_version
    intruder = Client()
    intruder.force_login(other_user)
    response = link(intruder, "alice@example.com")
    assert "already linked to another portal user" in " ".join(messages_of(response))
    row = TeslaLink.objects.get()
    assert row.user == owner and row.token_version == version
    assert not SocialAccount.objects.filter(user=other_user).exists()


def test_missing_scopes_ask_for_a_relink_with_prompt_missing_scopes(
    owner_client, owner, tesla_apps
):
    response = link(
        owner_client, "alice@example.com", granted=["openid", "user_data", "vehicle_device_data"]
    )
    row = TeslaLink.objects.get(user=owner)
    assert row.health == TeslaLink.Health.NEEDS_RELINK
    assert "offline_access" in row.health_reason
    # No offline_access, no refresh token: none is made up.
    assert row.refresh_token == ""
    html = response.content.decode()
    assert "needs to be linked again" in html and "offline_access" in html
    assert reverse("link_relink", args=[row.pk]) in html
    relink_url = start_relink(owner_client, row.pk)
    assert _query(relink_url)["prompt_missing_scopes"] == "true"
    finish(owner_client, consent(relink_url, "alice@example.com"))
    row.refresh_from_db()
    assert row.health == TeslaLink.Health.OK and row.refresh_token
    assert TeslaLink.objects.count() == 1


def test_unconfigured_credentials_explain_what_the_operator_must_set(owner_client, settings):
    settings.TESLA_CLIENT_ID = ""
    settings.TESLA_CN_CLIENT_ID = ""
    html = owner_client.get(reverse("dashboard")).content.decode()
    assert "the operator must set TESLA_CLIENT_ID and TESLA_CLIENT_SECRET" in html
    assert "TESLA_CN_CLIENT_ID and TESLA_CN_CLIENT_SECRET" in html
    response = owner_client.post("/accounts/tesla/login/?process=connect", follow=True)
    assert response.status_code == 200
    assert "not configured" in " ".join(messages_of(response)).lower()


def test_unlink_asks_then_deletes_tokens_and_the_allauth_record(owner_client, owner, tesla_apps):
    link(owner_client, "alice@example.com")
    row = TeslaLink.objects.get(user=owner)
    url = reverse("link_unlink", args=[row.pk])
    assert "Unlink alice@example.com" in owner_client.get(url).content.decode()
    assert TeslaLink.objects.filter(pk=row.pk).exists()
    response = owner_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert not TeslaLink.objects.filter(pk=row.pk).exists()
    assert not SocialAccount.objects.filter(user=owner).exists()


def test_another_users_link_is_404_and_causes_no_call(
    owner_client, owner, other_user, tesla_apps, tesla_sandbox
):
    link(owner_client, "alice@example.com")
    row = TeslaLink.objects.get(user=owner)
    tesla_sandbox.control.clear_requests()
    intruder = Client()
    intruder.force_login(other_user)
    url = reverse("link_unlink", args=[row.pk])
    assert intruder.get(url).status_code == 404
    assert intruder.post(url).status_code == 404
    assert TeslaLink.objects.filter(pk=row.pk).exists()
    assert tesla_sandbox.control.requests() == []
    assert "alice@example.com" not in intruder.get(reverse("dashboard")).content.decode()


def test_completion_by_paste_runs_the_same_checks(owner_client, owner, tesla_apps, settings):
    settings.TESLA_REDIRECT_URI = EXTERNAL_CALLBACK
    url = start_link(owner_client)
    assert _query(url)["redirect_uri"] == EXTERNAL_CALLBACK
    callback = consent(url, "alice@example.com")
    assert callback.startswith(EXTERNAL_CALLBACK)
    assert "Finish a link by pasting" in owner_client.get(reverse("dashboard")).content.decode()

    bad = owner_client.post(reverse("link_paste"), {"callback_url": "https://example.org/x"})
    assert "no sign-in result" in bad.content.decode()
    forged = owner_client.post(
        reverse("link_paste"), {"callback_url": _with_query(callback, state="forged")}, follow=True
    )
    assert "could not be verified" in " ".join(messages_of(forged))

    response = owner_client.post(reverse("link_paste"), {"callback_url": callback}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert TeslaLink.objects.get(user=owner).health == TeslaLink.Health.OK


def test_paste_page_is_404_when_the_callback_is_the_portals_own(owner_client, tesla_apps):
    assert owner_client.get(reverse("link_paste")).status_code == 404


def test_dashboard_shows_links_in_chinese(owner_client, owner, tesla_apps):
    link(owner_client, "alice@example.com")
    owner_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    html = owner_client.get(reverse("dashboard")).content.decode()
    assert "特斯拉账户" in html and "正常" in html and "解除关联" in html


def test_a_412_from_users_region_says_the_portal_is_not_registered_there(
    owner_client, tesla_apps, tesla_sandbox
):
    callback = consent(start_link(owner_client), "alice@example.com")
    tesla_sandbox.control.fault(
        "/api/1/users/region",
        status=412,
        body={
            "response": None,
            "error": "Account x must be registered in the current region",
            "error_description": "",
        },
    )
    response = finish(owner_client, callback)
    said = " ".join(messages_of(response))
    assert "not yet registered with Tesla in your account's region" in said
    assert not TeslaLink.objects.exists()


def test_another_users_region_failure_says_the_region_could_not_be_told(
    owner_client, tesla_apps, tesla_sandbox
):
    callback = consent(start_link(owner_client), "alice@example.com")
    tesla_sandbox.control.fault(
        "/api/1/users/region", status=500, body={"response": None, "error": "internal error"}
    )
    response = finish(owner_client, callback)
    said = " ".join(messages_of(response))
    assert "could not tell the account's region (internal error)" in said
    assert "not yet registered" not in said
    assert not TeslaLink.objects.exists()
