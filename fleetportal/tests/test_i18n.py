from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _switch(client, language: str, next_url: str):
    return client.post(
        reverse("set_language"), {"language": language, "next": next_url}, follow=True
    )


def test_dashboard_switches_to_simplified_chinese_and_back(owner_client):
    page = _switch(owner_client, "zh-hans", reverse("dashboard"))
    html = page.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "仪表板" in html
    assert "关联特斯拉账户" in html

    page = _switch(owner_client, "en", reverse("dashboard"))
    html = page.content.decode()
    assert '<html lang="en">' in html
    assert "Link Tesla account" in html


def test_allauth_pages_are_translated_too(client):
    _switch(client, "zh-hans", reverse("account_signup"))
    html = client.get(reverse("account_signup")).content.decode()
    assert "注册" in html


def test_browser_language_is_honoured(client):
    html = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert '<html lang="zh-hans">' in html


def test_every_string_has_a_chinese_translation_and_the_mo_is_current():
    from pathlib import Path

    import polib

    po_path = Path(__file__).resolve().parents[2] / "locale/zh_Hans/LC_MESSAGES/django.po"
    po = polib.pofile(str(po_path))
    untranslated = [e.msgid for e in po if not e.obsolete and (not e.msgstr or e.fuzzy)]
    assert untranslated == []
    compiled = {e.msgid: e.msgstr for e in polib.mofile(str(po_path.with_suffix(".mo")))}
    assert compiled == {e.msgid: e.msgstr for e in po if not e.obsolete and e.msgid}
