"""Sign-up and account pages (issue #16 item 14): one spelling, the email greets with the
portal's name, a resend button, errors in the portal's style, a favicon."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.staticfiles import finders
from django.core import mail
from django.urls import reverse

from conftest import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = [
    "account_signup",
    "account_login",
    "account_reset_password",
    "account_email_verification_sent",
]


def _signup(client, email="new@example.com"):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )


@pytest.mark.parametrize("name", PAGES)
def test_account_pages_spell_sign_up_and_sign_in_one_way(client, name):
    html = client.get(reverse(name)).content.decode()

    assert not re.search(r"Sign Up|Signup|Register|Sign In", html)
    if name in ("account_signup", "account_login"):
        assert "Sign up" in html and "Sign in" in html


@pytest.mark.parametrize("name", PAGES + ["home"])
def test_every_page_links_a_favicon_that_exists(client, name):
    html = client.get(reverse(name)).content.decode()

    match = re.search(r'<link rel="icon" href="/static/([^"]+)"', html)
    assert match, "no favicon link"
    assert finders.find(match.group(1))


def test_confirmation_email_greets_with_the_portal_name_not_the_host(client, settings):
    settings.PORTAL_PUBLIC_URL = "https://portal.example.com"
    _signup(client)

    body = mail.outbox[0].body
    assert "Hello from Fleet Portal!" in body
    assert "Thank you for using Fleet Portal!" in body
    assert "testserver" not in body.replace("http://testserver/", "")
    assert "portal.example.com" in body


def test_portal_name_setting_names_the_site_in_emails(client, settings):
    settings.PORTAL_NAME = "Acme Fleet"
    _signup(client)

    assert "Hello from Acme Fleet!" in mail.outbox[0].body


def test_verify_page_has_a_resend_button_that_sends_a_new_confirmation(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {"confirm_email": None}
    page = _signup(client).content.decode()
    assert f'action="{reverse("resend_confirmation")}"' in page
    assert "Resend the confirmation email" in page

    response = client.post(
        reverse("resend_confirmation"), {"email": "new@example.com"}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("account_email_verification_sent")
    assert len(mail.outbox) == 2
    assert mail.outbox[1].to == ["new@example.com"]
    assert "/accounts/confirm-email/" in mail.outbox[1].body


def test_resend_answers_the_same_for_unknown_and_confirmed_addresses_and_sends_nothing(
    client, owner
):
    assert EmailAddress.objects.get(user=owner).verified
    answers = []
    for email in ("nobody@example.com", owner.email):
        response = client.post(reverse("resend_confirmation"), {"email": email}, follow=True)
        html = response.content.decode().replace(email, "EMAIL")
        answers.append(re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html))

    assert mail.outbox == []
    assert answers[0] == answers[1]


def test_resend_refuses_get(client):
    assert client.get(reverse("resend_confirmation")).status_code == 405


def test_wrong_password_error_is_an_alert_banner_in_the_portal_style(client, owner):
    response = client.post(reverse("account_login"), {"login": owner.email, "password": "nope"})
    html = response.content.decode()

    banner = re.search(
        r'<article class="banner banner-error" role="alert">(.*?)</article>', html, re.S
    )
    assert banner and "not correct" in banner.group(1)
    assert "errorlist nonfield" not in html
