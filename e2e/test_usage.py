"""Issue 18: staff see on a phone what the portal's Fleet API requests cost, counted exactly as
the sandbox counted them, after an owner linked an account and a real worker synced it."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from conftest import PASSWORD
from e2e.conftest import eventually, link_alice_with_a_paired_car, sign_in
from usage import recorder
from usage.models import ApiCallDay

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
MODEL_3 = "5YJ3E1EA7PF000001"


def _sent(sandbox) -> int:
    return sum(sandbox.control.counters()["fleet"].values())


def _counted(**filters) -> int:
    return ApiCallDay.objects.filter(**filters).aggregate(n=Sum("calls"))["n"] or 0


def test_staff_see_the_requests_a_link_and_a_sync_made(
    portal, page, tesla_sandbox, owner, staff_with
):
    base = portal.url
    recorder.flush()  # the portal's own partner registration, made by the fixture
    sent_before, counted_before = _sent(tesla_sandbox), _counted()
    link_alice_with_a_paired_car(page, base, owner, PASSWORD, MODEL_3, tesla_sandbox)

    staff = staff_with("usage.view_usage")
    page.context.clear_cookies()
    page.set_viewport_size(PHONE)
    sign_in(page, base, staff.email, PASSWORD)

    def data_row(p):
        return p.locator("#usage-table tr", has_text="Data").first

    def caught_up(p) -> bool:
        # Each page load flushes the web process; the worker flushes at each task's end. The
        # worker may still be finishing a task (a pairing re-check) after the page was drawn:
        # reload until the database, the sandbox and the page agree.
        if _counted() - counted_before != _sent(tesla_sandbox) - sent_before:
            return False
        return data_row(p).locator("td").nth(1).inner_text() == str(_counted(category="data"))

    eventually(page, f"{base}/staff/usage/", caught_up, timeout=60)
    assert _sent(tesla_sandbox) - sent_before >= 3  # users/region, the list, fleet_status
    assert page.locator("#usage-regions rect.bar").count() >= 1
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
