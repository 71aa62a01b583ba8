"""The periodic check of the public key URL (issue 17): Tesla fetches the key again when a
car pairs, so staff hear about a key no longer served before owners' pairings fail."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from partners import services
from partners.models import PartnerKey

pytestmark = pytest.mark.django_db


def test_the_watch_emails_partner_managers_once_per_incident_and_clears_when_served(
    portal, settings, staff_client, partner_manager, staff_with
):
    staff_with("telemetry.manage_telemetry", email="telemetry@example.com")  # not told
    services.partner_key_generate()
    assert services.partner_key_hosting_watch() == ""
    assert PartnerKey.objects.get().hosting_checked_at is not None
    assert mail.outbox == []

    served_at = settings.PORTAL_PUBLIC_URL
    settings.PORTAL_PUBLIC_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    problem = services.partner_key_hosting_watch()
    assert "Not reachable" in problem
    assert [m.to for m in mail.outbox] == [[partner_manager.email]]
    assert "application has not registered" in mail.outbox[0].body
    assert "Not reachable" in mail.outbox[0].body
    page = staff_client.get(reverse("partner_status")).content.decode()
    assert "Pairing fails right now" in page
    # Still broken at the next beat: no second email.
    services.partner_key_hosting_watch()
    assert len(mail.outbox) == 1

    settings.PORTAL_PUBLIC_URL = served_at
    assert services.partner_key_hosting_watch() == ""
    key = PartnerKey.objects.get()
    assert key.hosting_problem == "" and key.hosting_notified_at is None
    assert (
        "Pairing fails right now"
        not in staff_client.get(reverse("partner_status")).content.decode()
    )
    # A new incident is told again.
    settings.PORTAL_PUBLIC_URL = "http://127.0.0.1:9"
    services.partner_key_hosting_watch()
    assert len(mail.outbox) == 2


def test_without_a_key_there_is_nothing_to_watch(fresh_apps):
    assert services.partner_key_hosting_watch() == ""
    assert mail.outbox == []


def test_the_watch_runs_from_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["partner-key-hosting-watch"]
    assert entry["task"] == "partners.tasks.partner_key_hosting_watch"
    from partners import tasks

    assert tasks.partner_key_hosting_watch.name == entry["task"]
