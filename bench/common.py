"""Shared pieces of the benchmarks: Django on a throwaway database, a sandbox process, a
Celery worker process, query counting, and printing figures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetportal.settings.test")
    import django

    django.setup()


@contextmanager
def test_database() -> Iterator[dict[str, Any]]:
    """A fresh test database (dropped afterwards); yields its connection settings."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    old = setup_databases(verbosity=0, interactive=False)
    try:
        yield dict(connection.settings_dict)
    finally:
        teardown_databases(old, verbosity=0)


def database_url(settings_dict: dict[str, Any]) -> str:
    """The DATABASE_URL of the (test) database, for a worker process to share it."""
    if settings_dict["ENGINE"].endswith("postgresql"):
        user = settings_dict["USER"] or "postgres"
        host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
        return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"
    return f"sqlite:///{settings_dict['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


@contextmanager
def sandbox_process() -> Iterator[Any]:
    """`python -m sandbox` on a free port, in its own process (its CPU is not ours)."""
    import requests

    from sandbox.testing import Control

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def up() -> bool:
        try:
            return requests.get(f"{url}/fleet/na/status", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        _wait_until(up, 30, "the sandbox")
        yield Control(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def worker_process(env: dict[str, str], *, pool: str, concurrency: int) -> Iterator[None]:
    """A Celery worker process on the configured broker, sharing the bench database."""
    log_path = ROOT / "var" / "bench-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "fleetportal", "worker",
                f"--pool={pool}", f"--concurrency={concurrency}",
                "--without-mingle", "--without-gossip", "--loglevel=WARNING",
            ],
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            time.sleep(3)  # the pool forks and connects to the broker
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited; see {log_path}")
            yield
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=60)


def count_queries(fn: Callable[[], Any]) -> tuple[Any, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return result, len(ctx.captured_queries)


def report(title: str, rows: list[tuple[str, Any]]) -> None:
    print(f"\n== {title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


BENCH_REDIRECT = "http://bench.invalid/callback"


def user_tokens(client: dict[str, str], email: str) -> Any:
    """A fresh token chain for the sandbox's Tesla user `email`: authorize, consent, exchange
    (the bench client must have BENCH_REDIRECT registered)."""
    from urllib.parse import parse_qs, urlsplit

    from fleetportal import tesla
    from sandbox.testing import consent
    from teslafleet import oauth

    server = tesla.auth_server("global")
    verifier, challenge = oauth.pkce_pair()
    url = oauth.build_authorize_url(
        server,
        client_id=client["client_id"],
        redirect_uri=BENCH_REDIRECT,
        scopes=["openid", "offline_access", "user_data", "vehicle_device_data"],
        state="bench",
        code_challenge=challenge,
    )
    code = parse_qs(urlsplit(consent(url, email)).query)["code"][0]
    return oauth.exchange_code(
        server,
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        code=code,
        redirect_uri=BENCH_REDIRECT,
        audience=tesla.default_audience("global"),
        code_verifier=verifier,
    )
