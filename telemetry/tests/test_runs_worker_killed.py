"""A worker killed (SIGKILL, the whole process group) in the middle of a push: the broker does
not hand the task back in time (the filesystem transport never, Redis only after its
visibility timeout), so the runs sweep re-queues the work and the run ends.

The worker is a separate process, as in production, sharing the test database and broker:
the SQLite file and the filesystem broker's folder on the embedded defaults, or PostgreSQL
and Redis.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from fleetportal.tests.queue_helpers import purge_queue, real_worker, wait_for
from telemetry import services
from telemetry.models import TelemetryRun
from telemetry.tests.factories import make_config
from telemetry.tests.helpers import ALL, GOOD, process_env, statuses

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.worker


def _worker_env(tesla_sandbox) -> dict[str, str]:
    """The test's own database, broker and keys for a worker process, and the sandbox."""
    env = {
        **process_env(),
        "TESLA_ENV": "sandbox",
        "TESLA_SANDBOX_URL": tesla_sandbox.url,
        "TESLA_CLIENT_ID": settings.TESLA_CLIENT_ID,
        "TESLA_CLIENT_SECRET": settings.TESLA_CLIENT_SECRET,
        "TESLA_PARTNER_DOMAIN": settings.TESLA_PARTNER_DOMAIN,
        "TESLA_PRIVATE_KEY_FILE": "",
    }
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        queue = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        env["CELERY_FILESYSTEM_DIR"] = str(Path(queue).parent)
    return env


def _jws_calls(sandbox) -> int:
    return len(sandbox.control.requests(path="/fleet_telemetry_config_jws"))


@pytest.mark.django_db(transaction=True)
def test_a_push_whose_worker_was_killed_mid_call_is_requeued_by_the_sweep_and_ends(
    alice, manager, settings, tesla_sandbox, portal_key, tmp_path
):
    purge_queue()  # the sync queued by linking: not this test's business
    tesla_sandbox.control.pair(GOOD, portal_key.domain)
    config = make_config(hostname="127.0.0.1", fields={"Soc": 60})
    services.telemetry_config_assign(config=config, vins=ALL, user=manager)
    tesla_sandbox.control.clear_requests()
    # Tesla takes the config but its answer is held back: the worker dies waiting for it.
    tesla_sandbox.control.fault("fleet_telemetry_config_jws", latency_after=60, count=1)

    env = _worker_env(tesla_sandbox)
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "fleetportal", "worker",
            "--pool=prefork", "--concurrency=1", "--without-mingle", "--without-gossip",
            "--loglevel=INFO",
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        run = services.telemetry_push_start(config=config, user=manager)
        wait_for(lambda: _jws_calls(tesla_sandbox) == 1, "the push call to Tesla")
    finally:
        # The whole worker, parent included: nobody is left to hand the task back.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        log.close()
    run.refresh_from_db()
    assert run.status == TelemetryRun.Status.RUNNING

    settings.TELEMETRY_RUN_STALE_SECONDS = 0
    with real_worker():
        assert services.telemetry_runs_sweep()["requeued"] == 1
        wait_for(lambda: not TelemetryRun.objects.get(pk=run.pk).active, "the run to end")

    run.refresh_from_db()
    assert (run.status, run.redispatches) == (TelemetryRun.Status.DONE, 1)
    assert statuses(config)[GOOD] == ("updated", "")
    assert _jws_calls(tesla_sandbox) == 2
