"""The estimate: billed requests and streamed signals at the configured rates, per day, region,
configuration and vehicle; month to date and projected to the month's end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from telemetry.models import StreamSignalDay, TelemetryAssignment
from telemetry.tests.factories import make_config
from usage import services
from usage.models import ApiCallDay
from vehicles.models import Vehicle
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 11, 15)
# Half of November (30 days) has passed at midnight starting the 16th.
NOW = dt.datetime(2026, 11, 16, tzinfo=dt.UTC)


@pytest.fixture
def rates(settings):
    settings.USAGE_RATES = {
        **settings.USAGE_RATES,
        "data": "1/500",
        "wakes": "0.02",
        "signals": "1/1000",
    }


def test_cost_per_day_region_configuration_and_vehicle(rates, owner):
    eu, na = make_vehicles(make_link(owner), 2)
    Vehicle.objects.filter(pk=eu.pk).update(region="EU")
    Vehicle.objects.filter(pk=na.pk).update(region="NA")
    TelemetryAssignment.objects.create(config=make_config(name="Battery"), vehicle=eu)
    StreamSignalDay.objects.create(vehicle=eu, day=DAY, signals=3000)
    StreamSignalDay.objects.create(vehicle=na, day=DAY, signals=1000)
    StreamSignalDay.objects.create(vehicle=na, day=dt.date(2026, 10, 31), signals=99_000)
    ApiCallDay.objects.create(day=DAY, region="NA", category="data", billed=True, calls=500)
    ApiCallDay.objects.create(day=DAY, region="NA", category="wakes", billed=False, calls=7)

    usage = services.usage_month(now=NOW)

    assert usage.cost_by_day == {DAY: Decimal(5)}  # 3 + 1 signals, 1 data; last month left out
    assert usage.cost_by_region == {"EU": Decimal(3), "NA": Decimal(2)}
    assert usage.signal_cost_by_config == {"Battery": Decimal(3), "": Decimal(1)}
    assert usage.busiest == [(eu.vin, 3000), (na.vin, 1000)]
    assert usage.unbilled == 7 and usage.cost_by_category["wakes"] == 0
    assert usage.month_to_date == Decimal(5)
    assert usage.projected == Decimal(10)


def test_rates_are_read_as_fractions_or_decimals(settings):
    settings.USAGE_RATES = {"data": "1/500", "commands": "0.001"}
    assert services.rates() == {"data": Decimal("0.002"), "commands": Decimal("0.001")}
