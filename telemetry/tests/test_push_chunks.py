"""A push in chunks (issue 15): the run's links are queued TELEMETRY_PUSH_CHUNK to a task, a
worker pushes a chunk on its kept threads, each link once; a link that met a transient Tesla
error (or an unexpected one) goes on to the one-link task as its second try, and the run
still ends with its progress exact. Against the sandbox over HTTP, on a real worker."""

from __future__ import annotations

import threading
import time
from unittest import mock

import pytest
from celery.signals import task_prerun
from django.db import connections

from telemetry import services, tasks
from telemetry.models import TelemetryDeployment, TelemetryRun
from telemetry.services import push
from telemetry.tests.helpers import ALL, ASLEEP, GOOD, LEGACY, OLD_FW, SHARED, statuses
from telemetry.tests.test_push_cost import _one_link_per_car, _push
from teslafleet.fleet import FleetClient

JWS_ROUTE = "POST /api/1/vehicles/fleet_telemetry_config_jws"
# Each car on its own linked account: two updated, three skipped for their own reasons.
RECORDED = {
    GOOD: ("updated", ""),
    SHARED: ("updated", ""),
    ASLEEP: ("skipped", "missing_key"),
    LEGACY: ("skipped", "unsupported_hardware"),
    OLD_FW: ("skipped", "unsupported_firmware"),
}
OURS = (
    "telemetry.tasks.telemetry_push",
    "telemetry.tasks.telemetry_push_chunk",
    "telemetry.tasks.telemetry_push_link",
)


def _jws_calls(sandbox) -> int:
    return sandbox.control.counters()["fleet"][JWS_ROUTE]


@pytest.fixture
def five_links(alice, tesla_sandbox, portal_key) -> None:
    """Alice's five cars, each listed by its own linked account, two of them paired."""
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    tesla_sandbox.control.pair(SHARED, portal_key.domain)
    _one_link_per_car(alice)


def _started_run(manager) -> tuple[TelemetryRun, list[int]]:
    run = _push(ALL, manager, "five links")
    return run, services.telemetry_push_dispatch(run_id=run.pk)


@pytest.mark.django_db(transaction=True)
def test_a_chunk_pushes_each_link_once_on_the_kept_threads(
    five_links, manager, tesla_sandbox, monkeypatch
):
    run, link_ids = _started_run(manager)
    seen_threads = []
    real = push._push_rows

    def watched(*args, **kwargs):
        seen_threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(push, "_push_rows", watched)
    before = _jws_calls(tesla_sandbox)

    chunk = services.telemetry_push_chunk(run_id=run.pk, link_ids=link_ids + link_ids[:1])

    # A link listed twice is pushed once; the chunk held the run's last links and closed it.
    assert [r.link_id for r in chunk.links] == link_ids and len(link_ids) == 5
    assert [r.outcome for r in chunk.links] == ["link_done"] * 5
    assert chunk.closed_run
    assert _jws_calls(tesla_sandbox) - before == 5
    assert len(seen_threads) == 5 and all(name.startswith("tesla-") for name in seen_threads)
    run.refresh_from_db()
    assert (run.status, run.links_total, run.links_done) == ("done", 5, 5)
    assert statuses(run.config) == RECORDED


@pytest.mark.django_db(transaction=True)
def test_a_rate_limited_link_comes_back_for_the_one_link_task_with_retry_after(
    five_links, manager, tesla_sandbox
):
    run, link_ids = _started_run(manager)
    tesla_sandbox.control.fault(
        "fleet_telemetry_config_jws",
        status=429,
        body={"error": "rate_limited"},
        headers={"Retry-After": "7"},
        count=1,
    )

    chunk = services.telemetry_push_chunk(run_id=run.pk, link_ids=link_ids)

    [retried] = [r for r in chunk.links if r.outcome == "retry"]
    assert retried.retry_after == 7
    assert sorted(r.outcome for r in chunk.links) == ["link_done"] * 4 + ["retry"]
    assert not chunk.closed_run
    # Its car waits for the retry; it is not counted yet, and the run goes on.
    waiting = TelemetryDeployment.objects.filter(run=run, status="pending")
    assert list(waiting.values_list("link_id", flat=True)) == [retried.link_id]
    run.refresh_from_db()
    assert (run.status, run.links_done) == ("running", 4)

    # The one-link task's try records it and closes the run, counted exactly once.
    assert services.telemetry_push_link(run_id=run.pk, link_id=retried.link_id) == "done"
    run.refresh_from_db()
    assert (run.status, run.links_total, run.links_done) == ("done", 5, 5)
    assert statuses(run.config) == RECORDED


