"""Who may start a Tesla flow, what the authorize URL may say, and what Relink restores."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
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
