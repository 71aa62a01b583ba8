"""One writer of a token pair (services._pair_store) for linking, relinking and refreshing,
and the signal a stored link sends once it has committed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import TeslaLink
from accounts.signals import link_connected

REQUIRED = ["openid", "offline_access", "vehicle_device_data"]


def _profile(**changes):
    profile = {
        "sub": "tesla-user-1",
        "auth_server": "global",
        "scopes": REQUIRED,
        "region": "NA",
        "fleet_api_base_url": "http://127.0.0.1:8001/fleet/na",
        "email": "alice@example.com",
        "full_name": "Alice",
    }
    return profile | changes


def _store(user, **kwargs) -> TeslaLink:
    values = {"profile": _profile(), "access_token": "a1", "refresh_token": "r1"} | kwargs
    return services.link_store(user=user, expires_at=None, **values)


@pytest.fixture
def heard(monkeypatch) -> list[int]:
    """The links link_connected announces; vehicles' own receiver (it queues a sync, tested in
    vehicles) is out of the way."""
    calls: list[int] = []
    monkeypatch.setattr(link_connected, "receivers", [])
    link_connected.connect(lambda sender, link, **kw: calls.append(link.pk), weak=False)
    return calls


@pytest.mark.django_db
def test_a_stored_link_sends_link_connected_once_committed(
    owner, heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        link = _store(owner)
        assert heard == []  # not before the link is committed: a worker could not read it
    assert heard == [link.pk]


@pytest.mark.django_db
def test_a_new_chain_without_a_refresh_token_needs_a_relink_naming_offline_access(owner):
    link = _store(owner, refresh_token="")
    assert link.health == TeslaLink.Health.NEEDS_RELINK
    assert link.health_reason == "missing_scopes:offline_access"
    assert link.refresh_token == ""


@pytest.mark.django_db
def test_a_relink_replaces_the_whole_pair_and_its_scopes(owner):
    _store(owner)
    link = _store(owner, access_token="a2", refresh_token="", profile=_profile(scopes=["openid"]))
    link.refresh_from_db()
    assert (link.access_token, link.refresh_token) == ("a2", "")
    assert link.scopes == ["openid"]
    assert link.health == TeslaLink.Health.NEEDS_RELINK
    assert link.health_reason == "missing_scopes:offline_access,vehicle_device_data"


@pytest.mark.django_db
def test_a_refresh_without_a_refresh_token_keeps_the_links_and_its_scopes(owner):
    link = _store(owner)
    issued = link.refresh_token_issued_at
    now = timezone.now() + dt.timedelta(minutes=5)
    services._pair_store(
        link,
        access_token="a2",
        refresh_token="",
        expires_at=now + dt.timedelta(hours=8),
        scopes=[],
        now=now,
        new_chain=False,
    )
    assert (link.access_token, link.refresh_token) == ("a2", "r1")
    assert link.refresh_token_issued_at == issued
    assert link.scopes == REQUIRED and link.health == TeslaLink.Health.OK


@pytest.mark.django_db
def test_a_refresh_with_narrowed_scopes_needs_a_relink_and_notifies_the_owner(
    owner, django_capture_on_commit_callbacks, monkeypatch
):
    link = _store(owner)
    queued = []
    monkeypatch.setattr(
        "accounts.tasks.link_notify_needs_relink.delay_on_commit", lambda pk: queued.append(pk)
    )
    now = timezone.now()
    services._pair_store(
        link,
        access_token="a2",
        refresh_token="r2",
        expires_at=None,
        scopes=["openid", "offline_access"],
        now=now,
        new_chain=False,
    )
    assert link.refresh_token == "r2" and link.refresh_token_issued_at == now
    assert link.health == TeslaLink.Health.NEEDS_RELINK
    assert link.health_reason == "missing_scopes:vehicle_device_data"
    assert queued == [link.pk]


@pytest.mark.django_db
def test_linking_with_missing_scopes_sends_no_email(owner, monkeypatch):
    # The owner is on the page that says so; the email is for a link that breaks later.
    queued = []
    monkeypatch.setattr(
        "accounts.tasks.link_notify_needs_relink.delay_on_commit", lambda pk: queued.append(pk)
    )
    link = _store(owner, profile=_profile(scopes=["openid"]))
    assert link.health == TeslaLink.Health.NEEDS_RELINK
    assert queued == []
