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
from accounts.tests.tesla_flow import link, token_calls
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


@pytest.mark.django_db(transaction=True)
def test_an_answer_for_a_link_relinked_meanwhile_without_a_scope_leaves_it_needing_a_relink(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch
):
    row = _linked(owner_client, owner)
    narrowed = ["openid", "offline_access", "user_data"]

    def relinked_without_vehicle_data() -> None:
        link(owner_client, "alice@example.com", granted=narrowed)

    _during_token_call(monkeypatch, relinked_without_vehicle_data)
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "superseded"
    relinked = TeslaLink.objects.get(pk=row.pk)
    assert relinked.health == TeslaLink.Health.NEEDS_RELINK
    assert relinked.health_reason == "missing_scopes:vehicle_device_data"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [400, 503])  # refused (permanent), unavailable (transient)
def test_a_failed_refresh_of_a_link_relinked_meanwhile_leaves_the_new_pairs_health(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch, status
):
    row = _linked(owner_client, owner)

    def relinked_then_tesla_fails() -> None:
        link(owner_client, "alice@example.com")
        body = {"error": "invalid_grant", "error_description": "refused"}
        tesla_sandbox.control.fault("token", status=status, body=body, count=1)

    _during_token_call(monkeypatch, relinked_then_tesla_fails)
    if status == 400:
        assert services.link_refresh_tokens(link_id=row.pk, force=True) == "superseded"
    else:
        with pytest.raises(oauth.TransientOAuthError):
            services.link_refresh_tokens(link_id=row.pk, force=True)
    relinked = TeslaLink.objects.get(pk=row.pk)
    assert (relinked.health, relinked.health_reason) == (TeslaLink.Health.OK, "")
    assert RefreshAttempt.objects.get().link_id == row.pk


@pytest.mark.django_db
def test_releasing_a_lease_frees_only_that_link_and_only_while_it_is_ours(
    owner_client, owner, tesla_apps
):
    link(owner_client, "alice@example.com")
    link(owner_client, "erika@example.de")
    first, second = TeslaLink.objects.filter(user=owner).order_by("pk")
    # One lease token for both links, as a chunk claims them.
    leases = services._refresh_claim_at_once(link_ids=[first.pk, second.pk], force=True)
    services._lease_release(link_id=first.pk, lease=leases[first.pk])
    freed, still_held = TeslaLink.objects.get(pk=first.pk), TeslaLink.objects.get(pk=second.pk)
    assert (freed.refresh_lease_token, freed.refresh_lease_until) == ("", None)
    assert still_held.refresh_lease_token == leases[second.pk].token
    assert still_held.refresh_lease_until is not None
    # A lease that lapsed and was taken over is the new holder's: releasing ours leaves it.
    taken_over = timezone.now() + dt.timedelta(minutes=1)
    TeslaLink.objects.filter(pk=second.pk).update(
        refresh_lease_token="someone-else", refresh_lease_until=taken_over
    )
    services._lease_release(link_id=second.pk, lease=leases[second.pk])
    theirs = TeslaLink.objects.get(pk=second.pk)
    assert (theirs.refresh_lease_token, theirs.refresh_lease_until) == ("someone-else", taken_over)


@pytest.mark.django_db
def test_a_waiting_refresher_polls_its_own_links_lease_until_it_is_released(
    owner_client, owner, tesla_apps, monkeypatch
):
    link(owner_client, "alice@example.com")
    link(owner_client, "erika@example.de")
    ours, other = TeslaLink.objects.filter(user=owner).order_by("pk")
    until = timezone.now() + dt.timedelta(minutes=1)
    TeslaLink.objects.filter(pk__in=[ours.pk, other.pk]).update(
        refresh_lease_token="someone-else", refresh_lease_until=until
    )
    naps = []

    def nap(seconds):
        # The other refresher finishes while this one sleeps.
        naps.append(seconds)
        assert len(naps) == 1, "still waiting after our link's lease was released"
        TeslaLink.objects.filter(pk=ours.pk).update(
            refresh_lease_token="", refresh_lease_until=None
        )

    monkeypatch.setattr(services.time, "sleep", nap)
    services._lease_wait(link_id=ours.pk, until=until)
    # One look, one nap, one look: another link's lease (still held) is not waited for.
    assert naps == [services.LEASE_POLL_SECONDS]


