"""The stream end to end, nothing written by the test: the sandbox's cars publish §10.1 messages
to the machine's Mosquitto, `manage.py telemetry_stream` (its own process, as in production)
stores them in the live server's database, and the pages read them in Chromium.

alice links her Tesla account and pairs the portal's key; a staff member assigns a config to
her Model 3 and pushes it in the browser; the car picks it up and streams. alice's live page
fills and changes without a reload; the staff overview counts the car as streaming and links
to it; silenced in the sandbox, the car turns silent on the overview and on its staff page,
which offers Resync. Another portal user gets 404 on alice's live page.

`E2E_SCREENSHOTS=docs/screenshots make e2e` also saves the live page and the overview at 390
and 1280 px, in English and Chinese.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from e2e.conftest import eventually, link_alice_with_a_paired_car, sign_in
from sandbox.demo import self_signed_ca_pem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODEL_3 = "5YJ3E1EA7PF000001"  # alice's online Model 3
# Sim seconds per wall second: a drive of 1,200 sim seconds takes 10 s, a charge well under
# a minute, so values change while the page is watched.
TIME_SCALE = 120
# Config intervals (seconds) and whether the owner's chart keeps the field's history.
FIELDS = {"BatteryLevel": (2, True), "Odometer": (2, True), "Location": (2, False)}
# Expected window = longest interval + slack = 4 s; silent after 2 windows = 8 s.
SLACK_SECONDS = 2
SILENT_FACTOR = 2
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS", "")


@pytest.fixture(scope="module")
def _streaming_sandbox():
    """A sandbox of this module that also publishes its cars' stream to the machine's
    Mosquitto, under a topic base no one else uses."""
    from sandbox.testing import running_sandbox
    from telemetry.tests.stream_helpers import SYSTEM_MOSQUITTO, require_system_mosquitto, unique

    require_system_mosquitto()
    base = unique("fp-e2e")
    with running_sandbox(
        mqtt_url=SYSTEM_MOSQUITTO, topic_base=base, time_scale=TIME_SCALE
    ) as handle:
        handle.topic_base = base
        yield handle


@pytest.fixture
def tesla_sandbox(_streaming_sandbox):
    """Overrides conftest's: the portal fixtures then use the streaming sandbox. Cars pick a
    config up a second after the push and never fall asleep (an asleep car disconnects)."""
    _streaming_sandbox.control.reset()
    _streaming_sandbox.control.settings(telemetry_sync_delay=1.0, stream_sleep_after=0)
    return _streaming_sandbox


@pytest.fixture
def stream_consumer(portal, tesla_sandbox, tmp_path, monkeypatch):
    """`manage.py telemetry_stream` against the live server's database (SQLite file or
    PostgreSQL), with a client id of its own; its persistent session is removed afterwards so
    the shared Mosquitto keeps nothing for it."""
    from fleetportal.tests.queue_helpers import wait_for
    from telemetry.models import StreamConsumer
    from telemetry.tests.stream_helpers import SYSTEM_MOSQUITTO, ConsumerProcess, unique

    # One-minute history buckets would give the chart a single point in this short run.
    monkeypatch.setenv("TELEMETRY_HISTORY_BUCKET_SECONDS", "2")
    client_id = unique("fp-e2e-consumer")
    consumer = ConsumerProcess(
        tmp_path / "consumer.log", SYSTEM_MOSQUITTO, tesla_sandbox.topic_base, client_id
    ).start()
    try:
        # Running (its first VIN and history-field lookup done) before alice links her car:
        # the consumer reloads which fields keep history only every minute for cars it
        # already knows, and the chart below should not wait for that.
        wait_for(
            lambda: StreamConsumer.objects.filter(client_id=client_id, connected=True).exists(),
            "the consumer's first heartbeat",
            timeout=60,
        )
        yield consumer
    finally:
        tesla_sandbox.control.reset()  # the cars stop publishing
        if consumer.process is not None:
            consumer.kill(signal.SIGTERM)
        _forget_session(client_id)
        print(consumer.log()[-3000:])


def _forget_session(client_id: str) -> None:
    """Connect once with the consumer's id, clean start and no session expiry: Mosquitto
    drops the session (and anything queued for it)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
    )
    client.connect("127.0.0.1", 1883, clean_start=True)
    client.loop_start()
    try:
        deadline = time.monotonic() + 10
        while not client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()


def given_config():
    """The config the staff member is given (the builder in the browser is covered by
    test_journeys.py): three fields, history kept for battery and odometer."""
    from django.utils import timezone

    from telemetry.models import TelemetryConfig, TelemetryField

    config = TelemetryConfig.objects.create(
        name="Live basics",
        hostname="localhost",
        port=4443,
        ca=self_signed_ca_pem("localhost"),
        exp=timezone.now() + dt.timedelta(days=30),
    )
    for name, (interval, history) in FIELDS.items():
        TelemetryField.objects.create(
            config=config, name=name, interval_seconds=interval, keep_history=history
        )
    return config


