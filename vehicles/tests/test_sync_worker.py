"""Done-when: "Sync now" on a linked sandbox account, run by a real Celery worker."""

from __future__ import annotations

import threading
import time

import pytest

from vehicles.models import SyncRun
from vehicles.tests.conftest import linked


@pytest.mark.worker
def test_sync_now_runs_on_the_worker_and_the_cars_appear(
    owner_client, tesla_apps, tesla_sandbox, celery_worker_thread
):
    link = linked(owner_client, "alice@example.com")
    # The link itself may have queued a sync (accounts' hook): let it finish first.
    _wait_idle(link)

    response = owner_client.post("/vehicles/sync/", follow=True)
    assert response.status_code == 200
    _wait_idle(link)

    run = SyncRun.objects.filter(link=link).latest("created_at")
    assert (run.status, run.seen) == ("done", 5)
    status = owner_client.get("/vehicles/sync/status/").json()
    assert status["active"] is False
    page = owner_client.get("/vehicles/").content.decode()
    assert "5YJ3E1EA7PF000001" in page and "Model 3" in page and "Not paired" in page
    assert 'data-active="0"' in page


def _wait_idle(link, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while SyncRun.objects.filter(link=link, status__in=SyncRun.ACTIVE).exists():
        assert time.monotonic() < deadline, "sync did not finish"
        threading.Event().wait(0.1)
