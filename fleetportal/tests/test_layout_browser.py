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
