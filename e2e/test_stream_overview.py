"""The staff fleet overview in Chromium, on a phone and on a desktop: the counts per streaming
state lead to their cars, and nothing sticks out sideways, long names and ids included. Rows
are written here as the consumer writes them (telemetry/models.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from e2e.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [390, 1280])
def test_staff_go_from_a_count_to_its_cars_at_any_width(
    live_server, page, owner, staff_with, width
):
    from django.utils import timezone

    from telemetry import services
    from telemetry.models import (
        StreamConsumer,
        StreamDrop,
        StreamEvent,
        StreamValue,
        TelemetryDeployment,
        VehicleStream,
    )
    from telemetry.tests.factories import make_config
    from vehicles.tests.factories import make_link, make_vehicles

    manager = staff_with("telemetry.manage_telemetry", email="manager@example.com")
    cars = make_vehicles(make_link(owner), 3)
    config = make_config(name="a-configuration-name-long-enough-to-push-a-table-" + "x" * 40)
    services.telemetry_config_assign(config=config, vins=[c.vin for c in cars], user=None)
    version = services.telemetry_version_current(config=config)
    long_ago = timezone.now() - dt.timedelta(hours=2)
    for car in cars:
        TelemetryDeployment.objects.create(
            vehicle=car, version=version, status="synced", pushed_at=long_ago, synced_at=long_ago
        )
    now = timezone.now()
    for car, at in ((cars[0], now), (cars[1], now - dt.timedelta(hours=1))):
        VehicleStream.objects.create(vehicle=car, last_message_at=at, connectivity="CONNECTED")
        StreamValue.objects.create(vehicle=car, field="Soc", value=50, received_at=at)
    StreamConsumer.objects.create(
        client_id="fleet-portal-stream-" + "host-name-of-the-consumer-machine-" * 3,
        connected=True,
        heartbeat_at=now,
        last_message_at=now,
        messages=123456789,
    )
    StreamEvent.objects.create(
        vehicle=cars[1],
        kind="error",
        name="unsupported_field",
        body="a-body-without-any-space-" * 8,
        tags={"field": "SomeFieldTheFirmwareCannotSend"},
        received_at=now,
    )
    StreamDrop.objects.create(
        kind="unknown_vin", day=now.date(), count=7, last_topic="t/" + "V" * 190, last_seen_at=now
    )

    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, manager.email, PASSWORD)
    page.goto(f"{live_server.url}/telemetry/overview/")
    silent = page.locator('#fleet-chart li[data-state="silent"] a.count')
    # Silent: the car quiet for an hour, and the one that took the config and never sent.
    expect(silent).to_have_text("2")
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    silent.click()
    rows = page.locator("#overview-vehicles tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#overview-vehicles")).to_contain_text(cars[1].vin)
    expect(page.locator("#overview-vehicles")).not_to_contain_text(cars[0].vin)
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    # The car's staff page (its stream section) and the error inbox.
    rows.filter(has_text=cars[1].vin).get_by_role("link", name=cars[1].vin).click()
    expect(page.locator("#vehicle-stream-events")).to_contain_text("unsupported_field")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.goto(f"{live_server.url}/telemetry/errors/")
    expect(page.locator("#stream-drops")).to_contain_text("7")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
