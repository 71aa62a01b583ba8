"""The owner's journey and a staff push with a mixed outcome on a 390 px wide phone (#16
item 15): no page is wider than the screen, and the key actions (Unlink, the pairing link,
Push) are shown inside it. `make e2e`; screenshots of failures land in test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS, PASSWORD
from e2e.conftest import (
    consent_at_tesla,
    eventually,
    link_alice_with_a_paired_car,
    sign_in,
    sign_up,
    sync_until_paired,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
MODEL_3 = "5YJ3E1EA7PF000001"  # alice's online Model 3
# Alice's other cars, each skipped by a push for its own reason (sandbox/seed.py).
SKIPPED = {
    "7SAYGDEE9RF000002": "missing_key",  # asleep, no key of ours
    "5YJSA1E26KF000003": "unsupported_hardware",  # 2019 Model S
    "5YJXCBE20NF000004": "unsupported_firmware",  # fw 2024.8.9
    "5YJ3E1EB5NF000005": "missing_key",  # no key of ours
}


def fits(page) -> None:
    """The page is no wider than the phone: nothing to scroll sideways to."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def in_view(page, locator) -> None:
    """Shown, and wholly inside the screen's width (not in a box scrolled sideways)."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (page.url, box)


def test_an_owner_signs_up_links_and_pairs_on_a_phone(portal, page, tesla_sandbox):
    base = portal.url
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/accounts/signup/")
    fits(page)
    sign_up(page, base, "phone.owner@example.com")
    fits(page)

    page.get_by_role("button", name="Link Tesla account (Global)").click()
    page.wait_for_url(re.compile(r"/oauth2/v3/authorize"))
    fits(page)  # the sandbox's Tesla sign-in page
    consent_at_tesla(page, "alice@example.com")
    fits(page)
    in_view(page, page.get_by_role("button", name="Relink"))
    in_view(page, page.get_by_role("button", name="Unlink"))

    eventually(page, f"{base}/vehicles/", lambda p: p.get_by_text(MODEL_3).count() > 0)
    fits(page)
    in_view(page, page.get_by_role("button", name="Sync now"))
    row = page.locator("table.stacked tbody tr").filter(has_text=MODEL_3)
    for cell in row.locator("td").all():
        in_view(page, cell)

    with page.expect_navigation():
        row.get_by_role("link", name="Alice's Model 3").click()
    fits(page)
    in_view(page, page.locator("a.pairing-link"))
    in_view(page, page.locator("svg.pairing-qr"))
    in_view(page, page.get_by_role("button", name="Check again"))

    # The pairing link opens the sandbox's stand-in for the Tesla app, on the phone.
    with page.expect_navigation():
        page.locator("a.pairing-link").click()
    fits(page)
    with page.expect_navigation():
        page.get_by_role("button", name="Approve").click()
    fits(page)
    sync_until_paired(page, base, MODEL_3)
    fits(page)

    # Unlinking: the confirmation page, then a dashboard without the account.
    page.goto(f"{base}/dashboard/")
    with page.expect_navigation():
        page.get_by_role("button", name="Unlink").click()
    fits(page)
    confirm = page.locator("main form button[type=submit]").last
    in_view(page, confirm)
    confirm.click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    fits(page)
    assert page.locator("table.stacked").count() == 0


def test_staff_push_with_a_mixed_outcome_on_a_phone(
    portal, page, chromium, owner, staff, tesla_sandbox
):
    from django.contrib.auth.models import Permission

    from telemetry.tests.factories import make_config

    base = portal.url
    page.set_viewport_size(PHONE)
    # Alice's five cars, only the Model 3 carrying our key.
    link_alice_with_a_paired_car(page, base, owner, PASSWORD, MODEL_3, tesla_sandbox)
    config = make_config(name="Phone push", hostname="localhost", fields={"Soc": 60})

    staff.user_permissions.add(Permission.objects.get(codename="manage_telemetry"))
    context = chromium.new_context(locale="en-US", viewport=PHONE)
    staff_page = context.new_page()
    staff_page.set_default_timeout(15_000)
    try:
        sign_in(staff_page, base, staff.email, PASSWORD)
        fits(staff_page)
        staff_page.goto(f"{base}/telemetry/")
        fits(staff_page)
        staff_page.goto(f"{base}/telemetry/{config.pk}/")
        fits(staff_page)
        staff_page.fill("textarea[name=vins], input[name=vins]", " ".join([MODEL_3, *SKIPPED]))
        with staff_page.expect_navigation():
            staff_page.get_by_role("button", name="Assign").click()
        fits(staff_page)
        push = staff_page.get_by_role("button", name="Push to every assigned vehicle")
        in_view(staff_page, push)
        with staff_page.expect_navigation():
            push.click()
        # The page follows the push without a reload; one accepted, four skipped.
        expect(staff_page.locator("#run-outcome")).to_contain_text(
            "1 accepted, 4 skipped, 0 failed", timeout=30_000
        )
        fits(staff_page)
        staff_page.reload()  # the rows as the server renders them: each skip's reason
        fits(staff_page)
        for vin, reason in SKIPPED.items():
            row = staff_page.locator(f"tr[data-vin='{vin}']")
            expect(row.locator(".skip-reason")).to_have_attribute("data-reason", reason)
        expect(staff_page.locator(f"tr[data-vin='{MODEL_3}'] .vehicle-status")).to_contain_text(
            "Accepted, waiting for the car"
        )
        in_view(
            staff_page,
            staff_page.get_by_role("button", name="Push to selected (all when none selected)"),
        )

        # Where staff go next: a skipped car's page, the error inbox, the stream overview.
        staff_page.locator("tr[data-vin='5YJXCBE20NF000004'] a").first.click()
        staff_page.wait_for_url(re.compile(r"/telemetry/vehicles/\d+/$"))
        fits(staff_page)
        staff_page.goto(f"{base}/telemetry/errors/")
        fits(staff_page)
        expect(staff_page.locator("#skipped tbody tr")).to_have_count(len(SKIPPED))
        staff_page.goto(f"{base}/telemetry/overview/")
        fits(staff_page)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        staff_page.screenshot(path=str(ARTIFACTS / "staff_push_on_a_phone.png"), full_page=True)
        raise
    finally:
        context.close()
