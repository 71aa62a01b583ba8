"""The owner's live vehicle page in Chromium: values appear, and change without a reload when
the stream writes new rows, on a phone and on a desktop. The rows are written here as the
consumer writes them (telemetry/models.py: StreamValue, StreamPoint)."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from e2e.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _write(vehicle, values: dict) -> None:
    from django.utils import timezone

    from telemetry.models import StreamValue

    for field, value in values.items():
        StreamValue.objects.update_or_create(
            vehicle=vehicle, field=field, defaults={"value": value, "received_at": timezone.now()}
        )


@pytest.mark.parametrize("width", [390, 1280])
def test_an_owner_watches_their_car_live_without_reloading(live_server, page, owner, width):
    from django.utils import timezone

    from telemetry.models import StreamPoint
    from vehicles.models import VehicleAccess
    from vehicles.tests.factories import make_link, make_vehicles

    car = make_vehicles(make_link(owner), 1)[0]
    VehicleAccess.objects.filter(vehicle=car).update(
        first_seen_at=timezone.now() - dt.timedelta(days=1)
    )
    _write(
        car,
        {
            "Soc": 50,
            "DetailedChargeState": "DetailedChargeStateCharging",
            "Location": {"latitude": 52.52, "longitude": 13.405},
        },
    )
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, owner.email, PASSWORD)

    # From the vehicle page to its live data.
    page.goto(f"{live_server.url}/vehicles/{car.pk}/")
    page.get_by_role("button", name="Live data").click()
    expect(page.locator('[data-live-item="Soc"] [data-live-text]')).to_have_text("50 %")
    expect(page.locator('[data-live-item="DetailedChargeState"]')).to_contain_text("Charging")
    map_link = page.get_by_role("link", name="Open on the map")
    assert "openstreetmap.org/?mlat=52.520000" in map_link.get_attribute("href")
    assert page.locator('[data-live-item="Odometer"]').is_hidden()
    assert page.locator("#live-charts").is_hidden()

    # The stream writes: a new value, a field the car had not sent yet, history.
    page.evaluate("window.notReloaded = true")
    _write(car, {"Soc": 51, "Odometer": 1000, "ChargerPhases": 3})
    now = timezone.now().replace(second=0, microsecond=0)
    StreamPoint.objects.bulk_create(
        StreamPoint(vehicle=car, field="Soc", at=now - dt.timedelta(minutes=n), value=51 - n)
        for n in range(5)
    )
    # The page asks every POLL_SECONDS (5): allow a few rounds.
    expect(page.locator('[data-live-item="Soc"] [data-live-text]')).to_have_text(
        "51 %", timeout=20_000
    )
    expect(page.locator('[data-live-item="Odometer"] [data-live-text]')).to_have_text(
        "1,000 mi (1,609 km)"
    )
    expect(page.locator('#live-others [data-live-item="ChargerPhases"]')).to_contain_text("3")
    chart = page.locator('[data-live-chart="Soc"] polyline')
    expect(chart).to_be_visible()
    assert len(chart.get_attribute("points").split()) == 5
    assert page.evaluate("window.notReloaded") is True

    # Nothing sticks out sideways at this width.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
