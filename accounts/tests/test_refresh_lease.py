"""The refresh lease: single-flight without holding a database lock across Tesla's token call."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import RefreshAttempt, TeslaLink, User
from accounts.tests.tesla_flow import link
from conftest import PASSWORD
from teslafleet import oauth


def _linked(owner_client, owner) -> TeslaLink:
    link(owner_client, "alice@example.com")
    return TeslaLink.objects.get(user=owner)


def _during_token_call(monkeypatch, action) -> None:
    """Run `action` when a refresh reaches Tesla's token endpoint, then let the call go on."""
    real = oauth.refresh

    def refresh(*args, **kwargs):
        action()
        return real(*args, **kwargs)

    monkeypatch.setattr(oauth, "refresh", refresh)


@pytest.mark.django_db(transaction=True)
def test_a_login_completes_while_a_refresh_waits_on_a_slow_tesla(
    owner_client, owner, other_user, tesla_apps, tesla_sandbox, monkeypatch
):
    row = _linked(owner_client, owner)
    if connection.vendor == "sqlite":
        # Writers queue for the busy timeout (30 s in settings) before "database is locked";
        # a shorter one than Tesla's delay below makes a held write lock fail the login
        # instead of merely slowing it down.
        monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 2)
        connections.close_all()
    tesla_sandbox.control.fault("token", latency=6, count=1)
    at_tesla = threading.Event()
    _during_token_call(monkeypatch, at_tesla.set)
    results: list[str] = []

    def refresh() -> None:
        try:
            results.append(services.link_refresh_tokens(link_id=row.pk, force=True))
        finally:
            connections.close_all()

    refresher = threading.Thread(target=refresh)
    refresher.start()
    try:
        assert at_tesla.wait(timeout=30), "the refresh never reached Tesla"
        response = Client().post(
            reverse("account_login"), {"login": other_user.email, "password": PASSWORD}
        )
        assert response.status_code == 302, response.content[:300]
        assert User.objects.get(pk=other_user.pk).last_login is not None
    finally:
        refresher.join()
    assert results == ["refreshed"]
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.refresh_token != row.refresh_token
    assert stored.refresh_lease_token == "" and stored.refresh_lease_until is None


@pytest.mark.django_db
def test_a_lapsed_lease_of_a_refresher_that_died_is_taken_over(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    row = _linked(owner_client, owner)
    TeslaLink.objects.filter(pk=row.pk).update(
        refresh_lease_token="dead-worker",
        refresh_lease_until=timezone.now() - dt.timedelta(seconds=1),
    )
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "refreshed"
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.refresh_token != row.refresh_token
    assert stored.refresh_lease_token == ""


@pytest.mark.django_db
def test_a_rotated_pair_is_stored_even_after_the_lease_was_taken_over(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch
):
    row = _linked(owner_client, owner)

    def lease_lapses_and_another_refresher_claims_it() -> None:
        TeslaLink.objects.filter(pk=row.pk).update(
            refresh_lease_token="someone-else",
            refresh_lease_until=timezone.now() + dt.timedelta(minutes=1),
        )

    _during_token_call(monkeypatch, lease_lapses_and_another_refresher_claims_it)
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "refreshed"
    stored = TeslaLink.objects.get(pk=row.pk)
    # Tesla rotated the chain: losing the new refresh token would break the link.
    assert stored.refresh_token != row.refresh_token
    assert stored.token_version == row.token_version + 1
    # The other refresher's lease is theirs to release.
    assert stored.refresh_lease_token == "someone-else"


@pytest.mark.django_db
def test_an_answer_for_a_link_relinked_meanwhile_is_dropped(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch
):
    row = _linked(owner_client, owner)

    def relinked() -> None:
        link(owner_client, "alice@example.com")

    _during_token_call(monkeypatch, relinked)
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "superseded"
    relinked_pair = TeslaLink.objects.get(pk=row.pk)
    assert relinked_pair.token_version == row.token_version + 1
    assert relinked_pair.refresh_token != row.refresh_token
    assert relinked_pair.refresh_lease_token == ""
    assert relinked_pair.health == TeslaLink.Health.OK
    assert RefreshAttempt.objects.count() == 1
