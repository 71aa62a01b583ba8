"""Chinese text may break between any two characters: in narrow table columns the headers
were stacked one character per line. Each header must hold one line, on a wide screen and on
a phone (where a wide table scrolls in its own box)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conftest import PASSWORD
from telemetry import services
from telemetry.models import TelemetryDeployment, TelemetryRun
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The headers whose text box is taller than one line (its cell's height without padding,
# against the computed line height): a wrapped header is two lines or more.
WRAPPED_HEADERS = """Array.from(document.querySelectorAll('thead th'))
  .filter(th => th.offsetWidth > 2 && th.innerText.trim().length > 1)
  .filter(th => {
    const style = getComputedStyle(th);
    const text = th.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    return text > 1.5 * parseFloat(style.lineHeight);
  })
  .map(th => th.innerText.trim())"""


def _seed(user) -> dict[str, str]:
    """The owner's dashboard and vehicles, and a config pushed to six of them (mixed outcome)."""
    cars = make_vehicles(make_link(user), 6)
    config = make_config(name="Charging")
    services.telemetry_config_assign(config=config, vins=[c.vin for c in cars], user=None)
    version = services.telemetry_version_current(config=config)
    run = TelemetryRun.objects.create(
        config=config, version=version, status="done", total=6, finished_at=timezone.now()
    )
    for i, car in enumerate(cars):
        skipped = i >= 2
        TelemetryDeployment.objects.create(
            vehicle=car,
            version=version,
            run=run,
            status="skipped" if skipped else "updated",
            reason="missing_key" if skipped else "",
        )
    return {
        "dashboard": "/dashboard/",
        "vehicles": "/vehicles/",
        "config": f"/telemetry/{config.pk}/",
        "errors": "/telemetry/errors/",
        "overview": "/telemetry/overview/",
    }


@pytest.mark.parametrize("width", [1280, 390])
def test_table_headers_hold_one_line_in_chinese(live_server, page, staff_with, width):
    user = staff_with("telemetry.manage_telemetry", email="ops@example.com")
    paths = _seed(user)
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies(
        [{"name": "django_language", "value": "zh-hans", "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url("**/dashboard/")

    wrapped = {}
    for name, path in paths.items():
        page.goto(f"{live_server.url}{path}")
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        assert page.locator("thead th").count() > 0, name
        wrapped[name] = page.evaluate(WRAPPED_HEADERS)
    assert wrapped == {name: [] for name in paths}
