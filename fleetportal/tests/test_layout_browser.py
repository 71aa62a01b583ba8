"""The portal's layout on a phone: the header must fit a 390 px wide screen, in both
languages, for a signed-in staff member (the widest header: staff menu, email, language),
and wide tables scroll inside their own box rather than pushing the page sideways."""

from __future__ import annotations

import pytest

from conftest import PASSWORD
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize(
    "path", ["/staff/partner/", "/dashboard/", "/vehicles/", "/telemetry/new/"]
)
def test_signed_in_pages_fit_a_phone_without_sideways_scrolling(
    live_server, page, staff_with, language, path
):
    # Staff without the partner permission: /staff/partner/ is the 403 page in the layout.
    user = staff_with("telemetry.manage_telemetry", email="operations.staff@example.com")
    make_vehicles(make_link(user), 3)  # the dashboard and the vehicle list show their tables
    page.set_viewport_size(PHONE)
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url("**/dashboard/")

    page.goto(f"{live_server.url}{path}")

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("header form.language-switcher").is_visible()


def _sign_in(page, live_server, user) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url("**/dashboard/")


def _inside(page, locator, width: int) -> bool:
    """Shown, and its whole box inside the viewport's width (not beyond a sideways scroll)."""
    box = locator.bounding_box()
    return (
        locator.is_visible()
        and box is not None
        and box["x"] >= 0
        and box["x"] + box["width"]
        <= min(width, page.evaluate("document.documentElement.clientWidth"))
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_owners_tables_stack_on_a_phone_with_unlink_in_view(live_server, page, owner, language):
    """#16 item 15: the dashboard's accounts and the vehicle list become stacked rows."""
    from accounts.models import TeslaLink

    link = make_link(owner)
    make_vehicles(link, 3)
    # The longest health sentence.
    TeslaLink.objects.filter(pk=link.pk).update(health="retrying")
    page.set_viewport_size(PHONE)
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server.url}]
    )
    _sign_in(page, live_server, owner)

    page.goto(f"{live_server.url}/dashboard/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for action in page.locator("td.actions form button, td.actions a[role=button]").all():
        assert _inside(page, action, PHONE["width"]), action.inner_text()
    # Each line says what it is (the header row is out of sight).
    assert page.locator("table.stacked td[data-label]").first.get_attribute("data-label")

    page.goto(f"{live_server.url}/vehicles/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    cells = page.locator("table.stacked tbody td")
    assert cells.count() == 3 * 6
    for cell in cells.all():
        assert _inside(page, cell, PHONE["width"]), cell.get_attribute("data-label")


def test_unlink_is_in_view_at_1280_px_beside_the_longest_health_sentence(live_server, page, owner):
    """#16 item 11: at 1280 px the Unlink buttons were cut off by a one-line health sentence."""
    from accounts.models import TeslaLink

    link = make_link(owner)
    TeslaLink.objects.filter(pk=link.pk).update(health="retrying")
    page.set_viewport_size({"width": 1280, "height": 800})
    _sign_in(page, live_server, owner)
    page.goto(f"{live_server.url}/dashboard/")
    unlink = page.locator("td.actions a[role=button]")
    box, scroller = unlink.bounding_box(), page.locator("article .overflow-auto").bounding_box()
    assert unlink.is_visible()
    assert box["x"] + box["width"] <= scroller["x"] + scroller["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280


def test_the_staff_pairing_box_fits_a_phone(live_server, page, staff_with):
    """#16 item 15: the pairing box (region, VIN, QR code and link), meant for the phone."""
    user = staff_with("partners.manage_partner", email="pairing.staff@example.com")
    page.set_viewport_size(PHONE)
    _sign_in(page, live_server, user)
    # The box on the partner page, where staff start.
    page.goto(f"{live_server.url}/staff/partner/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    form = page.locator("#pairing form.pairing-form")
    form.locator("input[name=vin]").fill("5YJ3E1EA7PF000001")
    for control in ("select[name=region]", "input[name=vin]", "button[type=submit]"):
        assert _inside(page, form.locator(control), PHONE["width"]), control
    vin = form.locator("input[name=vin]")
    assert vin.evaluate("input => input.scrollWidth <= input.clientWidth")
    page.goto(f"{live_server.url}/staff/partner/pairing/?region=NA&vin=5YJ3E1EA7PF000001")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    form = page.locator("form.pairing-form")
    for control in ("select[name=region]", "input[name=vin]", "button[type=submit]"):
        assert _inside(page, form.locator(control), PHONE["width"]), control
    # The whole VIN shows (squeezed into one row with the region and the button it did not).
    vin = form.locator("input[name=vin]")
    assert vin.evaluate("input => input.scrollWidth <= input.clientWidth")
    assert _inside(page, page.locator("a.pairing-link"), PHONE["width"])
    assert _inside(page, page.locator("svg.pairing-qr"), PHONE["width"])
