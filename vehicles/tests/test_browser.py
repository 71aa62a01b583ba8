"""The "Sync now" progress in a real browser: the page polls while a sync runs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from vehicles.models import SyncRun
from vehicles.tests.factories import make_link

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sync_progress_updates_and_the_page_reloads_when_done(live_server, page, owner):
    from conftest import PASSWORD

    run = SyncRun.objects.create(link=make_link(owner))
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/dashboard/$"))

    page.goto(f"{live_server.url}/vehicles/")
    assert page.locator("#sync").get_attribute("data-active") == "1"
    SyncRun.objects.filter(pk=run.pk).update(status="running", pages=2, seen=150)
    # Locator assertions, not wait_for_function: Playwright evaluates a string predicate with
    # eval, which the portal's Content-Security-Policy refuses.
    expect(page.locator("#sync-runs")).to_contain_text("150", timeout=15_000)

    SyncRun.objects.filter(pk=run.pk).update(status="done", pages=3, seen=250)
    expect(page.locator("#sync")).to_have_attribute("data-active", "0", timeout=15_000)
    assert "250 vehicles" in page.locator("#sync-runs").inner_text()