@pytest.mark.django_db
def test_a_wait_ends_at_the_time_it_was_given(owner_client, owner, tesla_apps, monkeypatch):
    from types import SimpleNamespace

    row = _linked(owner_client, owner)
    now = timezone.now()
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: now))  # a still clock
    # The lease was renewed past the time this refresher was told: it claims again instead.
    TeslaLink.objects.filter(pk=row.pk).update(
        refresh_lease_token="someone-else", refresh_lease_until=now + dt.timedelta(minutes=1)
    )
    monkeypatch.setattr(services.time, "sleep", lambda s: pytest.fail("waited past its time"))
    services._lease_wait(link_id=row.pk, until=now)


@pytest.mark.django_db
def test_a_due_link_leased_elsewhere_is_waited_for_then_refreshed_if_still_due(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch, settings
):
    from types import SimpleNamespace

    row = _linked(owner_client, owner)
    now = timezone.now()
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: now))  # a still clock
    # Due at the very edge of the margin, and held by another refresher.
    TeslaLink.objects.filter(pk=row.pk).update(
        access_token_expires_at=now + dt.timedelta(seconds=settings.TESLA_REFRESH_MARGIN_SECONDS),
        refresh_lease_token="someone-else",
        refresh_lease_until=now + dt.timedelta(minutes=1),
    )
    naps = []

    def nap(seconds):
        # The other refresher gives up (a transient failure): the link is still due.
        naps.append(seconds)
        assert len(naps) == 1, "still waiting after the lease was released"
        TeslaLink.objects.filter(pk=row.pk).update(refresh_lease_token="", refresh_lease_until=None)

    monkeypatch.setattr(services.time, "sleep", nap)
    assert services.link_refresh_tokens(link_id=row.pk) == "refreshed"
    assert naps == [services.LEASE_POLL_SECONDS]
    assert TeslaLink.objects.get(pk=row.pk).token_version == row.token_version + 1


@pytest.mark.django_db
@pytest.mark.parametrize("lease_ends", [None, -1, 0])
def test_a_link_without_a_refresh_token_needs_a_relink_naming_offline_access(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch, lease_ends
):
    from types import SimpleNamespace

    row = _linked(owner_client, owner)
    now = timezone.now()
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: now))  # a still clock
    # No lease, one that lapsed, one that ends right now: none is held.
    until = None if lease_ends is None else now + dt.timedelta(seconds=lease_ends)
    TeslaLink.objects.filter(pk=row.pk).update(
        refresh_token="", refresh_lease_token="dead" if until else "", refresh_lease_until=until
    )
    monkeypatch.setattr(services, "_lease_wait", lambda **kw: pytest.fail("waited, none held"))
    calls = token_calls(tesla_sandbox)
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "broken"
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.health == TeslaLink.Health.NEEDS_RELINK
    assert stored.health_reason == "missing_scopes:offline_access"
    assert stored.health_changed_at == now
    assert token_calls(tesla_sandbox) == calls


@pytest.mark.django_db
def test_the_locked_path_takes_a_lease_like_the_fast_path(
    owner_client, owner, tesla_apps, monkeypatch
):
    from types import SimpleNamespace

    row = _linked(owner_client, owner)
    now = timezone.now()
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: now))  # a still clock
    lease = services._refresh_claim(link_id=row.pk, expected_version=None, force=True)
    stored = TeslaLink.objects.get(pk=row.pk)
    assert (lease.refresh_token, lease.auth_server) == (stored.refresh_token, "global")
    assert lease.until == now + services._lease_duration() > now
    assert (stored.refresh_lease_token, stored.refresh_lease_until) == (lease.token, lease.until)
    assert len(lease.token) == 32  # fits its column
    # Held: a second refresher is told when it runs out.
    assert services._refresh_claim(link_id=row.pk, expected_version=None, force=True) == lease.until


@pytest.mark.django_db
@pytest.mark.parametrize("at_version", [False, True])  # a fleet call's refresh names its version
def test_a_forced_refresh_of_a_fresh_link_leased_elsewhere_waits_then_refreshes(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch, at_version
):
    row = _linked(owner_client, owner)
    version = row.token_version if at_version else None
    TeslaLink.objects.filter(pk=row.pk).update(
        refresh_lease_token="someone-else",
        refresh_lease_until=timezone.now() + dt.timedelta(minutes=1),
    )

    def nap(seconds):
        TeslaLink.objects.filter(pk=row.pk).update(refresh_lease_token="", refresh_lease_until=None)

    monkeypatch.setattr(services.time, "sleep", nap)
    refreshed = services.link_refresh_tokens(link_id=row.pk, expected_version=version, force=True)
    assert refreshed == "refreshed"
    assert TeslaLink.objects.get(pk=row.pk).token_version == row.token_version + 1
