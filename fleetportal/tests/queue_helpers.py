"""Test helpers for runs that must end: a broker that stops answering, a lost message, and a
real worker started after the fact."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fleetportal.celery import app


def _reset_pools() -> None:
    # Celery caches its connection and producer pools: a changed broker needs new ones.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_down() -> Iterator[None]:
    """The configured broker stops answering: for Redis (or any server) a closed port; for
    the filesystem transport a queue folder that cannot exist (under /dev/null)."""
    conf = app.conf
    saved = (conf.broker_url, conf.broker_transport_options)
    saved_env = os.environ.get("CELERY_BROKER_URL")
    if conf.broker_url.startswith("filesystem"):
        options = dict(conf.broker_transport_options or {})
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            options[key] = "/dev/null/fleetportal-broker"
        conf.broker_transport_options = options
    else:
        # Celery reads CELERY_BROKER_URL from the environment before its own setting.
        os.environ["CELERY_BROKER_URL"] = conf.broker_url = "redis://127.0.0.1:1/0"
        conf.broker_transport_options = {}
    _reset_pools()
    try:
        yield
    finally:
        conf.broker_url, conf.broker_transport_options = saved
        if saved_env is not None:
            os.environ["CELERY_BROKER_URL"] = saved_env
        else:
            os.environ.pop("CELERY_BROKER_URL", None)
        _reset_pools()


def purge_queue() -> int:
    """Remove every waiting message from the broker: the tasks are lost, as when a worker
    holding them was killed."""
    return app.control.purge()


@contextmanager
def real_worker() -> Iterator[None]:
    """A real worker on the configured broker, started now (the fixture starts one before
    the test body, which would take the message this test means to lose)."""
    from celery.contrib.testing.worker import start_worker
    from django.db import connections

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield
    connections.close_all()


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.1)
