"""The language choice outlives the browser: kept on the user's profile (applied after signing
in anywhere) and in a cookie that lasts a year, not one that dies with the browser session."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD

pytestmark = pytest.mark.django_db

YEAR = 365 * 24 * 60 * 60


def _switch(client: Client, language: str):
    return client.post(reverse("set_language"), {"language": language, "next": "/dashboard/"})


def _sign_in(client: Client, email: str):
    return client.post(
        reverse("account_login"), {"login": email, "password": PASSWORD}, follow=True
    )


def test_a_choice_is_saved_on_the_profile_and_applied_after_signing_in_on_a_new_browser(
    owner_client, owner
):
    _switch(owner_client, "zh-hans")
    owner.refresh_from_db()
    assert owner.language == "zh-hans"

    # Another browser: no cookie, and it asks for English.
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = _sign_in(browser, owner.email)
    html = page.content.decode()
    assert '<html lang="zh-hans">' in html and "仪表板" in html
    # The cookie now says so too, for a year.
    cookie = browser.cookies["django_language"]
    assert cookie.value == "zh-hans" and int(cookie["max-age"]) == YEAR


def test_the_saved_language_beats_a_stale_cookie_of_another_language(client, owner):
    owner.language = "zh-hans"
    owner.save()
    client.cookies["django_language"] = "en"
    client.force_login(owner)
    html = client.get("/vehicles/").content.decode()
    assert '<html lang="zh-hans">' in html


def test_switching_back_while_signed_in_keeps_the_new_choice(owner_client, owner):
    _switch(owner_client, "zh-hans")
    response = _switch(owner_client, "en")
    owner.refresh_from_db()
    assert owner.language == "en"
    assert response.cookies["django_language"].value == "en"
    assert '<html lang="en">' in owner_client.get("/dashboard/").content.decode()


def test_the_language_cookie_lasts_a_year_not_the_browser_session(client):
    response = _switch(client, "zh-hans")
    cookie = response.cookies["django_language"]
    assert cookie.value == "zh-hans"
    assert int(cookie["max-age"]) == YEAR
    assert cookie["samesite"] == "Lax"


def test_a_choice_made_before_signing_in_becomes_the_profiles(client, owner):
    _switch(client, "zh-hans")
    _sign_in(client, owner.email)
    owner.refresh_from_db()
    assert owner.language == "zh-hans"


def test_a_user_who_never_chose_keeps_the_browsers_language(owner, owner_client):
    html = owner_client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<html lang="zh-hans">' in html
    html = owner_client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en">' in html
    owner.refresh_from_db()
    assert owner.language == ""


def test_a_language_the_portal_does_not_offer_is_not_saved(owner_client, owner):
    _switch(owner_client, "fr")
    owner.refresh_from_db()
    assert owner.language == ""


# --- Emails speak the saved language ---------------------------------------------------------


def test_the_relink_email_is_in_the_owners_saved_language_only(owner):
    from accounts import reasons
    from accounts.models import TeslaLink
    from accounts.notifications import link_needs_relink_email
    from vehicles.tests.factories import make_link

    owner.language = "zh-hans"
    owner.save()
    link = make_link(owner)
    TeslaLink.objects.filter(pk=link.pk).update(
        health=TeslaLink.Health.NEEDS_RELINK, health_reason=reasons.refused("invalid_grant")
    )
    assert link_needs_relink_email(link_id=link.pk)
    (message,) = mail.outbox
    assert "需要重新关联" in message.body and "特斯拉拒绝续期门户的访问权限" in message.body
    assert "needs to be linked again" not in message.body
    assert message.subject.startswith("[车队门户]")


def test_staff_alerts_go_out_once_per_language(staff_with):
    from accounts.notifications import send_mail_in_their_language

    chinese = staff_with(email="zh@example.com")
    chinese.language = "zh-hans"
    chinese.save()
    undecided = staff_with(email="any@example.com")
    context = {"cars": [{"vin": "5YJ3E1EA7KF000001", "config": "Charging", "url": "u"}]}

    send_mail_in_their_language("telemetry/email/silent", context, [chinese, undecided])

    by_to = {tuple(m.to): m for m in mail.outbox}
    assert set(by_to) == {("zh@example.com",), ("any@example.com",)}
    chinese_only = by_to[("zh@example.com",)].body
    assert "这些车辆曾在发送遥测数据" in chinese_only and "These vehicles" not in chinese_only
    bilingual = by_to[("any@example.com",)].body
    assert "These vehicles" in bilingual and "这些车辆曾在发送遥测数据" in bilingual


def test_a_password_reset_mail_is_in_the_users_saved_language(client, owner):
    owner.language = "zh-hans"
    owner.save()
    client.post(
        reverse("account_reset_password"), {"email": owner.email}, HTTP_ACCEPT_LANGUAGE="en"
    )
    (message,) = mail.outbox
    assert "密码" in message.subject + message.body
    assert "Password Reset" not in message.subject
