"""Smoke test in a real browser: sign up, confirm, sign out, sign in."""

from __future__ import annotations

import re

import pytest
from django.core import mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-browser-passphrase"


def test_a_visitor_signs_up_confirms_and_signs_in(live_server, page):
    page.goto(f"{live_server.url}/accounts/signup/")
    assert page.locator("link[href*='pico.min.css']").count() == 1
    page.fill("input[name=email]", "browser@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/accounts/confirm-email/$"))

    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+)", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    page.goto(f"{live_server.url}{link.group(1)}")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    assert page.get_by_role("heading", name="Dashboard").is_visible()

    page.goto(f"{live_server.url}/accounts/logout/")
    page.locator("main form button[type=submit]").click()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", "browser@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    assert page.locator("nav summary").inner_text() == "browser@example.com"


def test_the_language_switcher_works_in_the_browser(live_server, page):
    page.goto(f"{live_server.url}/")
    page.select_option("select[name=language]", "zh-hans")
    page.locator(".language-switcher button").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_text("注册", exact=True).first.is_visible()
    assert page.get_by_text("创建账户").is_visible()


def test_a_user_links_a_global_and_a_china_account_in_the_browser(
    live_server, page, owner, configure_tesla
):
    from accounts.models import TeslaLink
    from conftest import PASSWORD

    configure_tesla(live_server.url)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/dashboard/$"))

    for button, tesla_user in (
        ("Link Tesla account (Global)", "alice@example.com"),
        ("Link Tesla account (China)", "wei@example.cn"),
    ):
        page.get_by_role("button", name=button).click()
        page.wait_for_url(re.compile(r"/oauth2/v3/authorize"))
        page.check(f"input[name=user][value='{tesla_user}']")
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(re.compile(r"/dashboard/$"))
        assert page.get_by_role("cell", name=re.compile(tesla_user)).is_visible()

    assert page.locator(".health-ok").count() == 2
    assert set(TeslaLink.objects.values_list("region", flat=True)) == {"NA", "CN"}
