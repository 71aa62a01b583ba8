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
    assert page.get_by_text("Link Tesla account").is_visible()

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