@pytest.mark.django_db(transaction=True)
def test_an_unexpected_error_goes_to_the_one_link_task_and_counts_nothing(
    five_links, manager, monkeypatch
):
    run, link_ids = _started_run(manager)
    broken_link = link_ids[2]
    real = push._push_rows

    def broken(run, link, rows, *, final, answers):
        if link.pk == broken_link:
            raise RuntimeError("bug")
        return real(run, link, rows, final=final, answers=answers)

    monkeypatch.setattr(push, "_push_rows", broken)

    results = {
        r.link_id: r for r in services.telemetry_push_chunk(run_id=run.pk, link_ids=link_ids).links
    }

    assert (results[broken_link].outcome, results[broken_link].retry_after) == ("retry", None)
    assert all(r.outcome == "link_done" for k, r in results.items() if k != broken_link)
    run.refresh_from_db()
    assert (run.status, run.links_done) == ("running", 4)


@pytest.mark.django_db(transaction=True)
def test_a_chunk_records_every_answer_together_once_the_threads_are_done(
    five_links, manager, monkeypatch
):
    run, link_ids = _started_run(manager)
    recorded = []
    real = push._record_answers

    def recording(run, answers):
        recorded.append(sorted(row.vin for answer in answers for row in answer.rows))
        return real(run, answers)

    monkeypatch.setattr(push, "_record_answers", recording)

    services.telemetry_push_chunk(run_id=run.pk, link_ids=link_ids)

    assert recorded == [sorted(ALL)]
    run.refresh_from_db()
    assert (run.status, run.links_done) == ("done", 5)
    assert statuses(run.config) == RECORDED


@pytest.mark.django_db(transaction=True)
def test_answers_before_a_transient_error_are_kept_for_the_retry(
    alice, manager, tesla_sandbox, portal_key, settings, monkeypatch
):
    # One account with five cars, two VINs per call: Tesla answers the first call, then 503.
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    tesla_sandbox.control.pair(SHARED, portal_key.domain)
    settings.TELEMETRY_PUSH_BATCH = 2
    run = _push(ALL, manager, "two per call")
    [link_id] = services.telemetry_push_dispatch(run_id=run.pk)
    real = FleetClient.fleet_telemetry_config_jws

    def answered_then_down(self, vins, token):
        answer = real(self, vins, token)
        tesla_sandbox.control.fault("fleet_telemetry_config_jws", status=503, count=1)
        return answer

    monkeypatch.setattr(FleetClient, "fleet_telemetry_config_jws", answered_then_down)

    with pytest.raises(push.TransientError):
        services.telemetry_push_link(run_id=run.pk, link_id=link_id, final=False)

    first_two = sorted(ALL)[:2]
    rows = statuses(run.config)
    assert all(rows[vin][0] != "pending" for vin in first_two), rows
    assert all(rows[vin][0] == "pending" for vin in sorted(ALL)[2:]), rows
    monkeypatch.undo()
    # The retry sends only what is still waiting, and closes the run.
    before = _jws_calls(tesla_sandbox)
    assert services.telemetry_push_link(run_id=run.pk, link_id=link_id) == "done"
    assert _jws_calls(tesla_sandbox) - before == 2  # three VINs, two per call
    assert {vin: status for vin, (status, _) in statuses(run.config).items()} == {
        GOOD: "updated",
        SHARED: "updated",
        ASLEEP: "skipped",
        LEGACY: "skipped",
        OLD_FW: "skipped",
    }


