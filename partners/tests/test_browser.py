"""Issue 6 "done when", in a real browser: generate a key, register everywhere, all green."""

from __future__ import annotations

import pytest

from conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_generates_a_key_and_registers_all_three_regions(portal, page, partner_manager):
    page.goto(f"{portal.url}/accounts/login/?next=/staff/partner/")
    page.fill("input[name=login]", partner_manager.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url("**/staff/partner/")

    page.get_by_role("button", name="Generate key").click()
    page.wait_for_url("**/staff/partner/")
    assert page.locator(".fingerprint").inner_text().count(":") == 31
    assert page.locator(".check-failed").count() == 0

    page.get_by_role("button", name="Register in all regions").click()
    page.wait_for_url("**/staff/partner/")
    for region in ("NA", "EU", "CN"):
        assert page.locator(f"#region-{region} .state").inner_text() == "Registered"

    page.goto(f"{portal.url}/staff/partner/pairing/?region=EU&vin=XP7YGCEK0PB000006")
    assert page.locator("svg.pairing-qr").is_visible()
    assert "vin=XP7YGCEK0PB000006" in page.locator("a.pairing-link").get_attribute("href")
