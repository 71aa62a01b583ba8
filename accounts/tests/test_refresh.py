"""Keeping links alive: single-flight refresh, rotation-safe persistence, failure handling."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from celery.signals import task_postrun
from django.core import mail
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services, tasks
from accounts.models import RefreshAttempt, TeslaLink
from accounts.tests.tesla_flow import link, token_calls
from fleetportal.tasks import retry_countdown
from teslafleet.fleet import Unauthorized
from teslafleet.oauth import TransientOAuthError


def _refresh_calls(sandbox) -> int:
    return sum(
        1
        for r in sandbox.control.requests()
        if r["path"].endswith("/oauth2/v3/token") and r.get("grant_type") == "refresh_token"
    )


def _linked(owner_client, owner, email="alice@example.com") -> TeslaLink:
    link(owner_client, email)
    return TeslaLink.objects.get(user=owner, email=email)


def _make_due(row: TeslaLink, minutes: int = 5) -> None:
    TeslaLink.objects.filter(pk=row.pk).update(
        access_token_expires_at=timezone.now() + dt.timedelta(minutes=minutes)
    )


class _Completions:
    """Counts runs of one task finished by a real worker (same process, worker threads)."""

    def __init__(self, name: str = "accounts.tasks.link_refresh") -> None:
        self.name = name
        self.count = 0
        self.done = threading.Condition()

    def __call__(self, sender=None, **kwargs) -> None:
        if sender is not None and sender.name == self.name:
            with self.done:
                self.count += 1
                self.done.notify_all()

    def wait_for(self, n: int, timeout: float = 60) -> bool:
        with self.done:
            return self.done.wait_for(lambda: self.count >= n, timeout=timeout)


@pytest.fixture
def completions():
    counter = _Completions()
    task_postrun.connect(counter, weak=False)
    yield counter
    task_postrun.disconnect(counter)


@pytest.fixture
def chunk_completions():
    counter = _Completions("accounts.tasks.links_refresh_chunk")
    task_postrun.connect(counter, weak=False)
    yield counter
    task_postrun.disconnect(counter)


@pytest.mark.django_db
def test_refresh_rotates_and_persists_the_new_pair(owner_client, owner, tesla_apps, tesla_sandbox):
    row = _linked(owner_client, owner)
    old_refresh, version = row.refresh_token, row.token_version
    _make_due(row)
    assert services.link_refresh_tokens(link_id=row.pk) == "refreshed"
    row.refresh_from_db()
    assert row.refresh_token != old_refresh
    assert row.token_version == version + 1
    assert row.access_token_expires_at > timezone.now() + dt.timedelta(hours=7)
    assert row.last_refreshed_at and row.health == TeslaLink.Health.OK
    assert RefreshAttempt.objects.get().outcome == RefreshAttempt.Outcome.OK
    # The stored token is the live end of the chain: it refreshes again.
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "refreshed"
    assert _refresh_calls(tesla_sandbox) == 2


@pytest.mark.django_db
def test_a_link_refreshed_recently_is_skipped_without_a_call(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    row = _linked(owner_client, owner)
    assert services.link_refresh_tokens(link_id=row.pk) == "fresh"
    assert _refresh_calls(tesla_sandbox) == 0


@pytest.mark.django_db(transaction=True)
def test_refresh_is_single_flight_across_threads(owner_client, owner, tesla_apps, tesla_sandbox):
    row = _linked(owner_client, owner)
    _make_due(row)
    # Slow Tesla down so the 20 callers really overlap the first one's token call.
    tesla_sandbox.control.fault("token", latency=0.5, count=1)
    barrier = threading.Barrier(20)

    def refresh() -> str:
        barrier.wait()
        try:
            return services.link_refresh_tokens(link_id=row.pk)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: refresh(), range(20)))
    assert results.count("refreshed") == 1
    assert results.count("fresh") == 19
    assert _refresh_calls(tesla_sandbox) == 1
    row.refresh_from_db()
    assert row.health == TeslaLink.Health.OK and row.token_version == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_refresh_is_single_flight_on_a_real_worker(
    owner_client, owner, tesla_apps, tesla_sandbox, completions
):
    from celery.contrib.testing.worker import start_worker

    from fleetportal.celery import app

    row = _linked(owner_client, owner)
    _make_due(row)
    tesla_sandbox.control.fault("token", latency=0.5, count=1)
    for _ in range(20):
        tasks.link_refresh.delay(row.pk)
    with start_worker(app, pool="threads", concurrency=8, perform_ping_check=False):
        assert completions.wait_for(20), f"only {completions.count} of 20 tasks ran"
    connections.close_all()
    assert _refresh_calls(tesla_sandbox) == 1
    row.refresh_from_db()
    assert row.health == TeslaLink.Health.OK and row.token_version == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_revoked_consent_ends_in_needs_relink_told_once_and_no_further_calls(
    owner_client, owner, tesla_apps, tesla_sandbox, celery_worker_thread
):
    row = _linked(owner_client, owner)
    tesla_sandbox.control.revoke_consent("alice@example.com", tesla_apps["global"]["client_id"])
    _make_due(row)
    mail.outbox.clear()
    assert services.link_refresh_tokens(link_id=row.pk) == "broken"
    row.refresh_from_db()
    assert row.health == TeslaLink.Health.NEEDS_RELINK
    assert "login_required" in row.health_reason
    assert RefreshAttempt.objects.get().outcome == RefreshAttempt.Outcome.FAILED

    calls = token_calls(tesla_sandbox)
    assert services.links_claim_due() == []
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "broken"
    assert token_calls(tesla_sandbox) == calls

    deadline = timezone.now() + dt.timedelta(seconds=20)
    while not mail.outbox and timezone.now() < deadline:
        threading.Event().wait(0.1)
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "needs to be linked again" in body and "需要重新关联" in body
    assert row.access_token[:20] not in body
    html = owner_client.get(reverse("dashboard")).content.decode()
    assert "needs to be linked again" in html and reverse("link_relink", args=[row.pk]) in html


@pytest.mark.django_db
def test_a_password_reset_at_tesla_needs_a_relink(owner_client, owner, tesla_apps, tesla_sandbox):
    row = _linked(owner_client, owner)
    tesla_sandbox.control.reset_password("alice@example.com")
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "broken"
    row.refresh_from_db()
    assert row.health == TeslaLink.Health.NEEDS_RELINK


@pytest.mark.django_db
def test_a_transient_failure_is_retrying_not_broken(owner_client, owner, tesla_apps, tesla_sandbox):
    row = _linked(owner_client, owner)
    refresh_token = row.refresh_token
    tesla_sandbox.control.fault("token", status=503, body={"error": "server_error"}, count=1)
    with pytest.raises(TransientOAuthError):
        services.link_refresh_tokens(link_id=row.pk, force=True)
    row.refresh_from_db()
    assert row.health == TeslaLink.Health.RETRYING
    assert row.refresh_token == refresh_token
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "refreshed"
    row.refresh_from_db()
    assert row.health == TeslaLink.Health.OK
    outcomes = list(RefreshAttempt.objects.order_by("created_at").values_list("outcome", flat=True))
    assert outcomes == ["retried", "ok"]


@pytest.mark.parametrize(
    ("retries", "retry_after", "low", "high"),
    [
        (0, 17, 17, 17),
        (3, 100_000, 300, 300),
        (0, None, 0, 10),
        (4, None, 0, 160),
        (9, None, 0, 300),
    ],
)
def test_retry_countdown_honours_retry_after_up_to_a_cap_and_backs_off(
    settings, retries, retry_after, low, high
):
    settings.TESLA_REFRESH_RETRY_CAP_SECONDS = 300
    for _ in range(20):
        assert low <= retry_countdown(retries, retry_after) <= high


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_task_retries_transient_failures_then_succeeds(
    owner_client, owner, tesla_apps, tesla_sandbox, settings, completions
):
    from celery.contrib.testing.worker import start_worker

    from fleetportal.celery import app

    settings.TESLA_REFRESH_RETRY_CAP_SECONDS = 1
    row = _linked(owner_client, owner)
    _make_due(row)
    tesla_sandbox.control.fault(
        "token", status=429, body={"error": "rate_limited"}, headers={"Retry-After": "1"}, count=2
    )
    tasks.link_refresh.delay(row.pk)
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False):
        assert completions.wait_for(3, timeout=60), completions.count
    connections.close_all()
    row.refresh_from_db()
    assert row.health == TeslaLink.Health.OK
    outcomes = sorted(RefreshAttempt.objects.values_list("outcome", flat=True))
    assert outcomes == ["ok", "retried", "retried"]


@pytest.mark.django_db
def test_overlapping_sweeps_claim_each_due_link_once(owner_client, owner, tesla_apps):
    due = _linked(owner_client, owner, "alice@example.com")
    also_due = _linked(owner_client, owner, "erika@example.de")
    fresh = _linked(owner_client, owner, "bob@example.com")
    _make_due(due)
    _make_due(also_due, minutes=30)
    assert sorted(services.links_claim_due()) == sorted([due.pk, also_due.pk])
    assert services.links_claim_due() == []
    assert fresh.pk not in services.links_claim_due()
    services.link_refresh_tokens(link_id=due.pk)
    due.refresh_from_db()
    assert due.refresh_queued_at is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_beat_sweep_refreshes_every_due_link_once_on_a_worker(
    owner_client, owner, tesla_apps, tesla_sandbox, chunk_completions
):
    from celery.contrib.testing.worker import start_worker

    from fleetportal.celery import app

    for email in ("alice@example.com", "erika@example.de"):
        _make_due(_linked(owner_client, owner, email))
    _linked(owner_client, owner, "bob@example.com")
    assert tasks.links_refresh_sweep() == 2
    assert tasks.links_refresh_sweep() == 0
    with start_worker(app, pool="threads", concurrency=4, perform_ping_check=False):
        assert chunk_completions.wait_for(1)
    connections.close_all()
    assert _refresh_calls(tesla_sandbox) == 2
    assert set(TeslaLink.objects.values_list("health", flat=True)) == {TeslaLink.Health.OK}


@pytest.mark.django_db
def test_a_fleet_call_with_an_expired_token_refreshes_first(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    row = _linked(owner_client, owner)
    TeslaLink.objects.filter(pk=row.pk).update(access_token_expires_at=timezone.now())
    row.refresh_from_db()
    me = services.link_fleet_call(link=row, call=lambda client: client.me())
    assert me["email"] == "alice@example.com"
    assert _refresh_calls(tesla_sandbox) == 1


@pytest.mark.django_db
def test_a_401_triggers_one_refresh_and_one_retry(owner_client, owner, tesla_apps, tesla_sandbox):
    row = _linked(owner_client, owner)
    tesla_sandbox.control.fault("/api/1/users/me", status=401, body={"error": "x"}, count=1)
    me = services.link_fleet_call(link=row, call=lambda client: client.me())
    assert me["email"] == "alice@example.com"
    assert _refresh_calls(tesla_sandbox) == 1


@pytest.mark.django_db
def test_a_persistent_401_is_not_a_loop(owner_client, owner, tesla_apps, tesla_sandbox):
    row = _linked(owner_client, owner)
    tesla_sandbox.control.clear_requests()
    tesla_sandbox.control.fault("/api/1/users/me", status=401, body={"error": "x"})
    with pytest.raises(Unauthorized):
        services.link_fleet_call(link=row, call=lambda client: client.me())
    assert _refresh_calls(tesla_sandbox) == 1
    assert len(tesla_sandbox.control.requests("/fleet/na/api/1/users/me")) == 2


@pytest.mark.django_db
def test_a_broken_link_makes_no_fleet_call(owner_client, owner, tesla_apps, tesla_sandbox):
    row = _linked(owner_client, owner)
    TeslaLink.objects.filter(pk=row.pk).update(health=TeslaLink.Health.NEEDS_RELINK)
    row.refresh_from_db()
    tesla_sandbox.control.clear_requests()
    with pytest.raises(services.LinkBroken):
        services.link_fleet_call(link=row, call=lambda client: client.me())
    assert tesla_sandbox.control.requests() == []


@pytest.mark.django_db
def test_a_421_re_route_is_remembered(owner_client, owner, tesla_apps, tesla_sandbox):
    row = _linked(owner_client, owner)
    TeslaLink.objects.filter(pk=row.pk).update(
        fleet_api_base_url=tesla_sandbox.fleet("eu"), region="EU"
    )
    row.refresh_from_db()
    services.link_fleet_call(link=row, call=lambda client: client.me())
    row.refresh_from_db()
    assert row.fleet_api_base_url == tesla_sandbox.fleet("na") and row.region == "NA"


@pytest.mark.django_db
def test_a_fleet_call_in_the_links_own_region_writes_nothing_to_the_link(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    row = _linked(owner_client, owner)
    with CaptureQueriesContext(connection) as queries:
        services.link_fleet_call(link=row, call=lambda client: client.me())
    table = TeslaLink._meta.db_table
    assert [q["sql"] for q in queries.captured_queries if table in q["sql"]] == []


@pytest.mark.django_db
def test_staff_status_page_shows_health_refreshes_and_next_due(
    client, staff_with, owner_client, owner, tesla_apps
):
    row = _linked(owner_client, owner)
    services.link_refresh_tokens(link_id=row.pk, force=True)
    client.force_login(staff_with("accounts.view_link_status"))
    html = client.get(reverse("link_status")).content.decode()
    assert 'data-health="ok">1<' in html
    assert 'data-outcome="ok">1<' in html
    assert "Next due refresh" in html


def test_status_page_needs_the_link_status_permission(owner_client, client, staff):
    assert owner_client.get(reverse("link_status")).status_code == 403
    client.force_login(staff)  # staff, but without accounts.view_link_status
    assert client.get(reverse("link_status")).status_code == 403


@pytest.mark.django_db
def test_a_failed_refresh_writes_health_not_the_token_pair(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    row = _linked(owner_client, owner)
    _make_due(row)
    tesla_sandbox.control.fault("token", status=503, body={"error": "unavailable"}, count=1)
    with CaptureQueriesContext(connection) as failed, pytest.raises(TransientOAuthError):
        services.link_refresh_tokens(link_id=row.pk)
    with CaptureQueriesContext(connection) as refreshed:
        assert services.link_refresh_tokens(link_id=row.pk) == "refreshed"

    def link_updates(ctx) -> list[str]:
        return [
            q["sql"]
            for q in ctx.captured_queries
            # The UPDATEs that set health (the claim's only filters on it); on PostgreSQL the
            # stored pair's UPDATE sits in a WITH statement that also records the attempt.
            if 'UPDATE "accounts_teslalink"' in q["sql"] and '"health" = ' in q["sql"]
        ]

    [failed_update] = link_updates(failed)
    assert '"access_token"' not in failed_update and '"refresh_token"' not in failed_update
    [stored_update] = link_updates(refreshed)
    assert '"access_token"' in stored_update and '"refresh_token"' in stored_update
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.health == TeslaLink.Health.OK and stored.token_version == row.token_version + 1


# --- what Tesla's answer writes (issue 20) -------------------------------------------------


def _answer(
    row: TeslaLink,
    *,
    refresh_token: str | None,
    expires_in: int,
    scopes: tuple[str, ...] | None = None,
):
    """A token answer for the link's chain: a real access token the sandbox issued, with the
    refresh token and lifetime the test gives, and its scopes (`scp`) when given."""
    from teslafleet import oauth

    access = TeslaLink.objects.get(pk=row.pk).access_token
    claims = oauth.decode_claims(access)
    return oauth.TokenSet(
        access_token=access,
        refresh_token=refresh_token,
        id_token=None,
        expires_in=expires_in,
        token_type="Bearer",
        scope=None,
        claims=claims if scopes is None else dataclasses.replace(claims, scp=scopes),
    )


def _store(row: TeslaLink, tokens) -> str:
    [lease] = services._refresh_claim_at_once(link_ids=[row.pk], force=True).values()
    return services._refresh_record(
        link_id=row.pk, lease=lease, tokens=tokens, failure=None, duration_ms=1
    )


@pytest.mark.django_db(transaction=True)
def test_an_answer_without_a_refresh_token_keeps_the_stored_one(owner_client, owner, tesla_apps):
    row = _linked(owner_client, owner)
    stored_before = TeslaLink.objects.get(pk=row.pk)
    assert _store(row, _answer(row, refresh_token=None, expires_in=28800)) == "refreshed"
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.refresh_token == stored_before.refresh_token
    assert stored.refresh_token_issued_at == stored_before.refresh_token_issued_at
    assert stored.token_version == stored_before.token_version + 1
    assert stored.health == TeslaLink.Health.OK
    assert (stored.refresh_lease_token, stored.refresh_lease_until) == ("", None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("expires_in", [600, 3600, 28800])
@pytest.mark.parametrize("refresh_token", ["NA_new", None])  # one-statement path, locked path
def test_the_answers_lifetime_is_the_stored_expiry(
    owner_client, owner, tesla_apps, expires_in, refresh_token
):
    row = _linked(owner_client, owner)
    kept = TeslaLink.objects.get(pk=row.pk).refresh_token
    before = timezone.now()
    answer = _answer(row, refresh_token=refresh_token, expires_in=expires_in)
    assert _store(row, answer) == "refreshed"
    stored = TeslaLink.objects.get(pk=row.pk)
    lifetime = dt.timedelta(seconds=expires_in)
    assert before + lifetime <= stored.access_token_expires_at <= timezone.now() + lifetime
    assert stored.refresh_token == (refresh_token or kept)
    attempt = RefreshAttempt.objects.get()
    assert (attempt.link_id, attempt.outcome, attempt.error, attempt.duration_ms) == (
        row.pk,
        RefreshAttempt.Outcome.OK,
        "",
        1,
    )


@pytest.mark.django_db(transaction=True)
def test_a_lease_outlasts_the_longest_token_call_by_fifteen_seconds(
    owner_client, owner, tesla_apps, settings, monkeypatch
):
    # A live holder keeps its lease to the end of its token call (connect + read timeouts);
    # one that died lets it lapse soon after.
    row = _linked(owner_client, owner)
    settings.TESLA_HTTP_TIMEOUT = (5.0, 20.0)
    now = timezone.now()
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: now))  # a still clock
    [lease] = services._refresh_claim_at_once(link_ids=[row.pk], force=True).values()
    assert lease.until == now + dt.timedelta(seconds=5 + 20 + 15)
    assert TeslaLink.objects.get(pk=row.pk).refresh_lease_until == lease.until


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refresh_token", ["NA_new", None])  # one-statement path, locked path
def test_a_refresh_with_narrower_scopes_stores_them(owner_client, owner, tesla_apps, refresh_token):
    # A user who narrowed consent at Tesla: the new access token carries fewer scopes (§2.4).
    row = _linked(owner_client, owner)
    wider = TeslaLink.objects.get(pk=row.pk).scopes
    narrower = ("openid", "offline_access", "vehicle_device_data")
    assert set(narrower) < set(wider)
    answer = _answer(row, refresh_token=refresh_token, expires_in=28800, scopes=narrower)
    assert _store(row, answer) == "refreshed"
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.scopes == list(narrower)
    assert stored.health == TeslaLink.Health.OK


@pytest.mark.django_db(transaction=True)
def test_a_refresh_without_any_required_scope_needs_a_relink_naming_them_all(
    owner_client, owner, tesla_apps
):
    row = _linked(owner_client, owner)
    answer = _answer(row, refresh_token="NA_new", expires_in=28800, scopes=("user_data",))
    assert _store(row, answer) == "refreshed"
    stored = TeslaLink.objects.get(pk=row.pk)
    assert (stored.refresh_token, stored.scopes) == ("NA_new", ["user_data"])
    assert stored.health == TeslaLink.Health.NEEDS_RELINK
    assert stored.health_reason == "missing_scopes:openid,offline_access,vehicle_device_data"


@pytest.mark.django_db(transaction=True)
def test_a_healthy_refresh_is_stored_without_reading_the_link(owner_client, owner, tesla_apps):
    # The refresh threads store every link's answer: the common case (a new refresh token,
    # every required scope) is one conditional UPDATE and the attempt's INSERT, no SELECT.
    row = _linked(owner_client, owner)
    answer = _answer(row, refresh_token="NA_new", expires_in=28800)
    [lease] = services._refresh_claim_at_once(link_ids=[row.pk], force=True).values()
    with CaptureQueriesContext(connection) as queries:
        outcome = services._refresh_record(
            link_id=row.pk, lease=lease, tokens=answer, failure=None, duration_ms=1
        )
    assert outcome == "refreshed"
    # (On PostgreSQL the two are one statement: WITH stored AS (UPDATE …) INSERT ….)
    first_words = [q["sql"].split(None, 1)[0].upper() for q in queries.captured_queries]
    assert "SELECT" not in first_words
    assert TeslaLink.objects.get(pk=row.pk).refresh_token == "NA_new"


@pytest.mark.django_db(transaction=True)
def test_a_china_link_refreshes_at_the_china_server_with_the_china_app(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    link(owner_client, "wei@example.cn", provider="tesla_cn")
    row = TeslaLink.objects.get(user=owner)
    assert row.auth_server == "cn"
    tesla_sandbox.control.clear_requests()
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "refreshed"
    [call] = [r for r in tesla_sandbox.control.requests() if r.get("grant_type")]
    assert (call["grant_type"], call["client_id"]) == (
        "refresh_token",
        tesla_apps["cn"]["client_id"],
    )
    assert TeslaLink.objects.get(pk=row.pk).refresh_token != row.refresh_token


@pytest.mark.django_db(transaction=True)
def test_a_refresh_gives_up_at_the_configured_read_timeout(
    owner_client, owner, tesla_apps, tesla_sandbox, settings
):
    # The token call goes through the thread's kept session, which carries the operator's
    # timeouts and CA bundle (fleetportal/tesla.py), not a default one.
    row = _linked(owner_client, owner)
    settings.TESLA_HTTP_TIMEOUT = (5.0, 0.2)
    tesla_sandbox.control.latency(1.0)
    with pytest.raises(TransientOAuthError):
        services.link_refresh_tokens(link_id=row.pk, force=True)
    attempt = RefreshAttempt.objects.get()
    assert attempt.outcome == RefreshAttempt.Outcome.RETRIED
    assert TeslaLink.objects.get(pk=row.pk).health == TeslaLink.Health.RETRYING


@pytest.mark.django_db(transaction=True)
def test_a_refresh_records_how_long_the_token_call_took(
    owner_client, owner, tesla_apps, monkeypatch
):
    row = _linked(owner_client, owner)
    clock = iter([100.0, 102.5])  # the token call starts, Tesla has answered
    monkeypatch.setattr(services, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "refreshed"
    assert RefreshAttempt.objects.get().duration_ms == 2500


@pytest.mark.django_db(transaction=True)
def test_link_store_refuses_a_tesla_account_linked_to_another_user_and_leaves_it(
    owner_client, owner, other_user, tesla_apps
):
    row = _linked(owner_client, owner)
    held = TeslaLink.objects.get(pk=row.pk)
    profile = {
        "auth_server": held.auth_server,
        "sub": held.subject,
        "region": "EU",
        "fleet_api_base_url": "https://fleet-api.prd.eu.vn.cloud.tesla.com",
        "scopes": held.scopes,
    }
    with pytest.raises(services.LinkOwnedByAnotherUser):
        services.link_store(
            user=other_user,
            profile=profile,
            access_token="other-access",
            refresh_token="other-refresh",
            expires_at=None,
        )
    after = TeslaLink.objects.get(pk=row.pk)
    assert after.user_id == owner.pk
    assert (after.access_token, after.refresh_token) == (held.access_token, held.refresh_token)
    assert (after.region, after.token_version) == (held.region, held.token_version)


@pytest.mark.django_db(transaction=True)
def test_a_relink_starts_a_new_version_so_a_queued_refresh_is_superseded(
    owner_client, owner, tesla_apps
):
    row = _linked(owner_client, owner)
    queued_for = TeslaLink.objects.get(pk=row.pk).token_version
    _linked(owner_client, owner)  # the owner links the same Tesla account again
    relinked = TeslaLink.objects.get(pk=row.pk)
    assert relinked.token_version > queued_for
    outcome = services.link_refresh_tokens(link_id=row.pk, expected_version=queued_for, force=True)
    assert outcome == "superseded"
    assert TeslaLink.objects.get(pk=row.pk).refresh_token == relinked.refresh_token


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql",
    reason="row locks held across threads need PostgreSQL (SQLite serialises writers)",
)
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_claim_disjoint_links_without_waiting(owner_client, owner, tesla_apps):
    rows = [
        _linked(owner_client, owner, email) for email in ("alice@example.com", "erika@example.de")
    ]
    for row in rows:
        _make_due(row)
    first_claimed, release, second = threading.Event(), threading.Event(), {}

    def first_sweep() -> None:
        # A sweep whose transaction is still open: its claimed rows stay locked.
        from django.db import transaction

        try:
            with transaction.atomic():
                second["first"] = services.links_claim_due(limit=1)
                first_claimed.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=first_sweep)
    holder.start()
    try:
        assert first_claimed.wait(10)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # skip_locked: the second sweep passes the locked row by instead of waiting on it.
            other = pool.submit(lambda: (services.links_claim_due(), connections.close_all())[0])
            second["second"] = other.result(timeout=5)
    finally:
        release.set()
        holder.join(10)
    assert len(second["first"]) == 1 and len(second["second"]) == 1
    assert sorted(second["first"] + second["second"]) == sorted(r.pk for r in rows)


@pytest.mark.skipif(
    connections["default"].vendor != "postgresql",
    reason="row locks held across threads need PostgreSQL (SQLite serialises writers)",
)
@pytest.mark.django_db(transaction=True)
def test_a_relink_during_a_refresh_waits_for_it_and_starts_after_it(
    owner_client, owner, tesla_apps
):
    """link_store locks the row: a relink that arrives while a refresh holds the link reads
    the refreshed row once the refresh commits, so its new chain comes after the refresh's
    version (a relink reading the row unlocked would write the same version the refresh did,
    and a refresh queued against that version would not be superseded)."""
    from django.db import transaction

    row = _linked(owner_client, owner)
    start = TeslaLink.objects.get(pk=row.pk)
    refreshing, done = threading.Event(), threading.Event()

    def refresh_holding_the_row() -> None:
        try:
            with transaction.atomic():
                held = TeslaLink.objects.select_for_update().get(pk=row.pk)
                services._pair_store(
                    held,
                    access_token="refreshed-access",
                    refresh_token="refreshed-refresh",
                    expires_at=None,
                    scopes=[],
                    now=timezone.now(),
                    new_chain=False,
                )
                held.save()
                refreshing.set()
                done.wait(1.0)  # the relink arrives while this holds the row
        finally:
            connections.close_all()

    holder = threading.Thread(target=refresh_holding_the_row)
    holder.start()
    try:
        assert refreshing.wait(10)
        profile = {
            "auth_server": start.auth_server,
            "sub": start.subject,
            "region": start.region,
            "fleet_api_base_url": start.fleet_api_base_url,
            "scopes": start.scopes,
        }
        with ThreadPoolExecutor(max_workers=1) as pool:
            relinked = pool.submit(
                lambda: (
                    services.link_store(
                        user=owner,
                        profile=profile,
                        access_token="relinked-access",
                        refresh_token="relinked-refresh",
                        expires_at=None,
                    ),
                    connections.close_all(),
                )[0]
            ).result(timeout=10)
    finally:
        done.set()
        holder.join(10)
    final = TeslaLink.objects.get(pk=row.pk)
    assert (final.access_token, final.refresh_token) == ("relinked-access", "relinked-refresh")
    assert final.token_version == relinked.token_version == start.token_version + 2


@pytest.mark.django_db
def test_a_broken_links_error_words_its_stored_reason(owner_client, owner, tesla_apps):
    row = _linked(owner_client, owner)
    TeslaLink.objects.filter(pk=row.pk).update(
        health=TeslaLink.Health.NEEDS_RELINK, health_reason="missing_scopes:vehicle_device_data"
    )
    row.refresh_from_db()
    with pytest.raises(services.LinkBroken) as raised:
        services.link_fleet_call(link=row, call=lambda client: client.me())
    assert raised.value.reason == "missing_scopes:vehicle_device_data"
    assert "(missing: vehicle_device_data)" in str(raised.value)


# --- the other writes of accounts.services ---------------------------------------------------


@pytest.mark.django_db
def test_clearing_sessions_deletes_only_the_expired_ones():
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    now = timezone.now()
    for key, expires in (("expired1", -60), ("expired2", -1), ("live", 60)):
        Session.objects.create(
            session_key=f"{key}".ljust(32, "x"),
            session_data=SessionStore().encode({}),
            expire_date=now + dt.timedelta(seconds=expires),
        )
    assert services.sessions_clear_expired() == 2
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live".ljust(32, "x")]


def test_a_broken_links_error_survives_a_round_trip_through_pickle():
    # Celery carries a task's exception to its caller pickled: the reason must come through.
    import pickle

    error = pickle.loads(pickle.dumps(services.LinkBroken("missing_scopes:openid")))  # noqa: S301
    assert error.reason == "missing_scopes:openid"
    assert error.args == ("missing_scopes:openid",)


@pytest.mark.django_db
def test_a_sweep_claims_a_link_again_once_its_queued_mark_is_stale(owner_client, owner, tesla_apps):
    lost = _linked(owner_client, owner, "alice@example.com")
    recent = _linked(owner_client, owner, "erika@example.de")
    for row in (lost, recent):
        _make_due(row)
    now = timezone.now()
    # The lost task's mark is past the 15 minute window; the other task may still run.
    TeslaLink.objects.filter(pk=lost.pk).update(refresh_queued_at=now - dt.timedelta(minutes=15.5))
    TeslaLink.objects.filter(pk=recent.pk).update(
        refresh_queued_at=now - dt.timedelta(minutes=14.5)
    )
    assert services.links_claim_due() == [lost.pk]
    assert TeslaLink.objects.get(pk=lost.pk).refresh_queued_at >= now


@pytest.mark.django_db
def test_a_sweep_leaves_a_link_without_a_refresh_token(owner_client, owner, tesla_apps):
    row = _linked(owner_client, owner)
    _make_due(row)
    TeslaLink.objects.filter(pk=row.pk).update(refresh_token="")
    assert services.links_claim_due() == []
    assert TeslaLink.objects.get(pk=row.pk).refresh_queued_at is None


@pytest.mark.django_db
def test_a_re_routed_link_sends_its_next_call_to_the_new_region(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    row = _linked(owner_client, owner)
    TeslaLink.objects.filter(pk=row.pk).update(
        fleet_api_base_url=tesla_sandbox.fleet("eu"), region="EU"
    )
    row.refresh_from_db()
    services.link_fleet_call(link=row, call=lambda client: client.me())
    assert row.fleet_api_base_url == tesla_sandbox.fleet("na")
    tesla_sandbox.control.clear_requests()
    services.link_fleet_call(link=row, call=lambda client: client.me())
    assert [r["path"] for r in tesla_sandbox.control.requests()] == ["/fleet/na/api/1/users/me"]


@pytest.mark.django_db
def test_a_fleet_call_on_a_link_refreshed_meanwhile_uses_that_pair_without_refreshing_again(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    stale = _linked(owner_client, owner)
    assert services.link_refresh_tokens(link_id=stale.pk, force=True) == "refreshed"
    # This copy was read before that refresh and says its token is expiring.
    stale.access_token_expires_at = timezone.now()
    me = services.link_fleet_call(link=stale, call=lambda client: client.me())
    assert me["email"] == "alice@example.com"
    assert _refresh_calls(tesla_sandbox) == 1
    assert stale.token_version == TeslaLink.objects.get(pk=stale.pk).token_version


@pytest.mark.django_db
def test_a_401_on_a_link_refreshed_meanwhile_retries_with_that_pair_without_refreshing_again(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    stale = _linked(owner_client, owner)
    assert services.link_refresh_tokens(link_id=stale.pk, force=True) == "refreshed"
    tesla_sandbox.control.fault("/api/1/users/me", status=401, body={"error": "x"}, count=1)
    me = services.link_fleet_call(link=stale, call=lambda client: client.me())
    assert me["email"] == "alice@example.com"
    assert _refresh_calls(tesla_sandbox) == 1


@pytest.mark.django_db
def test_a_fleet_call_refreshes_a_token_expiring_within_a_minute_whatever_the_sweeps_margin(
    owner_client, owner, tesla_apps, tesla_sandbox, settings
):
    settings.TESLA_REFRESH_MARGIN_SECONDS = 10
    row = _linked(owner_client, owner)
    TeslaLink.objects.filter(pk=row.pk).update(
        access_token_expires_at=timezone.now() + dt.timedelta(seconds=30)
    )
    row.refresh_from_db()
    services.link_fleet_call(link=row, call=lambda client: client.me())
    assert _refresh_calls(tesla_sandbox) == 1
    assert row.access_token_expires_at > timezone.now() + dt.timedelta(hours=7)


@pytest.mark.django_db
def test_a_401_whose_refresh_is_refused_says_why_the_link_broke(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    row = _linked(owner_client, owner)
    tesla_sandbox.control.revoke_consent("alice@example.com", tesla_apps["global"]["client_id"])
    tesla_sandbox.control.fault("/api/1/users/me", status=401, body={"error": "x"}, count=1)
    with pytest.raises(services.LinkBroken) as raised:
        services.link_fleet_call(link=row, call=lambda client: client.me())
    assert raised.value.reason == TeslaLink.objects.get(pk=row.pk).health_reason
    assert raised.value.reason.startswith("refused:")


@pytest.mark.django_db
def test_a_sweep_claims_at_most_its_batch_the_soonest_expiring_first(
    owner_client, owner, tesla_apps, settings
):
    later = _linked(owner_client, owner, "alice@example.com")
    sooner = _linked(owner_client, owner, "erika@example.de")
    _make_due(later, minutes=20)
    _make_due(sooner, minutes=5)
    settings.TESLA_REFRESH_BATCH = 1
    assert services.links_claim_due() == [sooner.pk]
    settings.TESLA_REFRESH_BATCH = 500
    TeslaLink.objects.update(refresh_queued_at=None)
    assert services.links_claim_due(limit=1) == [sooner.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(("left", "refreshed"), [(60, 1), (60.5, 0)])
def test_a_fleet_call_refreshes_first_when_a_minute_or_less_is_left(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch, left, refreshed
):
    from types import SimpleNamespace

    row = _linked(owner_client, owner)
    now = timezone.now()
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: now))  # a still clock
    TeslaLink.objects.filter(pk=row.pk).update(
        access_token_expires_at=now + dt.timedelta(seconds=left)
    )
    row.refresh_from_db()
    services.link_fleet_call(link=row, call=lambda client: client.me())
    assert _refresh_calls(tesla_sandbox) == refreshed


@pytest.mark.django_db
def test_a_queued_link_found_fresh_loses_its_queued_mark(owner_client, owner, tesla_apps):
    row = _linked(owner_client, owner)
    TeslaLink.objects.filter(pk=row.pk).update(refresh_queued_at=timezone.now())
    assert services.link_refresh_tokens(link_id=row.pk) == "fresh"
    assert TeslaLink.objects.get(pk=row.pk).refresh_queued_at is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refresh_token", ["NA_new", None])
def test_an_answer_without_a_lifetime_is_taken_to_last_eight_hours(
    owner_client, owner, tesla_apps, monkeypatch, refresh_token
):
    from types import SimpleNamespace

    row = _linked(owner_client, owner)
    now = timezone.now()
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: now))  # a still clock
    # With a new refresh token the one-statement path stores it; without, the locked one.
    answer = _answer(row, refresh_token=refresh_token, expires_in=0)
    assert _store(row, answer) == "refreshed"
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.access_token_expires_at == now + dt.timedelta(hours=8)
    assert stored.last_refreshed_at == now


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "reason", "recorded"),
    [
        ({}, "refused:400", "400"),  # no error code: the status says what went wrong
        ({"error": "e" * 150}, "refused:" + "e" * 150, "e" * 100),  # the record keeps 100
    ],
)
def test_a_refused_refresh_records_tesla_s_error_or_its_status(
    owner_client, owner, tesla_apps, tesla_sandbox, body, reason, recorded
):
    row = _linked(owner_client, owner)
    tesla_sandbox.control.fault("token", status=400, body=body, count=1)
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "broken"
    stored = TeslaLink.objects.get(pk=row.pk)
    assert (stored.health, stored.health_reason) == (TeslaLink.Health.NEEDS_RELINK, reason)
    attempt = RefreshAttempt.objects.get()
    assert (attempt.outcome, attempt.error) == (RefreshAttempt.Outcome.FAILED, recorded)


@pytest.mark.django_db
def test_a_transient_failure_records_what_tesla_answered(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    row = _linked(owner_client, owner)
    tesla_sandbox.control.fault("token", status=503, body={"error": "server_error"}, count=1)
    with pytest.raises(TransientOAuthError):
        services.link_refresh_tokens(link_id=row.pk, force=True)
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.health_reason.startswith("unavailable:Tesla token endpoint answered 503")
    attempt = RefreshAttempt.objects.get()
    assert (attempt.outcome, attempt.error) == (RefreshAttempt.Outcome.RETRIED, "server_error")


@pytest.mark.django_db
def test_an_answer_for_a_link_unlinked_meanwhile_is_dropped(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch
):
    from teslafleet import oauth

    row = _linked(owner_client, owner)
    real = oauth.refresh

    def unlinked_during_the_call(*args, **kwargs):
        services.link_unlink(link=TeslaLink.objects.get(pk=row.pk))
        return real(*args, **kwargs)

    monkeypatch.setattr(oauth, "refresh", unlinked_during_the_call)
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "superseded"
    assert not TeslaLink.objects.filter(pk=row.pk).exists()
    assert not RefreshAttempt.objects.exists()


@pytest.mark.django_db
def test_an_expired_link_whose_refresh_is_refused_makes_no_fleet_call(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    row = _linked(owner_client, owner)
    tesla_sandbox.control.revoke_consent("alice@example.com", tesla_apps["global"]["client_id"])
    TeslaLink.objects.filter(pk=row.pk).update(access_token_expires_at=timezone.now())
    row.refresh_from_db()
    tesla_sandbox.control.clear_requests()
    with pytest.raises(services.LinkBroken) as raised:
        services.link_fleet_call(link=row, call=lambda client: client.me())
    assert raised.value.reason.startswith("refused:")
    assert tesla_sandbox.control.requests("/fleet/na/api/1/users/me") == []


@pytest.mark.django_db
def test_a_fleet_calls_client_is_closed_even_when_the_call_fails(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch
):
    from teslafleet.fleet import FleetClient

    row = _linked(owner_client, owner)
    closed = []
    real_close = FleetClient.close
    monkeypatch.setattr(FleetClient, "close", lambda self: (closed.append(1), real_close(self)))
    tesla_sandbox.control.fault("/api/1/users/me", status=401, body={"error": "x"})
    with pytest.raises(Unauthorized):
        services.link_fleet_call(link=row, call=lambda client: client.me())
    assert len(closed) == 2  # the call and its one retry
