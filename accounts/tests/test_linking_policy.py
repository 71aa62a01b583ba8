"""Who may start a Tesla flow, what the authorize URL may say, and what Relink restores."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts.adapters import link_error_message
from accounts.models import TeslaLink
from accounts.providers.tesla.views import (
    IssuerMismatch,
    IssuerMissing,
    PkceMissing,
    ProfileLookupFailed,
    TeslaOAuth2Adapter,
    TokenExchangeFailed,
)
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
from sandbox import tokens as sandbox_tokens
from teslafleet import oauth
from teslafleet.errors import TeslaError

pytestmark = pytest.mark.django_db

SCOPES = {"openid", "offline_access", "user_data", "vehicle_device_data", "vehicle_location"}


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- no "Sign in with Tesla" ----------------------------------------------------------------


@pytest.mark.parametrize("page", ["account_login", "account_signup"])
def test_login_and_signup_pages_offer_no_sign_in_with_tesla(client, tesla_apps, page):
    html = client.get(reverse(page)).content.decode()
    assert reverse("tesla_login") not in html
    assert reverse("tesla_cn_login") not in html


def test_a_crafted_tesla_login_url_is_refused_before_going_to_tesla(
    client, tesla_apps, tesla_sandbox
):
    response = client.post(reverse("tesla_login"), {"process": "login"}, follow=True)
    assert response.redirect_chain[0][0] == reverse("home")
    assert "can only be linked from your dashboard" in " ".join(messages_of(response))
    assert tesla_sandbox.control.requests() == []


def test_a_signed_in_user_cannot_use_the_login_process_either(
    owner_client, tesla_apps, tesla_sandbox
):
    response = owner_client.post(f"{reverse('tesla_cn_login')}?process=login")
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert tesla_sandbox.control.requests() == []


# --- the authorize URL is ours --------------------------------------------------------------


def test_query_parameters_cannot_change_the_authorize_request(owner_client, tesla_apps):
    crafted = urlencode(
        {
            "prompt": "none",
            "state": "attacker-state",
            "scope": "openid",
            "redirect_uri": "https://evil.example/cb",
            "code_challenge": "attacker-challenge",
            "client_id": "someone-else",
        }
    )
    response = owner_client.post(
        f"{reverse('tesla_login')}?{urlencode({'process': 'connect', 'auth_params': crafted})}"
        "&scope=vehicle_cmds",
        {"process": "connect"},
    )
    assert response.status_code == 302
    query = _query(response["Location"])
    assert query["prompt"] == "login"
    assert query["state"] != "attacker-state" and len(query["state"]) >= 12
    assert set(query["scope"].split()) == SCOPES
    assert query["redirect_uri"] == "http://testserver/accounts/tesla/login/callback/"
    assert query["code_challenge"] != "attacker-challenge"
    assert query["client_id"] == tesla_apps["global"]["client_id"]
    # And the flow still completes with our own state and PKCE.
    finish(owner_client, consent(response["Location"], "alice@example.com"))
    assert TeslaLink.objects.get().email == "alice@example.com"


def test_a_callback_without_issuer_is_refused_without_spending_the_code(
    owner_client, tesla_apps, tesla_sandbox
):
    callback = consent(start_link(owner_client), "alice@example.com")
    parts = urlsplit(callback)
    query = {k: v for k, v in _query(callback).items() if k != "issuer"}
    before = token_calls(tesla_sandbox)
    response = owner_client.get(f"{parts.path}?{urlencode(query)}", follow=True)
    assert "did not name the sign-in server" in " ".join(messages_of(response))
    assert token_calls(tesla_sandbox) == before
    assert not TeslaLink.objects.exists()


# --- Relink is tied to its row --------------------------------------------------------------


def test_relink_restores_the_same_tesla_account(owner_client, owner, tesla_apps):
    link(owner_client, "alice@example.com")
    row = TeslaLink.objects.get(user=owner)
    url = start_relink(owner_client, row.pk)
    assert _query(url)["prompt_missing_scopes"] == "true"
    assert _query(url)["prompt"] == "login"
    response = finish(owner_client, consent(url, "alice@example.com"))
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    relinked = TeslaLink.objects.get()
    assert relinked.pk == row.pk and relinked.token_version == row.token_version + 1


def test_relink_signed_in_as_another_tesla_account_is_refused_and_stores_nothing(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    link(owner_client, "alice@example.com")
    row = TeslaLink.objects.get(user=owner)
    callback = consent(start_relink(owner_client, row.pk), "bob@example.com")
    response = finish(owner_client, callback)
    said = " ".join(messages_of(response))
    assert "different account than the one you pressed Relink for" in said
    assert "alice@example.com" in said
    # No link for bob, alice's pair untouched, and allauth recorded nothing for bob.
    assert list(TeslaLink.objects.values_list("email", flat=True)) == ["alice@example.com"]
    kept = TeslaLink.objects.get()
    assert kept.token_version == row.token_version and kept.refresh_token == row.refresh_token
    assert list(SocialAccount.objects.values_list("uid", flat=True)) == [row.subject]


def test_relink_of_another_users_link_is_404_and_causes_no_call(
    owner_client, owner, other_user, tesla_apps, tesla_sandbox
):
    link(owner_client, "alice@example.com")
    row = TeslaLink.objects.get(user=owner)
    tesla_sandbox.control.clear_requests()
    intruder = Client()
    intruder.force_login(other_user)
    assert intruder.post(reverse("link_relink", args=[row.pk])).status_code == 404
    assert intruder.get(reverse("link_relink", args=[row.pk])).status_code == 404
    assert tesla_sandbox.control.requests() == []


def test_relink_is_a_post(owner_client, owner, tesla_apps):
    link(owner_client, "alice@example.com")
    row = TeslaLink.objects.get(user=owner)
    assert owner_client.get(reverse("link_relink", args=[row.pk])).status_code == 405


# --- each authorization server with its own URLs --------------------------------------------


def test_each_server_uses_its_own_configured_redirect_uri(
    owner_client, owner, tesla_apps, settings
):
    # Only the China application names an external callback: the global one keeps the
    # portal's own, and the China exchange names the same URI its authorize request did.
    settings.TESLA_CN_REDIRECT_URI = EXTERNAL_CALLBACK
    global_url = start_link(owner_client)
    assert _query(global_url)["redirect_uri"] == "http://testserver/accounts/tesla/login/callback/"
    cn_url = start_link(owner_client, "tesla_cn")
    assert _query(cn_url)["redirect_uri"] == EXTERNAL_CALLBACK
    callback = consent(cn_url, "wei@example.cn")
    response = owner_client.post(reverse("link_paste"), {"callback_url": callback}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert TeslaLink.objects.get(user=owner).auth_server == "cn"


def test_a_china_link_spends_its_code_at_the_china_token_endpoint(
    owner_client, tesla_apps, tesla_sandbox
):
    link(owner_client, "wei@example.cn", provider="tesla_cn")
    token_paths = [
        r["path"] for r in tesla_sandbox.control.requests() if r["path"].endswith("/token")
    ]
    assert token_paths == ["/auth/cn/oauth2/v3/token"]


def test_the_adapter_reports_that_it_fetched_the_token_itself(
    owner_client, tesla_apps, tesla_sandbox, monkeypatch
):
    # allauth's OAuth2Adapter contract: after the code exchange `did_fetch_access_token` is
    # True (the token came straight from the token endpoint over TLS, not from the browser).
    seen = []
    complete_login = TeslaOAuth2Adapter.complete_login

    def spy(self, *args, **kwargs):
        seen.append(self.did_fetch_access_token)
        return complete_login(self, *args, **kwargs)

    monkeypatch.setattr(TeslaOAuth2Adapter, "complete_login", spy)
    link(owner_client, "alice@example.com")
    assert seen == [True]
    assert TeslaLink.objects.filter(user__email="owner@example.com").count() == 1


# --- what the code exchange keeps -----------------------------------------------------------


def test_the_lifetime_tesla_gives_the_access_token_is_the_links_expiry(
    owner_client, owner, tesla_apps, monkeypatch
):
    # Tesla says 8 h, which is also the portal's fallback when it says nothing: a shorter
    # lifetime shows the answer's `expires_in` is the one kept.
    monkeypatch.setattr(sandbox_tokens, "ACCESS_TTL", 3600)
    before = timezone.now()
    link(owner_client, "alice@example.com")
    expires = TeslaLink.objects.get(user=owner).access_token_expires_at
    assert before + dt.timedelta(hours=1) <= expires <= timezone.now() + dt.timedelta(hours=1)


def test_the_profile_is_never_looked_up_without_an_exchanged_token_pair(rf, tesla_apps):
    adapter = TeslaOAuth2Adapter(rf.get("/accounts/tesla/login/callback/"))
    with pytest.raises(AssertionError):
        adapter.complete_login(adapter.request, app=None, token=None)


# --- what the user is told when the exchange fails ------------------------------------------


def test_wrong_client_credentials_are_explained_to_ask_the_operator(
    owner_client, tesla_apps, settings
):
    callback = consent(start_link(owner_client), "alice@example.com")
    settings.TESLA_CLIENT_SECRET = "sbx_not-the-registered-secret"
    response = finish(owner_client, callback)
    said = " ".join(messages_of(response))
    assert "Tesla refused this portal's client credentials" in said
    assert "check the Tesla client id and secret" in said
    assert not TeslaLink.objects.exists()


@pytest.mark.parametrize(
    ("body", "named"),
    [({"error": "invalid_scope", "error_description": "no"}, "invalid_scope"), ({}, "400")],
)
def test_another_refusal_of_the_code_names_teslas_error(
    owner_client, tesla_apps, tesla_sandbox, body, named
):
    callback = consent(start_link(owner_client), "alice@example.com")
    tesla_sandbox.control.fault("/oauth2/v3/token", status=400, body=body)
    response = finish(owner_client, callback)
    assert f"Tesla refused the sign-in ({named}). Nothing was linked." in messages_of(response)
    assert not TeslaLink.objects.exists()


# --- the errors the callback raises: what they carry and say --------------------------------
# allauth hands them to SocialAccountAdapter.on_authentication_error, which picks the user's
# message by class and by the Tesla error they carry; their own text is what a traceback or
# a debugger shows.


def test_a_refused_exchange_carries_teslas_error_and_is_named_after_it():
    refused = oauth.PermanentOAuthError("refused", status=400, error="invalid_auth_code")
    wrapped = TokenExchangeFailed(refused)
    assert wrapped.error is refused
    assert wrapped.args == ("invalid_auth_code",)
    unnamed = oauth.TransientOAuthError("no answer", status=503)
    assert TokenExchangeFailed(unnamed).args == ("token_exchange_failed",)


def test_a_failed_profile_lookup_carries_the_fleet_error_and_its_text():
    failure = TeslaError("users/region answered 500", status=500, error="internal error")
    wrapped = ProfileLookupFailed(failure)
    assert wrapped.error is failure
    assert wrapped.args == ("users/region answered 500",)


def test_the_issuer_checks_refuse_before_the_code_is_spent(rf, tesla_apps, tesla_sandbox):
    path = reverse("tesla_callback")
    adapter = TeslaOAuth2Adapter(rf.get(path))
    app = SimpleNamespace(client_id=tesla_apps["global"]["client_id"], secret="unused")
    answer = {"code": "a-code", "state": "a-state"}
    with pytest.raises(IssuerMissing) as missing:
        adapter.get_access_token_data(rf.get(path, answer), app, client=None)
    assert missing.value.args == ("issuer missing",)
    foreign = answer | {"issuer": tesla_sandbox.issuer("cn")}
    with pytest.raises(IssuerMismatch) as mismatch:
        adapter.get_access_token_data(rf.get(path, foreign), app, client=None)
    assert mismatch.value.args == ("issuer mismatch",)
    assert token_calls(tesla_sandbox) == 0


def test_a_flow_without_a_pkce_verifier_is_refused_before_the_code_is_spent(
    rf, tesla_apps, tesla_sandbox
):
    path = reverse("tesla_callback")
    adapter = TeslaOAuth2Adapter(rf.get(path))
    app = SimpleNamespace(client_id=tesla_apps["global"]["client_id"], secret="unused")
    answer = {"code": "a-code", "state": "a-state", "issuer": tesla_sandbox.issuer("global")}
    for verifier in (None, ""):
        with pytest.raises(PkceMissing) as missing:
            adapter.get_access_token_data(rf.get(path, answer), app, None, verifier)
        assert missing.value.args == ("pkce code verifier missing",)
    assert token_calls(tesla_sandbox) == 0
    message = link_error_message(None, missing.value, {})
    assert "PKCE verifier is missing" in message
    with translation.override("zh-hans"):
        chinese = link_error_message(None, missing.value, {})
    assert "PKCE" in chinese
    assert chinese != message
