"""Why a link needs a relink reads in the reader's language: reasons are stored as codes and
worded when shown, and rows stored as English sentences before the codes read the same."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import translation

from accounts import reasons
from accounts.models import TeslaLink
from accounts.notifications import link_needs_relink_email
from accounts.providers.tesla.provider import TeslaChinaProvider, TeslaProvider
from vehicles.tests.factories import make_link

pytestmark = pytest.mark.django_db

MISSING_ZH = "特斯拉未授予门户所需的全部权限（缺少：vehicle_device_data, offline_access）"


def _broken(owner, reason: str, health: str = TeslaLink.Health.NEEDS_RELINK) -> TeslaLink:
    link = make_link(owner)
    TeslaLink.objects.filter(pk=link.pk).update(health=health, health_reason=reason)
    return link


def _dashboard_zh(client) -> str:
    client.cookies["django_language"] = "zh-hans"
    return client.get("/dashboard/").content.decode()


def test_a_missing_scopes_reason_is_stored_as_a_code_and_shown_in_chinese(owner, owner_client):
    _broken(owner, reasons.missing_scopes(["vehicle_device_data", "offline_access"]))
    page = _dashboard_zh(owner_client)
    # Once in the relink banner, once in the link's details.
    assert page.count(MISSING_ZH) == 2
    assert "missing_scopes" not in page and "missing scopes" not in page


@pytest.mark.parametrize(
    ("stored", "health", "words"),
    [
        ("missing scopes: vehicle_device_data, offline_access", "needs_relink", MISSING_ZH),
        (
            "Tesla answered invalid_grant",
            "needs_relink",
            "特斯拉拒绝续期门户的访问权限（invalid_grant）",
        ),  # noqa: E501
        ("Tesla unavailable (HTTP 503)", "retrying", "上次刷新令牌时无法连接特斯拉（HTTP 503）"),
    ],
)
def test_reasons_stored_in_english_before_the_codes_are_shown_in_chinese(
    owner, owner_client, stored, health, words
):
    _broken(owner, stored, health)
    page = _dashboard_zh(owner_client)
    assert words in page
    assert stored not in page


def test_the_same_reason_reads_in_english_for_an_english_reader(owner, owner_client):
    _broken(owner, reasons.refused("invalid_grant"))
    page = owner_client.get("/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Tesla refused to renew the portal&#x27;s access (invalid_grant)." in page


def test_a_reason_the_portal_does_not_know_is_shown_as_stored(owner, owner_client):
    _broken(owner, "revoked at tesla.com by the owner")
    assert "revoked at tesla.com by the owner" in _dashboard_zh(owner_client)


def test_the_relink_email_words_the_reason_in_both_languages(owner):
    link = _broken(owner, reasons.refused("invalid_grant"))
    assert link_needs_relink_email(link_id=link.pk)
    body = mail.outbox[0].body
    assert "特斯拉拒绝续期门户的访问权限（invalid_grant）" in body
    # Plain text: the apostrophe is not HTML-escaped.
    assert "Tesla refused to renew the portal's access (invalid_grant)." in body


def test_the_tesla_servers_are_named_in_the_readers_language():
    with translation.override("zh-hans"):
        assert str(TeslaProvider.name) == "特斯拉（全球）"
        assert str(TeslaChinaProvider.name) == "特斯拉（中国）"
    with translation.override("en"):
        assert str(TeslaChinaProvider.name) == "Tesla (China)"
