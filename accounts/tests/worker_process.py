"""A real Celery worker in its own process, on the test database (PostgreSQL and Redis: a
separate process must see the test database and the broker), for tests that kill it or
watch its database connections."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

needs_postgres_and_redis = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"]
    or not settings.CELERY_BROKER_URL.startswith("redis"),
    reason="needs PostgreSQL and Redis (a worker process must share the test database)",
)


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid` (a prefork worker's pool processes)."""
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


def wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def database_url(**options: str) -> str:
    db = connection.settings_dict
    query = "&".join(f"{key}={value}" for key, value in options.items())
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"{url}?{query}" if query else url


@contextmanager
def worker_process(
    sandbox, log_path: Path, *, concurrency: int = 1, **env: str
) -> Iterator[subprocess.Popen]:
    """`celery worker --pool=prefork` against the sandbox, with `env` on top of the test's
    settings; stopped (SIGTERM to its group) on exit."""
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fleetportal.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TESLA_ENV": "sandbox",
        "TESLA_SANDBOX_URL": sandbox.url,
        "TESLA_CLIENT_ID": settings.TESLA_CLIENT_ID,
        "TESLA_CLIENT_SECRET": settings.TESLA_CLIENT_SECRET,
        **env,
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "fleetportal", "worker",
                "--pool=prefork", f"--concurrency={concurrency}", "--without-mingle",
                "--without-gossip", "--loglevel=INFO",
            ],
            cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
