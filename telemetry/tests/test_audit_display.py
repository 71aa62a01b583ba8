"""The audit log reads in the reader's language: a run's end as counts and reasons in words,
"When" as a short local date, and fixed outcomes translated."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from telemetry import services
from telemetry.models import TelemetryAuditEntry, TelemetryDeployment, TelemetryRun
from telemetry.services import audit
from telemetry.tests.factories import make_config
from vehicles.tests.factories import make_link, make_vehicles

pytestmark = pytest.mark.django_db


@pytest.fixture
def ended_run(owner):
    """A push that ended with 2 cars updated and 4 skipped for a missing key."""
    cars = make_vehicles(make_link(owner), 6)
    config = make_config(name="Audited")
    services.telemetry_config_assign(config=config, vins=[c.vin for c in cars], user=None)
    version = services.telemetry_version_current(config=config)
    run = TelemetryRun.objects.create(
        config=config,
        version=version,
        status=TelemetryRun.Status.DONE,
        total=6,
        finished_at=timezone.now(),
    )
    for i, car in enumerate(cars):
        TelemetryDeployment.objects.create(
            vehicle=car,
            version=version,
            run=run,
            status="updated" if i < 2 else "skipped",
            reason="" if i < 2 else "missing_key",
        )
    audit.record_run_end(run)
    return config


def _audit(page: str) -> str:
    return page.split("Audit log", 1)[1] if "Audit log" in page else page.split("<ul>")[-1]


def test_a_runs_end_reads_as_counts_and_reasons_in_words(manager_client, ended_run):
    entry = TelemetryAuditEntry.objects.get(action=TelemetryAuditEntry.Action.PUSHED)
    assert entry.counts["statuses"] == {"updated": 2, "skipped": 4}
    page = _audit(manager_client.get(f"/telemetry/{ended_run.pk}/").content.decode())
    assert "2 accepted, 4 skipped, 0 failed" in page
    assert "The portal&#x27;s key is not paired on the car: 4" in page
    assert "skipped 4, updated 2" not in page and "missing_key 4" not in page


def test_the_audit_log_when_is_a_short_date_and_fixed_outcomes_are_translated(
    manager_client, ended_run
):
    # Recorded in English when a run was queued (services record in the worker's language).
    TelemetryAuditEntry.objects.create(
        action=TelemetryAuditEntry.Action.PUSHED,
        config=ended_run,
        config_name=ended_run.name,
        outcome="queued for the worker",
    )
    manager_client.cookies["django_language"] = "zh-hans"
    page = manager_client.get(
        f"/telemetry/{ended_run.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    # The portal's zh-hans SHORT_DATETIME_FORMAT (2026年11月30日 01:34), in a <time> element.
    assert re.search(r'<time datetime="[^"]+">\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}</time>', page)
    assert "已排队，等待处理" in page and "queued for the worker" not in page


def test_old_entries_without_counts_still_show_their_outcome(manager_client):
    config = make_config(name="Old")
    TelemetryAuditEntry.objects.create(
        action=TelemetryAuditEntry.Action.PUSHED,
        config=config,
        config_name=config.name,
        outcome="skipped 4, updated 2",
    )
    page = manager_client.get(f"/telemetry/{config.pk}/").content.decode()
    assert "skipped 4, updated 2" in page


def test_the_admin_audit_list_shows_the_readable_outcome(client, ended_run, django_user_model):
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="x")
    client.force_login(admin)
    page = client.get("/admin/telemetry/telemetryauditentry/").content.decode()
    assert "2 accepted, 4 skipped, 0 failed" in page
