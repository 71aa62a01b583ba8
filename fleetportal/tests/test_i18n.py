from __future__ import annotations

import importlib.util
from pathlib import Path
from unittest import mock

import polib
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import translation

from accounts.tests.factories import UserFactory
from telemetry.tests.factories import make_config
from vehicles.models import SyncRun
from vehicles.tests.factories import make_link, make_vehicles

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "partners", "vehicles", "telemetry", "usage")


def _compile_messages():
    spec = importlib.util.spec_from_file_location(
        "compile_messages", ROOT / "scripts/compile_messages.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _catalogues() -> list[Path]:
    return _compile_messages().catalogues()


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


# --- the catalogues ------------------------------------------------------------------------


def test_each_app_and_the_project_have_their_own_chinese_catalogue():
    found = {path.relative_to(ROOT).as_posix() for path in _catalogues()}
    assert found == {
        "locale/zh_Hans/LC_MESSAGES/django.po",
        *(f"{app}/locale/zh_Hans/LC_MESSAGES/django.po" for app in APPS),
    }
    assert not list(ROOT.glob("*/translations_zh_hans.py"))
    assert not (ROOT / "scripts/translations.py").exists()


def test_each_catalogue_holds_the_strings_of_its_own_app():
    for path in _catalogues():
        app = path.relative_to(ROOT).parts[0]
        for entry in polib.pofile(str(path)):
            for source, _line in entry.occurrences:
                if app == "locale":
                    assert source.split("/")[0] not in APPS, (path, source)
                else:
                    assert source.startswith(f"{app}/"), (path, source)


@pytest.mark.parametrize("path", _catalogues(), ids=lambda p: p.relative_to(ROOT).parts[0])
def test_every_string_has_a_chinese_translation(path):
    po = polib.pofile(str(path))
    untranslated = [e.msgid for e in po if not e.obsolete and not e.translated()]
    assert untranslated == []
    assert po.fuzzy_entries() == [] and po.obsolete_entries() == []


@pytest.mark.parametrize("path", _catalogues(), ids=lambda p: p.relative_to(ROOT).parts[0])
def test_every_committed_mo_matches_its_po(path):
    """Run `make compile-messages` (or `make messages`) after editing a .po."""
    po = polib.pofile(str(path))
    assert _compile_messages().compiled_matches(po, path.with_suffix(".mo"))


@pytest.mark.parametrize("path", _catalogues(), ids=lambda p: p.relative_to(ROOT).parts[0])
def test_every_catalogue_has_the_headers_translation_tools_need(path):
    po = polib.pofile(str(path))
    assert not po.metadata_is_fuzzy
    assert po.metadata["Language"] == "zh_Hans"
    assert po.metadata["Content-Type"] == "text/plain; charset=UTF-8"
    assert po.metadata["Plural-Forms"] == "nplurals=1; plural=0;"


def test_the_portal_shows_each_catalogue_translation_not_a_third_party_one():
    """A msgid Django, allauth or django_celery_beat translate too ("Name", "Note", "created")
    shows the portal's Chinese, and two catalogues never disagree on one msgid."""
    wrong = []
    with translation.override("zh-hans"):
        for path in _catalogues():
            for e in polib.pofile(str(path)):
                if e.msgid_plural:
                    shown = (
                        translation.npgettext(e.msgctxt, e.msgid, e.msgid_plural, 2)
                        if e.msgctxt
                        else translation.ngettext(e.msgid, e.msgid_plural, 2)
                    )
                    wanted = e.msgstr_plural[0]
                else:
                    shown = (
                        translation.pgettext(e.msgctxt, e.msgid)
                        if e.msgctxt
                        else translation.gettext(e.msgid)
                    )
                    wanted = e.msgstr
                if shown != wanted:
                    wrong.append((path.relative_to(ROOT).parts[0], e.msgid, shown, wanted))
    assert wrong == []


def test_chinese_counts_of_vehicles_use_the_measure_word():
    """ "6 辆车", never "6 车辆" or a bare "6 车"."""
    bare = []
    for path in _catalogues():
        for e in polib.pofile(str(path)):
            for text in [e.msgstr, *e.msgstr_plural.values()]:
                for placeholder in ("%(n)d", "%(n)s", "%(total)s", "%(v)d", "%(seen)s"):
                    if f"{placeholder} 车" in text or f"{placeholder} 车辆" in text:
                        bare.append(text)
    assert bare == []


# --- counts: singular and plural ----------------------------------------------------------


def _sync_page(client, language: str) -> str:
    return client.get("/vehicles/", HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_one_vehicle_is_singular_in_english_and_counted_with_a_measure_word_in_chinese(
    owner_client, owner
):
    link = make_link(owner)
    make_vehicles(link, 1)
    SyncRun.objects.create(
        link=link,
        status=SyncRun.Status.DONE,
        pages=1,
        seen=1,
        skipped=1,
        skipped_reason="an entry had no VIN",
    )

    english = _sync_page(owner_client, "en")
    assert "Page 1 of 1 (1 vehicle)" in english
    assert "Sync: Done — 1 page, 1 vehicle" in english
    assert "Skipped 1 entry of Tesla's answer: an entry had no VIN." in english

    chinese = _sync_page(owner_client, "zh-CN")
    assert "第 1 页，共 1 页（1 辆车）" in chinese
    assert "— 1 页，1 辆车" in chinese


def test_many_vehicles_are_plural_in_english(owner_client, owner):
    link = make_link(owner)
    make_vehicles(link, 6)
    SyncRun.objects.create(link=link, status=SyncRun.Status.DONE, pages=2, seen=6)

    english = _sync_page(owner_client, "en")
    assert "Page 1 of 1 (6 vehicles)" in english
    assert "Sync: Done — 2 pages, 6 vehicles" in english
    assert "（6 辆车）" in _sync_page(owner_client, "zh-CN")


def test_refreshing_one_link_from_the_admin_says_one_refresh(admin_client, owner):
    link = make_link(owner)
    response = admin_client.post(
        reverse("admin:accounts_teslalink_changelist"),
        {"action": "refresh_now", "_selected_action": [link.pk]},
        follow=True,
    )
    assert "1 refresh queued." in response.content.decode()


def test_pushing_a_telemetry_config_to_one_vehicle_says_one_vehicle(client, owner):
    from telemetry import services

    manager = UserFactory(email="manager@example.com", is_staff=True)
    manager.user_permissions.add(Permission.objects.get(codename="manage_telemetry"))
    client.force_login(manager)
    car = make_vehicles(make_link(owner), 1)[0]
    config = make_config()
    services.telemetry_config_assign(config=config, vins=[car.vin], user=None)

    with mock.patch("telemetry.tasks.telemetry_push.delay"):
        page = client.post(f"/telemetry/{config.pk}/push/", follow=True).content.decode()
    assert "Push queued for 1 vehicle." in page
    assert "to 1 vehicle: " in page
