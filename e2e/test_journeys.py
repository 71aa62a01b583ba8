"""End-to-end journeys in Debian's Chromium: `make e2e`. Screenshots of failures land in
test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS
from e2e.conftest import consent_at_tesla, eventually, sign_up, sync_until_paired
from sandbox.demo import self_signed_ca_pem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODEL_3 = "5YJ3E1EA7PF000001"  # alice's online Model 3, no key of ours yet


def test_an_owner_signs_up_links_global_and_china_pairs_a_key_and_relinks(
    portal, page, tesla_sandbox
):
    from accounts import services
    from accounts.models import TeslaLink

    base = portal.url
    sign_up(page, base, "driver@example.com")
    assert page.get_by_role("heading", name="Dashboard").is_visible()

    # Link a global account: the sandbox plays Tesla's sign-in and consent page.
    page.get_by_role("button", name="Link Tesla account (Global)").click()
    consent_at_tesla(page, "alice@example.com")
    assert page.get_by_role("cell", name=re.compile("alice@example.com")).is_visible()

    # The worker syncs the new link's vehicles; they appear with decoded VINs.
    eventually(page, f"{base}/vehicles/", lambda p: p.get_by_text(MODEL_3).count() > 0)
    page.get_by_role("link", name=re.compile("Alice's Model 3")).click()
    assert page.get_by_text("Model 3").first.is_visible()

    # Pair the portal's key: the pairing link opens the sandbox's stand-in for the Tesla app.
    page.locator("a.pairing-link").click()
    page.get_by_role("button", name="Approve").click()
    sync_until_paired(page, base, MODEL_3)

    # A China account beside it.
    page.goto(f"{base}/dashboard/")
    page.get_by_role("button", name="Link Tesla account (China)").click()
    consent_at_tesla(page, "wei@example.cn")
    assert page.locator(".health-ok").count() == 2

    # Tesla revokes the consent; the next refresh finds out; the banner offers a relink.
    link = TeslaLink.objects.get(email="alice@example.com")
    tesla_sandbox.control.revoke_consent("alice@example.com", link_client_id(link))
    assert services.link_refresh_tokens(link_id=link.pk, force=True) == "broken"
    page.goto(f"{base}/dashboard/")
    banner = page.locator("article.banner")
    assert banner.get_by_text("needs to be linked again").is_visible()
    banner.get_by_role("button", name="Relink").click()
    consent_at_tesla(page, "alice@example.com")
    assert page.locator("article.banner").count() == 0
    assert page.locator(".health-ok").count() == 2

    # The same pages in Chinese.
    page.select_option("select[name=language]", "zh-hans")
    page.locator(".language-switcher button").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="仪表板").is_visible()
    page.goto(f"{base}/vehicles/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_text(MODEL_3).count() > 0


def link_client_id(link) -> str:
    from fleetportal import tesla

    return tesla.credentials(link.auth_server).client_id


def test_staff_build_a_config_push_it_and_watch_the_vehicle_sync(
    portal, page, chromium, owner, staff, tesla_sandbox
):
    from django.contrib.auth.models import Permission

    from conftest import PASSWORD
    from e2e.conftest import link_alice_with_a_paired_car, sign_in
    from telemetry import tasks as telemetry_tasks

    base = portal.url
    # The owner links alice; the worker syncs her cars; her Model 3 carries our key.
    link_alice_with_a_paired_car(page, base, owner, PASSWORD, MODEL_3, tesla_sandbox)

    # A staff member with the telemetry permission builds a config in the browser.
    staff.user_permissions.add(Permission.objects.get(codename="manage_telemetry"))
    staff_context = chromium.new_context(locale="en-US")
    staff_page = staff_context.new_page()
    staff_page.set_default_timeout(15_000)
    try:
        sign_in(staff_page, base, staff.email, PASSWORD)
        staff_page.goto(f"{base}/telemetry/new/")
        staff_page.fill("input[name=name]", "Fleet basics")
        staff_page.fill("input[name=hostname]", "localhost")
        staff_page.fill("input[name=port]", "4443")
        staff_page.fill("textarea[name=ca]", self_signed_ca_pem("localhost"))
        staff_page.locator("main form button[type=submit]").last.click()
        staff_page.wait_for_url(re.compile(r"/telemetry/\d+/$"))

        staff_page.fill("textarea[name=vins], input[name=vins]", MODEL_3)
        staff_page.get_by_role("button", name="Assign").click()
        staff_page.get_by_role("button", name="Push to every assigned vehicle").click()
        row = staff_page.locator(f"tr[data-vin='{MODEL_3}'] .vehicle-status")
        # The page follows the push without a reload; the worker signs and posts it. (A locator
        # assertion: wait_for_function's eval is refused by the Content-Security-Policy.)
        expect(row).to_contain_text("Accepted, waiting for the car", timeout=30_000)

        # The car picks the config up; beat's reconcile finds it synced and matching ours.
        tesla_sandbox.control.telemetry_pickup(MODEL_3)
        telemetry_tasks.telemetry_reconcile_sweep()
        eventually(
            staff_page,
            staff_page.url,
            lambda p: "synced" in row.inner_text().lower(),
        )
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        staff_page.screenshot(path=str(ARTIFACTS / "staff_telemetry_journey.png"), full_page=True)
        raise
    finally:
        staff_context.close()

    # The owner sees the vehicle's telemetry state, read-only.
    page.goto(f"{base}/vehicles/vin/{MODEL_3}/")
    assert "Fleet basics" in page.locator("main").inner_text()
