"""The push progress and the field catalogue in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from telemetry import services
from telemetry.models import TelemetryDeployment, TelemetryRun
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, user) -> None:
    from conftest import PASSWORD

    user.set_password(PASSWORD)
    user.save()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/dashboard/$"))


def test_push_progress_updates_each_vehicle_without_a_reload(live_server, page, manager, owner):
    cars = make_vehicles(make_link(owner), 2)
    config = make_config()
    services.telemetry_config_assign(config=config, vins=[c.vin for c in cars], user=manager)
    version = services.telemetry_version_current(config=config)
    run = TelemetryRun.objects.create(
        config=config, version=version, status="running", total=2, links_total=1
    )
    for car in cars:
        TelemetryDeployment.objects.create(vehicle=car, version=version, run=run)
    _sign_in(page, live_server, manager)

    page.goto(f"{live_server.url}/telemetry/{config.pk}/")
    assert page.locator("#progress").get_attribute("data-active") == "1"
    TelemetryDeployment.objects.filter(vehicle=cars[0]).update(
        status="skipped", reason="missing_key"
    )
    # Locator assertions, not wait_for_function: Playwright evaluates a string predicate with
    # eval, which the portal's Content-Security-Policy refuses.
    status_cell = page.locator(f'tr[data-vin="{cars[0].vin}"] .vehicle-status')
    # The skip reason in words, and what fixes it in the Problem column (not "missing_key").
    expect(status_cell).to_contain_text("key is not paired", timeout=15_000)
    problem_cell = page.locator(f'tr[data-vin="{cars[0].vin}"] .vehicle-problem')
    expect(problem_cell).to_contain_text("Send the owner the pairing link")
    TelemetryDeployment.objects.filter(vehicle=cars[1]).update(status="updated")
    TelemetryRun.objects.filter(pk=run.pk).update(status="done")
    expect(page.locator("#run-progress")).to_have_js_property("value", 2, timeout=15_000)
    assert "Done" in page.locator("#run-summary").inner_text()
    # Counts by outcome, not "2 / 2".
    expect(page.locator("#run-outcome")).to_have_text("1 accepted, 1 skipped, 0 failed")


def test_catalogue_search_and_click_fill_a_field_row(live_server, page, manager, settings):
    settings.TESLA_PARTNER_DOMAIN = "portal.example.com"
    _sign_in(page, live_server, manager)
    page.goto(f"{live_server.url}/telemetry/new/")
    page.fill("#catalogue-search", "chargervolt")
    button = page.locator("button.catalogue-add[data-field=ChargerVoltage]")
    assert button.is_visible()
    assert not page.locator("button.catalogue-add[data-field=Soc]").is_visible()
    button.click()
    names = page.locator("#field-rows input[name$='-name']")
    values = [names.nth(i).input_value() for i in range(names.count())]
    assert "ChargerVoltage" in values and "Soc" in values
