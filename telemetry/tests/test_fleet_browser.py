"""The staff fleet list in a real browser, on a phone: filter, select all, assign (#16 item 2)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from e2e.conftest import sign_in
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_filter_select_the_page_and_assign_on_a_phone(live_server, page, owner, staff_with):
    manager = staff_with("telemetry.manage_telemetry", email="fleet.manager@example.com")
    eu = make_vehicles(make_link(owner, region="EU"), 3, prefix="EUR")
    na = make_vehicles(make_link(owner), 2, prefix="NAM")
    config = make_config(name="europe")
    page.set_viewport_size(PHONE)
    sign_in(page, live_server.url, manager.email, PASSWORD)

    page.goto(f"{live_server.url}/telemetry/fleet/")
    page.get_by_label("Region").select_option("EU")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#fleet-vehicles tbody tr")).to_have_count(3)
    page.get_by_label("Every vehicle on this page").check()
    for car in eu:
        expect(page.get_by_label(f"Select {car.vin}")).to_be_checked()
    # The wide table scrolls inside its own box: the page itself does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.get_by_label("Configuration:", exact=True).select_option(label="europe")
    page.get_by_role("button", name="Assign to the configuration").click()

    expect(page.locator(".messages")).to_contain_text("3 vehicles assigned to europe.")
    assert set(config.assignments.values_list("vehicle_id", flat=True)) == {c.pk for c in eu}
    assert not config.assignments.filter(vehicle__in=na).exists()
    # Back on the filtered list, which now shows the config on each car.
    assert page.get_by_label("Region").input_value() == "EU"
    expect(page.locator("#fleet-vehicles tbody")).to_contain_text("europe")