# --- on a real worker ---------------------------------------------------------------------


def _run_on_worker(run: TelemetryRun) -> list[tuple[str, int]]:
    """Let a worker (two threads) carry out the run (telemetry_push_start queued its task);
    the run's tasks it started, with their retry counts. Messages left in the broker by
    earlier tests name other runs and are not counted."""
    from celery.contrib.testing.worker import start_worker

    from fleetportal.celery import app

    started: list[tuple[str, int]] = []

    def on_prerun(sender=None, task=None, args=(), **kwargs):
        if sender.name in OURS and args and args[0] == run.pk:
            started.append((sender.name, task.request.retries))

    task_prerun.connect(on_prerun, weak=False)
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False):
            deadline = time.monotonic() + 60  # a guard against a hang, not a speed check
            while TelemetryRun.objects.get(pk=run.pk).active:
                assert time.monotonic() < deadline, started
                threading.Event().wait(0.1)
    finally:
        task_prerun.disconnect(on_prerun)
        connections.close_all()
    return started


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_run_in_chunks_on_a_worker_ends_done_with_one_call_per_link(
    five_links, manager, tesla_sandbox, settings
):
    settings.TELEMETRY_PUSH_CHUNK = 2
    run = _push(ALL, manager, "five links")
    before = _jws_calls(tesla_sandbox)

    started = _run_on_worker(run)

    # One dispatch, three chunks (2 + 2 + 1 links), no one-link task.
    assert sorted(started) == [
        ("telemetry.tasks.telemetry_push", 0),
        *[("telemetry.tasks.telemetry_push_chunk", 0)] * 3,
    ]
    assert _jws_calls(tesla_sandbox) - before == 5
    run.refresh_from_db()
    assert (run.status, run.links_total, run.links_done) == ("done", 5, 5)
    assert statuses(run.config) == RECORDED


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_transient_failure_in_a_chunk_retries_as_the_one_link_task(
    five_links, manager, tesla_sandbox, settings
):
    settings.TELEMETRY_PUSH_CHUNK = 3
    settings.TESLA_REFRESH_RETRY_CAP_SECONDS = 1
    run = _push(ALL, manager, "five links")
    tesla_sandbox.control.fault(
        "fleet_telemetry_config_jws",
        status=503,
        body={"error": "unavailable"},
        headers={"Retry-After": "1"},
        count=1,
    )
    before = _jws_calls(tesla_sandbox)

    started = _run_on_worker(run)

    # The link that met the 503 went on as the one-link task's second try.
    assert sorted(started) == [
        ("telemetry.tasks.telemetry_push", 0),
        *[("telemetry.tasks.telemetry_push_chunk", 0)] * 2,
        ("telemetry.tasks.telemetry_push_link", 1),
    ]
    assert _jws_calls(tesla_sandbox) - before == 6
    run.refresh_from_db()
    assert (run.status, run.links_total, run.links_done) == ("done", 5, 5)
    assert statuses(run.config) == RECORDED


@pytest.mark.django_db(transaction=True)
def test_a_lost_chunk_is_requeued_by_the_runs_sweep_as_one_link_tasks(
    five_links, manager, settings
):
    run, link_ids = _started_run(manager)
    # One chunk was carried out, the other lost with its worker: its links are still pending.
    services.telemetry_push_chunk(run_id=run.pk, link_ids=link_ids[:3])
    settings.TELEMETRY_RUN_STALE_SECONDS = 0

    with mock.patch.object(tasks.telemetry_push_link, "delay") as requeued:
        assert services.telemetry_runs_sweep()["requeued"] == 1
    assert sorted(call.args for call in requeued.call_args_list) == [
        (run.pk, link_id) for link_id in link_ids[3:]
    ]

    for link_id in link_ids[3:]:
        services.telemetry_push_link(run_id=run.pk, link_id=link_id)
    run.refresh_from_db()
    assert (run.status, run.links_total, run.links_done) == ("done", 5, 5)
    assert statuses(run.config) == RECORDED
