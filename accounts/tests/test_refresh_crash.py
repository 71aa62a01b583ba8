"""A worker killed between Tesla's answer and our commit: the retry must not break the link.

Needs PostgreSQL and Redis (a separate worker process must see the test database), as the
issue asks; on the embedded defaults it is skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts import services, tasks
from accounts.models import TeslaLink
from accounts.tests.tesla_flow import link

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"]
        or not settings.CELERY_BROKER_URL.startswith("redis"),
        reason="needs PostgreSQL and Redis (a worker process must share the test database)",
    ),
]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Field 4 (after the parenthesised command name) is the parent pid.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _refresh_calls(sandbox) -> int:
    return sum(1 for r in sandbox.control.requests() if r.get("grant_type") == "refresh_token")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_tesla_answered_recovers_on_the_retry(
    owner_client, owner, tesla_apps, tesla_sandbox, tmp_path
):
    link(owner_client, "alice@example.com")
    row = TeslaLink.objects.get(user=owner)
    TeslaLink.objects.filter(pk=row.pk).update(
        access_token_expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    # Tesla rotates the chain at once but its answer is held back: the worker is killed
    # while waiting, so the new refresh token is lost, exactly as in a crash before commit.
    tesla_sandbox.control.fault("token", latency_after=60, count=1)

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fleetportal.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TESLA_ENV": "sandbox",
        "TESLA_SANDBOX_URL": tesla_sandbox.url,
        "TESLA_CLIENT_ID": settings.TESLA_CLIENT_ID,
        "TESLA_CLIENT_SECRET": settings.TESLA_CLIENT_SECRET,
    }
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
        tasks.link_refresh.delay(row.pk)
        _wait(lambda: _refresh_calls(tesla_sandbox) == 1, 60, "the first token call")
        children = _children(worker.pid)
        assert len(children) == 1, children
        os.kill(children[0], signal.SIGKILL)

        # reject_on_worker_lost hands the task back; the retry presents the old refresh
        # token, which Tesla still honours for 24 hours (the most recently used one).
        _wait(
            lambda: TeslaLink.objects.get(pk=row.pk).token_version > row.token_version,
            90,
            "the retried refresh to be stored",
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        log.close()
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.health == TeslaLink.Health.OK
    assert _refresh_calls(tesla_sandbox) == 2
    assert stored.refresh_token != row.refresh_token
    # The stored pair is the live end of the chain: the link is not broken.
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "refreshed"
