"""The batch refresh: the sweep hands out chunks, a worker refreshes a chunk on its kept
threads; single flight, retries and crash recovery hold as for one link, and the worker keeps
its database connections between tasks."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading

import pytest
import requests
from celery.signals import task_postrun, task_prerun
from django.db import connection, connections
from django.utils import timezone

from accounts import services, tasks
from accounts.models import RefreshAttempt, TeslaLink
from accounts.tests.tesla_flow import link
from accounts.tests.worker_process import (
    children,
    database_url,
    needs_postgres_and_redis,
    wait,
    worker_process,
)
from fleetportal import tesla, workers
from teslafleet import oauth

EMAILS = ("alice@example.com", "erika@example.de", "bob@example.com")


def _refresh_calls(sandbox) -> int:
    return sum(1 for r in sandbox.control.requests() if r.get("grant_type") == "refresh_token")


def _due_links(owner_client, owner, emails=EMAILS) -> list[TeslaLink]:
    for email in emails:
        link(owner_client, email)
    rows = list(TeslaLink.objects.filter(user=owner).order_by("pk"))
    TeslaLink.objects.filter(pk__in=[r.pk for r in rows]).update(
        access_token_expires_at=timezone.now() + dt.timedelta(minutes=5)
    )
    return rows


@pytest.mark.django_db(transaction=True)
def test_a_chunk_refreshes_each_due_link_once_on_the_kept_threads(
    owner_client, owner, tesla_apps, tesla_sandbox, settings
):
    settings.TESLA_REFRESH_THREADS = 3
    rows = _due_links(owner_client, owner)
    link(owner_client, "nora@example.com")
    fresh = TeslaLink.objects.get(email="nora@example.com")
    seen_threads = []
    original = oauth.refresh

    def watched(*args, **kwargs):
        seen_threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    oauth.refresh = watched
    try:
        results = services.links_refresh_batch(link_ids=[r.pk for r in rows] + [fresh.pk])
    finally:
        oauth.refresh = original
    assert [(r.link_id, r.outcome) for r in results] == [
        *[(r.pk, "refreshed") for r in rows],
        (fresh.pk, "fresh"),
    ]
    assert _refresh_calls(tesla_sandbox) == 3
    assert len(seen_threads) == 3 and all(name.startswith("tesla-") for name in seen_threads)
    for row in rows:
        stored = TeslaLink.objects.get(pk=row.pk)
        assert stored.token_version == row.token_version + 1
        assert stored.health == TeslaLink.Health.OK
        assert stored.refresh_token != row.refresh_token


@pytest.mark.django_db(transaction=True)
def test_one_link_twice_in_a_chunk_is_refreshed_once(
    owner_client, owner, tesla_apps, tesla_sandbox, settings
):
    # Single flight across the pool's threads: the copies wait on the first one's lease,
    # then find the new pair and send nothing.
    settings.TESLA_REFRESH_THREADS = 4
    [row] = _due_links(owner_client, owner, emails=EMAILS[:1])
    tesla_sandbox.control.fault("token", latency=0.5, count=1)
    results = services.links_refresh_batch(link_ids=[row.pk] * 4)
    assert sorted(r.outcome for r in results) == ["fresh", "fresh", "fresh", "refreshed"]
    assert _refresh_calls(tesla_sandbox) == 1
    assert TeslaLink.objects.get(pk=row.pk).token_version == row.token_version + 1


@pytest.mark.django_db(transaction=True)
def test_a_link_leased_elsewhere_waits_for_that_refresher_and_sends_nothing(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    # The chunk claims what it can at once; a link another refresher holds goes the one-link
    # way, which waits for that lease and then finds the link fresh.
    leased, free = _due_links(owner_client, owner, emails=EMAILS[:2])
    TeslaLink.objects.filter(pk=leased.pk).update(
        refresh_lease_token="someone-else",
        refresh_lease_until=timezone.now() + dt.timedelta(seconds=30),
    )

    def the_other_refresher_finishes():
        TeslaLink.objects.filter(pk=leased.pk).update(
            access_token_expires_at=timezone.now() + dt.timedelta(hours=8),
            refresh_lease_token="",
            refresh_lease_until=None,
        )
        connection.close()

    finisher = threading.Timer(0.5, the_other_refresher_finishes)
    finisher.start()
    try:
        results = services.links_refresh_batch(link_ids=[leased.pk, free.pk])
    finally:
        finisher.join()
    assert [(r.link_id, r.outcome) for r in results] == [
        (leased.pk, "fresh"),
        (free.pk, "refreshed"),
    ]
    assert _refresh_calls(tesla_sandbox) == 1
    assert TeslaLink.objects.get(pk=leased.pk).token_version == leased.token_version


@pytest.mark.django_db(transaction=True)
def test_a_chunks_leases_last_a_few_turns_and_a_late_turn_claims_its_link_anew(
    owner_client, owner, tesla_apps, tesla_sandbox, settings, monkeypatch
):
    settings.TESLA_REFRESH_THREADS = 1
    rows = _due_links(owner_client, owner)
    started = timezone.now()
    leases = services._refresh_claim_at_once(link_ids=[r.pk for r in rows] * 3)
    assert sorted(leases) == sorted(r.pk for r in rows)
    # Nine turns on one thread, but a lease lasts at most MAX_LEASE_TURNS of them.
    longest = services._lease_duration() * services.MAX_LEASE_TURNS
    for row in rows:
        until = TeslaLink.objects.get(pk=row.pk).refresh_lease_until
        assert started + longest - dt.timedelta(seconds=1) <= until <= timezone.now() + longest
    TeslaLink.objects.filter(pk__in=[r.pk for r in rows]).update(
        refresh_lease_token="", refresh_lease_until=None
    )
    # A turn whose lease would run out during its token call gives the lease up and claims
    # the link as one link does: still one call each.
    monkeypatch.setattr(services, "_lease_duration", lambda: dt.timedelta(milliseconds=1))
    given_up = []
    real_release = services._lease_release

    def releasing(*, link_id, lease):
        given_up.append(link_id)
        return real_release(link_id=link_id, lease=lease)

    monkeypatch.setattr(services, "_lease_release", releasing)
    results = services.links_refresh_batch(link_ids=[r.pk for r in rows])
    assert [r.outcome for r in results] == ["refreshed"] * 3
    assert sorted(given_up) == sorted(r.pk for r in rows)
    assert _refresh_calls(tesla_sandbox) == 3
    for row in rows:
        stored = TeslaLink.objects.get(pk=row.pk)
        assert stored.token_version == row.token_version + 1
        assert (stored.refresh_lease_token, stored.refresh_lease_until) == ("", None)


@pytest.mark.django_db(transaction=True)
def test_a_refresh_heals_a_retrying_link_and_keeps_a_healthy_links_health_date(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    healthy, retrying = _due_links(owner_client, owner, emails=EMAILS[:2])
    long_ago = timezone.now() - dt.timedelta(days=3)
    TeslaLink.objects.filter(pk__in=[healthy.pk, retrying.pk]).update(health_changed_at=long_ago)
    TeslaLink.objects.filter(pk=retrying.pk).update(
        health=TeslaLink.Health.RETRYING, health_reason="Tesla unavailable"
    )
    results = services.links_refresh_batch(link_ids=[healthy.pk, retrying.pk])
    assert [r.outcome for r in results] == ["refreshed", "refreshed"]
    healed = TeslaLink.objects.get(pk=retrying.pk)
    assert (healed.health, healed.health_reason) == (TeslaLink.Health.OK, "")
    assert healed.health_changed_at > long_ago
    assert TeslaLink.objects.get(pk=healthy.pk).health_changed_at == long_ago
    for row in (healthy, retrying):
        stored = TeslaLink.objects.get(pk=row.pk)
        assert stored.access_token_expires_at > timezone.now() + dt.timedelta(hours=7)
        assert (stored.refresh_lease_token, stored.refresh_lease_until) == ("", None)
        assert stored.refresh_queued_at is None
        assert list(RefreshAttempt.objects.filter(link=row).values_list("outcome", flat=True)) == [
            RefreshAttempt.Outcome.OK
        ]


@pytest.mark.django_db(transaction=True)
def test_a_refreshed_token_without_a_required_scope_needs_a_relink_naming_it(
    owner_client, owner, tesla_apps, tesla_sandbox, settings
):
    [row] = _due_links(owner_client, owner, emails=EMAILS[:1])
    settings.TESLA_REQUIRED_SCOPES = [*settings.TESLA_REQUIRED_SCOPES, "vehicle_cmds"]
    [result] = services.links_refresh_batch(link_ids=[row.pk])
    assert result.outcome == "refreshed"  # the new pair is kept: Tesla rotated the old one
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.token_version == row.token_version + 1
    assert stored.refresh_token != row.refresh_token
    assert stored.health == TeslaLink.Health.NEEDS_RELINK
    assert stored.health_reason == "missing_scopes:vehicle_cmds"


@pytest.mark.django_db(transaction=True)
def test_a_transient_failure_comes_back_for_the_one_link_path_with_retry_after(
    owner_client, owner, tesla_apps, tesla_sandbox
):
    rows = _due_links(owner_client, owner, emails=EMAILS[:2])
    tesla_sandbox.control.fault(
        "token", status=429, body={"error": "rate_limited"}, headers={"Retry-After": "7"}, count=1
    )
    results = {r.link_id: r for r in services.links_refresh_batch(link_ids=[r.pk for r in rows])}
    retried = [r for r in results.values() if r.outcome == "retry"]
    assert len(retried) == 1 and retried[0].retry_after == 7
    assert sorted(r.outcome for r in results.values()) == ["refreshed", "retry"]
    assert TeslaLink.objects.get(pk=retried[0].link_id).health == TeslaLink.Health.RETRYING


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_releases_the_lease_and_goes_to_the_one_link_path(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch, caplog
):
    [row] = _due_links(owner_client, owner, emails=EMAILS[:1])

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(oauth, "refresh", broken)
    caplog.set_level("ERROR", logger="fleetportal.workers")
    [result] = services.links_refresh_batch(link_ids=[row.pk])
    assert (result.outcome, result.retry_after) == ("retry", None)
    # The log names the work, the link and the error's class (never its text: it may hold a
    # token).
    assert f"refresh of link {row.pk} failed: RuntimeError" in caplog.messages
    stored = TeslaLink.objects.get(pk=row.pk)
    assert (stored.refresh_lease_token, stored.refresh_lease_until) == ("", None)
    assert stored.health == TeslaLink.Health.OK


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_sweep_queues_chunks_and_a_transient_failure_retries_as_one_link(
    owner_client, owner, tesla_apps, tesla_sandbox, settings
):
    from celery.contrib.testing.worker import start_worker

    from fleetportal.celery import app

    settings.TESLA_REFRESH_CHUNK = 2
    settings.TESLA_REFRESH_RETRY_CAP_SECONDS = 1
    rows = _due_links(owner_client, owner)
    tesla_sandbox.control.fault(
        "token", status=503, body={"error": "unavailable"}, headers={"Retry-After": "1"}, count=1
    )
    started: list[tuple[str, int]] = []
    finished = threading.Semaphore(0)

    ours = ("accounts.tasks.link_refresh", "accounts.tasks.links_refresh_chunk")

    def on_prerun(sender=None, task=None, **kwargs):
        if sender.name in ours:
            started.append((sender.name, task.request.retries))

    def on_postrun(sender=None, **kwargs):
        if sender.name in ours:
            finished.release()

    task_prerun.connect(on_prerun, weak=False)
    task_postrun.connect(on_postrun, weak=False)
    try:
        assert tasks.links_refresh_sweep() == 3
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False):
            # Two chunks (2 + 1 links), then the one-link task for the link that met the 503.
            for _ in range(3):
                assert finished.acquire(timeout=60), started
    finally:
        task_prerun.disconnect(on_prerun)
        task_postrun.disconnect(on_postrun)
    connections.close_all()
    assert sorted(started) == [
        ("accounts.tasks.link_refresh", 1),
        ("accounts.tasks.links_refresh_chunk", 0),
        ("accounts.tasks.links_refresh_chunk", 0),
    ]
    assert _refresh_calls(tesla_sandbox) == 4
    assert sorted(RefreshAttempt.objects.values_list("outcome", flat=True)) == [
        "ok",
        "ok",
        "ok",
        "retried",
    ]
    for row in rows:
        stored = TeslaLink.objects.get(pk=row.pk)
        assert stored.health == TeslaLink.Health.OK
        assert stored.token_version == row.token_version + 1


def test_a_thread_keeps_its_session_and_a_fork_or_another_thread_gets_its_own():
    first = tesla.http_session()
    assert tesla.http_session() is first
    other: list = []
    thread = threading.Thread(target=lambda: other.append(tesla.http_session()))
    thread.start()
    thread.join()
    assert other[0] is not first
    pid = os.fork()
    if pid == 0:  # the child: a session from before the fork would share its sockets
        os._exit(0 if tesla.http_session() is not first else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    tesla.http_sessions_close()
    assert tesla.http_session() is not first


@pytest.mark.django_db(transaction=True)
def test_kept_threads_keep_their_connections_until_the_pool_stops():
    pool = workers.KeptThreads(2, "closing-test")
    options = connection.settings_dict
    age = options["CONN_MAX_AGE"]
    options["CONN_MAX_AGE"] = 600  # what a worker sets (fleetportal.workers.keep_connections)

    def uses_the_database(_):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        wrapper = connections["default"]
        return threading.current_thread().name, wrapper, id(wrapper.connection)

    try:
        done = pool.map(uses_the_database, range(6)) + pool.map(uses_the_database, range(6))
    finally:
        options["CONN_MAX_AGE"] = age
    # Each thread kept one connection from one job (and one map) to the next.
    raw_by_thread: dict[str, set[int]] = {}
    for name, _, raw in (o.result for o in done):
        raw_by_thread.setdefault(name, set()).add(raw)
    assert 1 <= len(raw_by_thread) <= 2
    assert all(len(raws) == 1 for raws in raw_by_thread.values()), raw_by_thread
    wrappers = {o.result[1] for o in done}
    assert all(w.connection is not None for w in wrappers)
    pool.shutdown()
    assert all(w.connection is None for w in wrappers)


# --- a real worker process (PostgreSQL and Redis) ---------------------------------------------


def _backends(application_name: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s ORDER BY pid",
            [application_name],
        )
        return [pid for (pid,) in cursor.fetchall()]


@pytest.mark.worker
@needs_postgres_and_redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_across_tasks_and_replaces_a_dead_one(
    owner_client, owner, tesla_apps, tesla_sandbox, tmp_path
):
    rows = _due_links(owner_client, owner)
    name = f"fp-keep-{os.getpid()}"
    attempts = RefreshAttempt.objects.count

    with worker_process(
        tesla_sandbox,
        tmp_path / "worker.log",
        DATABASE_URL=database_url(application_name=name),
        WORKER_CONN_MAX_AGE="600",
    ):
        # One-link tasks use the database in the task's own thread, where Celery's Django
        # fix-up used to close the connection after every task.
        tasks.link_refresh.delay(rows[0].pk, force=True)
        wait(lambda: attempts() == 1, 60, "the first refresh")
        kept = _backends(name)
        assert len(kept) == 1, kept
        tasks.link_refresh.delay(rows[1].pk, force=True)
        wait(lambda: attempts() == 2, 60, "the second refresh")
        assert _backends(name) == kept

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", kept)
        wait(lambda: _backends(name) == [], 10, "the backend to go")
        # The health check finds the dead connection before the task uses it.
        tasks.link_refresh.delay(rows[2].pk, force=True)
        wait(lambda: attempts() == 3, 60, "the refresh after the backend died")
        replaced = _backends(name)
        assert len(replaced) == 1 and replaced != kept
    assert set(RefreshAttempt.objects.values_list("outcome", flat=True)) == {"ok"}


@pytest.mark.worker
@needs_postgres_and_redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_chunk_recovers_every_link(
    owner_client, owner, tesla_apps, tesla_sandbox, tmp_path
):
    rows = _due_links(owner_client, owner)
    # Tesla rotates every chain at once but holds its answers back: the worker is killed
    # while its threads wait, so all three new refresh tokens are lost.
    tesla_sandbox.control.fault("token", latency_after=60, count=3)
    with worker_process(
        tesla_sandbox, tmp_path / "worker.log", TESLA_REFRESH_THREADS="3", TESLA_REFRESH_CHUNK="3"
    ) as worker:
        assert tasks.links_refresh_sweep() == 3
        wait(lambda: _refresh_calls(tesla_sandbox) == 3, 60, "three token calls in flight")
        pool = children(worker.pid)
        assert len(pool) == 1, pool
        os.kill(pool[0], signal.SIGKILL)
        # reject_on_worker_lost hands the chunk back; once the leases lapse each link is
        # refreshed with its old refresh token, which Tesla honours for 24 hours.
        wait(
            lambda: all(
                TeslaLink.objects.get(pk=r.pk).token_version > r.token_version for r in rows
            ),
            120,
            "every link refreshed after the crash",
        )
    assert _refresh_calls(tesla_sandbox) == 6
    for row in rows:
        stored = TeslaLink.objects.get(pk=row.pk)
        assert stored.health == TeslaLink.Health.OK
        assert stored.refresh_token != row.refresh_token
        # The stored pair is the live end of the chain: the link is not broken.
        assert services.link_refresh_tokens(link_id=row.pk, force=True) == "refreshed"


def test_tesla_calls_trust_the_configured_ca_bundle_over_the_environments(
    settings, tmp_path, monkeypatch
):
    from sandbox.testing import running_sandbox
    from sandbox.tls import throwaway_ca

    files = throwaway_ca(tmp_path)
    # A machine-wide bundle without the sandbox's CA: requests would let it override
    # the session's own choice.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi_where())
    with running_sandbox(tls=files) as sandbox:
        status = f"{sandbox.url}/fleet/na/status"
        settings.TESLA_CA_BUNDLE = ""
        with pytest.raises(requests.exceptions.SSLError):
            tesla.http_session().get(status)
        settings.TESLA_CA_BUNDLE = str(files.ca)
        assert tesla.http_session().get(status).status_code == 200


def certifi_where() -> str:
    import certifi

    return certifi.where()


@pytest.mark.django_db(transaction=True)
def test_a_turn_whose_lease_just_outlasts_a_token_call_keeps_it(
    owner_client, owner, tesla_apps, tesla_sandbox, monkeypatch
):
    from types import SimpleNamespace

    [row] = _due_links(owner_client, owner, emails=EMAILS[:1])
    now = timezone.now()
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: now))  # a still clock
    monkeypatch.setattr(services, "_lease_duration", services._token_call_budget)
    monkeypatch.setattr(services, "_lease_release", lambda **kw: pytest.fail("gave it up"))
    [result] = services.links_refresh_batch(link_ids=[row.pk])
    assert result.outcome == "refreshed"
    assert _refresh_calls(tesla_sandbox) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("threads", "links", "turns"), [(2, 3, 2), (1, 2, 2), (8, 1, 1)])
def test_a_chunks_lease_lasts_one_token_call_per_turn_of_its_threads(
    owner_client, owner, tesla_apps, settings, monkeypatch, threads, links, turns
):
    from types import SimpleNamespace

    settings.TESLA_REFRESH_THREADS = threads
    rows = _due_links(owner_client, owner, emails=EMAILS[:links])
    now = timezone.now()
    monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda: now))  # a still clock
    leases = services._refresh_claim_at_once(link_ids=[r.pk for r in rows])
    assert sorted(leases) == [r.pk for r in rows]
    [token] = {lease.token for lease in leases.values()}
    assert len(token) == 32  # fits its column
    for row in rows:
        stored = TeslaLink.objects.get(pk=row.pk)
        assert stored.refresh_lease_token == token
        assert stored.refresh_lease_until == now + services._lease_duration() * turns
