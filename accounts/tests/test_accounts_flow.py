"""Sign-up, confirmation, sign-in, password reset and change through django-allauth."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.models import User
from conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an0ther-long-passphrase"


def _signup(client, email="new@example.com", password=PASSWORD, password2=None):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password, "password2": password2 or password},
        follow=True,
    )


def _link_in(message) -> str:
    match = re.search(r"https?://[^/\s]+(/\S+)", message.body)
    assert match, message.body
    return match.group(1)


def test_signup_page_uses_portal_layout(client):
    response = client.get(reverse("account_signup"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "vendor/pico/pico.min.css" in html
    assert 'name="email"' in html and 'name="password1"' in html


def test_signup_sends_confirmation_and_blocks_login_until_confirmed(client):
    response = _signup(client)
    assert response.status_code == 200
    user = User.objects.get(email="new@example.com")
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1
    assert "/accounts/confirm-email/" in mail.outbox[0].body

    client.logout()
    response = client.post(
        reverse("account_login"), {"login": "new@example.com", "password": PASSWORD}, follow=True
    )
    # Mandatory verification: the login ends on the "verify your email" page, not the dashboard.
    assert response.redirect_chain[-1][0] != reverse("dashboard")
    assert "_auth_user_id" not in client.session


def test_confirmation_link_verifies_and_signs_in(client):
    _signup(client)
    confirm_url = _link_in(mail.outbox[0])
    page = client.get(confirm_url)
    assert page.status_code == 200
    response = client.post(confirm_url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert EmailAddress.objects.get(email="new@example.com").verified
    assert "Link Tesla account" in response.content.decode()


def test_wrong_confirmation_key_explains_instead_of_failing(client):
    response = client.get(reverse("account_confirm_email", args=["not-a-real-key"]))
    assert response.status_code < 500
    assert "expired or is invalid" in response.content.decode()


def test_taken_email_creates_no_second_account_and_tells_the_owner(client, owner):
    response = _signup(client, email="OWNER@example.com")
    assert response.status_code == 200
    assert User.objects.filter(email__iexact="owner@example.com").count() == 1
    # allauth prevents account enumeration: the page says "check your email" and the real owner
    # is told that someone tried to sign up with their address.
    assert "verify" in response.content.decode().lower()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["owner@example.com"]
    assert "already" in mail.outbox[0].body.lower()


def test_weak_password_is_refused_with_a_message(client):
    response = _signup(client, password="password")
    assert response.status_code == 200
    assert not User.objects.filter(email="new@example.com").exists()
    html = response.content.decode()
    assert "too common" in html or "too short" in html


def test_mismatched_passwords_are_refused(client):
    response = _signup(client, password2="something-else-entirely")
    assert response.status_code == 200
    assert not User.objects.filter(email="new@example.com").exists()
    assert "same password" in response.content.decode()


def test_verified_user_logs_in_and_sees_the_dashboard(client, owner):
    response = client.post(
        reverse("account_login"), {"login": owner.email, "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert owner.email in response.content.decode()


def test_wrong_password_shows_an_error(client, owner):
    response = client.post(reverse("account_login"), {"login": owner.email, "password": "nope"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()


def test_repeated_failed_logins_lock_the_account_out_for_a_while(client, owner):
    for attempt in range(6):
        client.post(reverse("account_login"), {"login": owner.email, "password": f"x{attempt}"})
    # allauth's login_failed limit (5 per 5 minutes per account): even the right password is
    # refused now, with a message rather than an error page.
    response = client.post(reverse("account_login"), {"login": owner.email, "password": PASSWORD})
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_password_reset_link_sets_a_new_password(client, owner):
    client.post(reverse("account_reset_password"), {"email": owner.email})
    assert len(mail.outbox) == 1
    reset_url = _link_in(mail.outbox[0])
    response = client.get(reset_url, follow=True)
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else reset_url
    response = client.post(
        form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, follow=True
    )
    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)


def test_bad_or_expired_reset_link_explains_instead_of_failing(client, owner):
    url = reverse("account_reset_password_from_key", kwargs={"uidb36": "zz", "key": "bad-key"})
    response = client.get(url, follow=True)
    assert response.status_code < 500
    assert "invalid" in response.content.decode().lower()
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_password_change_requires_the_old_password(owner_client, owner):
    url = reverse("account_change_password")
    bad = owner_client.post(
        url, {"oldpassword": "wrong", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert bad.status_code == 200
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)
    owner_client.post(
        url, {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)


def test_dashboard_requires_login(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_email_is_the_login_and_is_case_insensitive(db):
    User.objects.create_user("Mixed@Example.com", "x")
    assert User.objects.get(email="mixed@example.com")
    with pytest.raises(Exception):  # noqa: B017 - any integrity error will do
        User.objects.create_user("MIXED@example.com", "y")


def _failed_logins_from(client, ip: str, count: int) -> None:
    for attempt in range(count):
        client.post(
            reverse("account_login"),
            {"login": f"nobody{attempt}@example.com", "password": "wrong"},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=ip,
        )


def _login_from(client, ip: str, email: str):
    return client.post(
        reverse("account_login"),
        {"login": email, "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR=ip,
    )


def test_behind_a_proxy_one_clients_failures_do_not_lock_out_another(client, owner, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    _failed_logins_from(client, "203.0.113.66", 12)
    response = _login_from(client, "198.51.100.1", owner.email)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_without_a_trusted_proxy_setting_the_proxy_address_is_what_counts(client, owner, settings):
    # Why production trusts one proxy: otherwise every client shares the proxy's limit.
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    _failed_logins_from(client, "203.0.113.66", 12)
    response = _login_from(client, "198.51.100.1", owner.email)
    assert "_auth_user_id" not in client.session
    assert response.status_code in (200, 429)
