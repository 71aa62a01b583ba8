"""A rehearsal portal (TESLA_REHEARSAL) says so on every page and in /healthz."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

BANNER = "Rehearsal: this portal talks to the Tesla sandbox, not Tesla."


@pytest.mark.parametrize("url_name", ["home", "account_login", "account_signup"])
def test_every_visitor_sees_the_rehearsal_banner(client, settings, url_name):
    settings.TESLA_REHEARSAL = True
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    assert BANNER in response.content.decode()


def test_a_signed_in_user_sees_the_rehearsal_banner(client, settings, django_user_model):
    settings.TESLA_REHEARSAL = True
    user = django_user_model.objects.create_user(email="owner@example.com", password="x")
    client.force_login(user)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert BANNER in response.content.decode()


def test_no_banner_without_the_rehearsal(client, settings):
    settings.TESLA_REHEARSAL = False
    assert BANNER not in client.get(reverse("account_login")).content.decode()


def test_healthz_reports_the_rehearsal(client, settings):
    settings.TESLA_REHEARSAL = True
    assert client.get(reverse("healthz")).json()["rehearsal"] is True
    settings.TESLA_REHEARSAL = False
    assert "rehearsal" not in client.get(reverse("healthz")).json()


def test_the_preflight_expects_the_rehearsal_sandbox_to_fetch_the_key_over_https(settings):
    # scripts/rehearse.sh runs the sandbox with --key-fetch-https: its key comes through nginx.
    from partners import selectors

    settings.TESLA_ENV = "sandbox"
    settings.TESLA_PARTNER_DOMAIN = ""
    settings.PORTAL_PUBLIC_URL = "https://localhost:9443"
    key = "/.well-known/appspecific/com.tesla.3p.public-key.pem"
    settings.TESLA_REHEARSAL = True
    assert selectors.public_key_urls() == [f"https://localhost:9443{key}"]
    settings.TESLA_REHEARSAL = False  # `make run`'s sandbox fetches a loopback key over http
    assert selectors.public_key_urls() == [
        f"https://localhost:9443{key}",
        f"http://localhost:9443{key}",
    ]
