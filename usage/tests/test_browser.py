"""The usage page in a real browser on a 390 px wide phone screen, in both languages."""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest
from django.utils import timezone

from usage.models import ApiCallDay, UsageState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_usage_page_fits_a_phone_in_both_languages(live_server, page, staff_with):
    from conftest import PASSWORD

    today = timezone.now().astimezone(dt.UTC).date()
    for n, (region, category) in enumerate([("NA", "data"), ("EU", "wakes"), ("CN", "data")]):
        ApiCallDay.objects.create(
            day=today - dt.timedelta(days=n),
            region=region,
            category=category,
            billed=True,
            calls=100 * (n + 1),
        )
    from telemetry.models import StreamFieldDay

    # The longest field names of Tesla's list: the busiest-fields table must still fit.
    for name in ("SelfDrivingMilesSinceReset", "EstimatedHoursToChargeTermination", "Soc"):
        StreamFieldDay.objects.create(day=today, field=name, signals=123_456_789)
    UsageState.objects.create(
        pk=1, exceeded_at=timezone.now(), exceeded_detail="403 account disabled: EXCEEDED_LIMIT"
    )
    user = staff_with("usage.view_usage")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/dashboard/$"))
    for language, title in (("en", "Usage and cost"), ("zh-hans", "用量与费用")):
        page.context.add_cookies(
            [{"name": "django_language", "value": language, "url": live_server.url}]
        )
        page.goto(f"{live_server.url}/staff/usage/")
        assert page.locator("h1").inner_text() == title
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        resume = page.locator("#usage-stopped button").bounding_box()
        assert resume is not None and resume["x"] + resume["width"] <= 390
        assert page.locator("#usage-regions rect.bar").count() == 3
        assert page.locator("#usage-fields tbody tr").count() == 3
        if os.environ.get("E2E_SCREENSHOTS"):
            page.screenshot(
                path=f"{os.environ['E2E_SCREENSHOTS']}/usage-390-{language}.png", full_page=True
            )
    page.locator("#usage-stopped button").click()
    assert page.locator("#usage-stopped").count() == 0
