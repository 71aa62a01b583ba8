"""The budget (emails at 80 % and 100 %, once each; optional work paused above it, token
refresh going on) and Tesla's 403 EXCEEDED_LIMIT stopping every Fleet API call until staff
resume on the usage page."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from teslafleet.fleet import AccountDisabled
from usage import recorder, services
from usage.models import ApiCallDay, UsageState
from vehicles import services as vehicle_services
from vehicles.models import SyncRun

pytestmark = pytest.mark.django_db

VIEW_USAGE = "usage.view_usage"


def _bill(calls: int) -> None:
    """`calls` more billed data requests today."""
    day = timezone.now().astimezone(dt.UTC).date()
    row, _ = ApiCallDay.objects.get_or_create(
        day=day, region="NA", category="data", billed=True, defaults={"calls": 0}
    )
    ApiCallDay.objects.filter(pk=row.pk).update(calls=row.calls + calls)


@pytest.fixture
def budget(settings):
    """A budget of 10 data requests (at 1/500 USD each)."""
    settings.USAGE_RATES = {**settings.USAGE_RATES, "data": "1/500"}
    settings.USAGE_MONTHLY_BUDGET = "0.02"


def test_staff_are_emailed_at_80_and_100_percent_once_each(budget, staff_with, owner):
    staff_with(VIEW_USAGE, email="usage@example.com")
    staff_with("vehicles.manage_roster", email="roster@example.com")  # not told
    _bill(7)
    services.usage_budget_check()
    assert mail.outbox == []
    _bill(1)  # 80 %
    services.usage_budget_check()
    services.usage_budget_check()
    assert [m.to for m in mail.outbox] == [["usage@example.com"]]
    assert "80%" in mail.outbox[0].subject
    _bill(2)  # 100 %
    services.usage_budget_check()
    services.usage_budget_check()
    assert len(mail.outbox) == 2
    assert "100%" in mail.outbox[1].subject
    assert "/staff/usage/" in mail.outbox[1].body


def test_above_the_budget_the_sync_sweep_pauses_and_token_refresh_goes_on(
    budget, owner_client, tesla_apps, tesla_sandbox
):
    from vehicles.tests.conftest import linked

    link = linked(owner_client, "alice@example.com")
    _bill(10)
    services.usage_budget_check()
    assert services.optional_work_paused()
    assert vehicle_services.vehicles_sync_sweep() == 0
    refreshes = tesla_sandbox.control.counters()["token"]["global:refresh_token"]
    assert account_services.link_refresh_tokens(link_id=link.pk, force=True) == "refreshed"
    assert tesla_sandbox.control.counters()["token"]["global:refresh_token"] == refreshes + 1
    # The budget raised: the next check lifts the pause.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.conf.settings.USAGE_MONTHLY_BUDGET", "100")
        services.usage_budget_check()
        assert not services.optional_work_paused()
        assert vehicle_services.vehicles_sync_sweep() == 1


def _sync(link) -> None:
    with contextlib.suppress(AccountDisabled):
        vehicle_services.vehicles_sync(link_id=link.pk)


EXCEEDED = {"error": "account disabled: EXCEEDED_LIMIT"}


def test_exceeded_limit_stops_every_call_until_staff_resume(
    owner_client, tesla_apps, tesla_sandbox, staff_with, client
):
    from vehicles.tests.conftest import linked

    link = linked(owner_client, "alice@example.com")
    tesla_sandbox.control.fault("/api/1/vehicles", status=403, body=EXCEEDED, count=1)
    _sync(link)
    assert recorder.stopped() is not None
    assert "EXCEEDED_LIMIT" in SyncRun.objects.latest("pk").error
    fleet = tesla_sandbox.control.counters()["fleet"]

    # The fault is spent, but the portal sends nothing more: refused before the request.
    _sync(link)
    assert "not sent" in SyncRun.objects.latest("pk").error
    assert tesla_sandbox.control.counters()["fleet"] == fleet
    # Token refresh goes to the authorization server: it goes on.
    assert account_services.link_refresh_tokens(link_id=link.pk, force=True) == "refreshed"

    # Recorded for every process at the next flush, and shown as what it is.
    recorder.flush()
    assert UsageState.objects.get(pk=1).exceeded_at is not None
    client.force_login(staff_with(VIEW_USAGE))
    page = client.get(reverse("usage:overview"))
    assert "EXCEEDED_LIMIT" in page.content.decode()
    assert 'id="usage-stopped"' in page.content.decode()

    # Another process reads the stop from the database at its flush.
    recorder.discard()
    recorder.flush(read_stop=True)
    assert recorder.stopped() is not None

    response = client.post(reverse("usage:resume"))
    assert response.status_code == 302
    vehicle_services.vehicles_sync(link_id=link.pk)
    assert tesla_sandbox.control.counters()["fleet"] != fleet
    assert 'id="usage-stopped"' not in client.get(reverse("usage:overview")).content.decode()
