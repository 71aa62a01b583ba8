"""The admin has no login of its own: staff sign in through allauth, under its rate limits."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from conftest import PASSWORD

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.20"


def _admin_login(client, **data):
    return client.post(reverse("admin:login"), data, REMOTE_ADDR=ADDRESS)


def test_after_the_allauth_limit_of_failures_the_admin_login_refuses_too(client, staff):
    login = reverse("account_login")
    for _ in range(5):  # allauth's `login_failed` limit: 5 failures per account in 5 minutes
        client.post(login, {"login": staff.email, "password": "wrong"}, REMOTE_ADDR=ADDRESS)
    locked = client.post(login, {"login": staff.email, "password": PASSWORD}, REMOTE_ADDR=ADDRESS)
    assert "_auth_user_id" not in client.session, locked.status_code

    response = _admin_login(client, username=staff.email, password=PASSWORD)

    assert "_auth_user_id" not in client.session
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == login
    assert client.get(reverse("admin:index")).status_code == 302


def test_the_admin_login_form_never_signs_anyone_in(client, staff):
    for _ in range(20):
        _admin_login(client, username=staff.email, password="wrong")
    _admin_login(client, username=staff.email, password=PASSWORD)
    assert "_auth_user_id" not in client.session


def test_the_admin_login_sends_to_the_portal_login_and_back(client, staff):
    target = reverse("admin:index")
    response = client.get(reverse("admin:login"), {"next": target})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("account_login")
    assert parse_qs(location.query)["next"] == [target]

    signed_in = client.post(
        f"{location.path}?{location.query}", {"login": staff.email, "password": PASSWORD}
    )
    assert signed_in.status_code == 302
    assert signed_in["Location"] == target
    assert client.get(target).status_code == 200


def test_the_admin_login_refuses_an_offsite_next(client):
    response = client.get(reverse("admin:login"), {"next": "https://evil.example/"})
    assert parse_qs(urlsplit(response["Location"]).query)["next"] == [reverse("admin:index")]


def test_signed_in_staff_go_straight_to_the_admin(client, staff):
    client.force_login(staff)
    response = client.get(reverse("admin:login"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_a_signed_in_user_who_is_not_staff_is_refused_without_a_loop(client, owner):
    client.force_login(owner)
    response = client.get(reverse("admin:login"), follow=True)
    assert response.redirect_chain == [(reverse("dashboard"), 302)]
    assert "This account has no access to the admin." in response.content.decode()
