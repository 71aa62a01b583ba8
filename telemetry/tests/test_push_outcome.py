"""A push that mostly failed says so: counts by outcome, skip reasons in words with their fix,
skipped cars in the error inbox."""

from __future__ import annotations

import pytest

from telemetry import services
from telemetry.models import TelemetryDeployment, TelemetryRun
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed_run(owner):
    """Six cars: one accepted, five skipped (four missing_key, one unsupported_firmware)."""
    cars = make_vehicles(make_link(owner), 6)
    config = make_config(name="Mixed")
    services.telemetry_config_assign(config=config, vins=[c.vin for c in cars], user=None)
    version = services.telemetry_version_current(config=config)
    run = TelemetryRun.objects.create(
        config=config, version=version, status=TelemetryRun.Status.DONE, total=6
    )
    reasons = ["", "missing_key", "missing_key", "missing_key", "missing_key"]
    reasons.append("unsupported_firmware")
    for car, reason in zip(cars, reasons, strict=True):
        TelemetryDeployment.objects.create(
            vehicle=car,
            version=version,
            run=run,
            status="skipped" if reason else "updated",
            reason=reason,
        )
    return config, run, cars


def test_config_page_counts_a_mostly_skipped_push_and_explains_each_skip(manager_client, mixed_run):
    config, _run, cars = mixed_run
    page = manager_client.get(f"/telemetry/{config.pk}/").content.decode()
    assert "1 accepted, 5 skipped, 0 failed" in page
    assert "Skipped</span> <code>missing_key</code>" not in page
    assert "The portal&#x27;s key is not paired on the car" in page
    assert "Send the owner the pairing link" in page
    assert "2024.26 or newer" in page


def test_run_status_reports_outcome_counts_and_reasons_in_words(manager_client, mixed_run):
    _config, run, cars = mixed_run
    data = manager_client.get(f"/telemetry/runs/{run.pk}/status/").json()
    assert data["outcome"] == {"accepted": 1, "skipped": 5, "failed": 0}
    assert data["outcome_text"] == "1 accepted, 5 skipped, 0 failed"
    by_vin = {v["vin"]: v for v in data["vehicles"]}
    skipped = by_vin[cars[1].vin]
    assert skipped["reason_label"] == "The portal's key is not paired on the car"
    assert "pairing link" in skipped["fix"]
    assert by_vin[cars[0].vin]["fix"] == ""


def test_the_live_progress_script_shows_counts_not_done_over_total():
    from pathlib import Path

    script = (Path(__file__).parents[1] / "static/telemetry/run-progress.js").read_text()
    assert "data.outcome_text" in script and "v.fix" in script
    assert 'data.done + " / "' not in script


def test_error_inbox_lists_skipped_cars_with_their_reason(manager_client, mixed_run, settings):
    _config, _run, cars = mixed_run
    page = manager_client.get("/telemetry/errors/").content.decode()
    assert 'id="skipped"' in page
    for car in cars[1:]:
        assert car.vin in page
    assert "The car&#x27;s software is too old" in page
    assert "Send the owner the pairing link" in page


@pytest.mark.parametrize(
    "reason, words",
    [
        ("max_configs", "Free an app slot"),
        ("unsupported_hardware", "hardware is not supported"),
        ("something_new", "something_new"),
    ],
)
def test_every_skip_reason_reads_in_words(reason, words):
    from telemetry.explanations import explain_skip

    skip = explain_skip(reason)
    assert words in skip["label"] + skip["fix"]
