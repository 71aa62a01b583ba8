"""A worker killed between Tesla's answer and our commit: the retry must not break the link.

Needs PostgreSQL and Redis (a separate worker process must see the test database), as the
issue asks; on the embedded defaults it is skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import signal

import pytest
from django.utils import timezone

from accounts import services, tasks
from accounts.models import TeslaLink
from accounts.tests.tesla_flow import link
from accounts.tests.worker_process import children, needs_postgres_and_redis, wait, worker_process

pytestmark = [pytest.mark.worker, needs_postgres_and_redis]


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

    with worker_process(tesla_sandbox, tmp_path / "worker.log") as worker:
        tasks.link_refresh.delay(row.pk)
        wait(lambda: _refresh_calls(tesla_sandbox) == 1, 60, "the first token call")
        pool = children(worker.pid)
        assert len(pool) == 1, pool
        os.kill(pool[0], signal.SIGKILL)

        # reject_on_worker_lost hands the task back; the retry presents the old refresh
        # token, which Tesla still honours for 24 hours (the most recently used one).
        wait(
            lambda: TeslaLink.objects.get(pk=row.pk).token_version > row.token_version,
            90,
            "the retried refresh to be stored",
        )
    stored = TeslaLink.objects.get(pk=row.pk)
    assert stored.health == TeslaLink.Health.OK
    assert _refresh_calls(tesla_sandbox) == 2
    assert stored.refresh_token != row.refresh_token
    # The stored pair is the live end of the chain: the link is not broken.
    assert services.link_refresh_tokens(link_id=row.pk, force=True) == "refreshed"