def test_a_pushed_config_streams_to_the_owners_live_page_and_the_staff_overview(
    portal, page, chromium, owner, other_user, staff, settings, tesla_sandbox, stream_consumer
):
    from django.contrib.auth.models import Permission

    from vehicles.models import Vehicle

    settings.TELEMETRY_STREAM_SLACK_SECONDS = SLACK_SECONDS
    settings.TELEMETRY_STREAM_SILENT_FACTOR = SILENT_FACTOR
    base = portal.url

    # alice (the owner) links her Tesla account; her Model 3 carries the portal's key.
    link_alice_with_a_paired_car(page, base, owner, PASSWORD, MODEL_3, tesla_sandbox)
    car = Vehicle.objects.get(vin=MODEL_3)
    live_url = f"{base}/telemetry/vehicles/{car.pk}/live/"

    # A staff member with the telemetry permission assigns the config and pushes it.
    staff.user_permissions.add(Permission.objects.get(codename="manage_telemetry"))
    config = given_config()
    staff_context = chromium.new_context(locale="en-US")
    staff_context.set_default_timeout(15_000)
    staff_page = staff_context.new_page()
    try:
        sign_in(staff_page, base, staff.email, PASSWORD)
        staff_page.goto(f"{base}/telemetry/{config.pk}/")
        staff_page.fill("textarea[name=vins], input[name=vins]", MODEL_3)
        staff_page.get_by_role("button", name="Assign").click()
        staff_page.get_by_role("button", name="Push to every assigned vehicle").click()
        expect(staff_page.locator(f"tr[data-vin='{MODEL_3}'] .vehicle-status")).to_contain_text(
            "Accepted, waiting for the car", timeout=30_000
        )

        # The car picks the config up by itself and streams; alice watches her live page.
        page.goto(live_url)
        battery = page.locator('[data-live-item="BatteryLevel"] [data-live-text]')
        odometer = page.locator('[data-live-item="Odometer"] [data-live-text]')
        expect(battery).to_have_text(re.compile(r"^\d+ %$"), timeout=60_000)
        expect(odometer).to_have_text(re.compile(r"^[\d,]+ mi \([\d,]+ km\)$"), timeout=15_000)
        expect(page.get_by_role("link", name="Open on the map")).to_be_visible()
        page.evaluate("window.notReloaded = true")
        seen = (battery.inner_text(), odometer.inner_text())
        _wait_until(
            lambda: (battery.inner_text(), odometer.inner_text()) != seen,
            f"battery or odometer changed from {seen} without a reload",
            timeout=90,
        )
        assert page.evaluate("window.notReloaded") is True
        # History buckets of the chart fields fill as the car goes on.
        expect(page.locator('[data-live-chart="BatteryLevel"] polyline')).to_be_visible(
            timeout=30_000
        )

        # The staff overview counts the car as streaming; its row leads to the car.
        overview = f"{base}/telemetry/overview/"
        streaming = staff_page.locator('#fleet-chart li[data-state="streaming"] .count')
        eventually(staff_page, overview, lambda p: streaming.inner_text() == "1", timeout=30)
        row = staff_page.locator('#overview-vehicles tbody tr[data-state="streaming"]')
        expect(row).to_have_count(1)
        row.get_by_role("link", name=MODEL_3).click()
        staff_page.wait_for_url(f"{base}/telemetry/vehicles/{car.pk}/")
        expect(staff_page.locator('#stream-state[data-state="streaming"]')).to_be_visible()
        # Both pages fit a phone: nothing sticks out sideways.
        for p, url in ((page, live_url), (staff_page, overview)):
            _fits(p, url, 390)
        _screenshots(page, staff_page, live_url, overview)

        # Silenced in the sandbox, the car says nothing more (no DISCONNECTED either).
        tesla_sandbox.control.silence(MODEL_3)
        silent = staff_page.locator('#fleet-chart li[data-state="silent"] .count')
        eventually(staff_page, overview, lambda p: silent.inner_text() == "1", timeout=60)
        assert streaming.inner_text() == "0"
        staff_page.locator('#overview-vehicles tbody tr[data-state="silent"]').get_by_role(
            "link", name=MODEL_3
        ).click()
        state = staff_page.locator('#stream-state[data-state="silent"]')
        expect(state).to_contain_text("Silent")
        expect(state).to_contain_text("Resync: re-posting the config")
        expect(
            staff_page.locator("#resync-form").get_by_role("button", name="Resync")
        ).to_be_visible()
    except Exception:
        _keep(staff_page, "stream_journey_staff.png")
        raise
    finally:
        staff_context.close()

    # Another portal user never sees alice's car.
    other_context = chromium.new_context(locale="en-US")
    other_page = other_context.new_page()
    try:
        sign_in(other_page, base, other_user.email, PASSWORD)
        assert other_page.goto(live_url).status == 404
        assert other_page.goto(f"{live_url}data/").status == 404
    finally:
        other_context.close()


def _wait_until(condition, what: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.5)


def _fits(page, url: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(url)
    assert page.evaluate("document.documentElement.scrollWidth") <= width, url
    page.set_viewport_size({"width": 1280, "height": 720})


def _keep(page, name: str) -> None:
    from conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _screenshots(owner_page, staff_page, live_url: str, overview_url: str) -> None:
    """With E2E_SCREENSHOTS=<folder>: live-<lang>-<width>.png and
    telemetry-overview-<lang>-<width>.png, in English and Chinese at 390 and 1280 px."""
    if not SCREENSHOTS:
        return
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "zh-hans"):
        for p, url, name in (
            (owner_page, live_url, "live"),
            (staff_page, overview_url, "overview"),
        ):
            _switch_language(p, url, lang)
            for width in (390, 1280):
                p.set_viewport_size({"width": width, "height": 900})
                p.goto(url)
                assert p.locator("html").get_attribute("lang") == lang
                assert p.evaluate("document.documentElement.scrollWidth") <= width, (url, lang)
                if name == "live":
                    expect(p.locator('[data-live-item="BatteryLevel"]')).to_be_visible()
                p.screenshot(
                    path=str(folder / f"telemetry-{name}-{lang}-{width}.png"), full_page=True
                )
    for p, url in ((owner_page, live_url), (staff_page, overview_url)):
        _switch_language(p, url, "en")
        p.set_viewport_size({"width": 1280, "height": 720})


def _switch_language(page, url: str, lang: str) -> None:
    page.goto(url)
    page.select_option("select[name=language]", lang)
    page.locator(".language-switcher button").click()
    page.wait_for_load_state()
