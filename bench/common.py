"""Shared pieces of the benchmarks: Django on a throwaway database, a sandbox process, a
Celery worker process, query counting, and printing figures."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fleetportal.settings.test")
    import django

    django.setup()


def on_postgres(bench: str) -> bool:
    """Whether the configured database is PostgreSQL, which a bench with a worker process
    needs (it shares the database); says the bench is skipped when it is not."""
    from django.conf import settings

    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return True
    print(f"{bench}: skipped, needs DATABASE_URL=postgres://… (see `make bench`)")
    return False


@contextmanager
def test_database() -> Iterator[dict[str, Any]]:
    """A fresh test database (dropped afterwards); yields its connection settings."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    test = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor == "postgresql" and not test.get("NAME"):
        # "<name>_run", not Django's "test_<name>": the throwaway keeps the prefix of the
        # database it was named after, so a shared server's owners can tell whose it is.
        test["NAME"] = f"{connection.settings_dict['NAME']}_run"
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


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, *, every: float = 0.05
) -> None:
    """Poll a readiness check (never a fixed sleep) until it holds, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


@dataclass(frozen=True)
class SandboxProcess:
    """A running `python -m sandbox`: its control client and its pid (for /proc)."""

    control: Any
    pid: int


@contextmanager
def sandbox_server(*, tls: Any = None) -> Iterator[SandboxProcess]:
    """`python -m sandbox` on a free port, in its own process (its CPU is not ours); over
    HTTPS when given `tls` (sandbox.tls.TLSFiles: the bench process must then trust tls.ca,
    e.g. through REQUESTS_CA_BUNDLE). Ready once it answers a Fleet API status call."""
    import requests

    from sandbox.testing import Control

    port = free_port()
    args = [sys.executable, "-m", "sandbox", "--port", str(port)]
    scheme = "http"
    if tls is not None:
        args += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        scheme = "https"
    url = f"{scheme}://127.0.0.1:{port}"
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {proc.returncode}")
        try:
            return requests.get(f"{url}/fleet/na/status", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(up, 30, "the sandbox")
        yield SandboxProcess(Control(url), proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass(frozen=True)
class WorkerProcess:
    """A running Celery worker: its pid (also its process group: it leads a new session) and
    its node name, for remote control (`destination=[name]`)."""

    pid: int
    name: str


@contextmanager
def celery_worker(
    env: dict[str, str], *, pool: str, concurrency: int, queues: list[str] | None = None
) -> Iterator[WorkerProcess]:
    """A Celery worker process on the configured broker, sharing the bench database, on
    `queues` (default: the default queue). Ready once it answers `app.control.ping` (its
    pool is started before its consumer)."""
    from fleetportal.celery import app

    log_path = ROOT / "var" / "bench-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    name = f"bench-{os.getpid()}-{time.monotonic_ns()}@localhost"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "fleetportal", "worker", "-n", name,
                f"--pool={pool}", f"--concurrency={concurrency}",
                "--without-mingle", "--without-gossip", "--loglevel=WARNING",
                *(["-Q", ",".join(queues)] if queues else []),
            ],
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited; see {log_path}")
            return bool(app.control.ping(destination=[name], timeout=0.5))

        try:
            wait_until(answers, 60, "the worker to answer a ping")
            yield WorkerProcess(proc.pid, name)
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=60)


def worker_env(db: dict[str, Any], control: Any, client: dict[str, str], **extra: str) -> dict:
    """The environment of a worker process that shares the bench's database, broker, sandbox
    and Tesla client (see celery_worker); `extra` adds the bench's own settings."""
    from django.conf import settings

    return {
        "DATABASE_URL": database_url(db),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "TESLA_ENV": "sandbox",
        "TESLA_SANDBOX_URL": control.url,
        "TESLA_CLIENT_ID": client["client_id"],
        "TESLA_CLIENT_SECRET": client["client_secret"],
        # The bench runs on the test settings, whose in-process test worker closes its
        # connections after each task; a deployed worker keeps them (the base default).
        "WORKER_CONN_MAX_AGE": os.environ.get("WORKER_CONN_MAX_AGE", "600"),
        **extra,
    }


def count_queries(fn: Callable[[], Any]) -> tuple[Any, int]:
    """fn's result and the statements it sent to the database, on every thread: the batch
    paths run theirs on the worker process's kept threads, each on its own connection.
    Counted as CaptureQueriesContext counts (BEGIN and COMMIT included): Django reports each
    statement to its backends logger when queries are logged, here turned on for every
    connection, and the logger is wrapped (not given a handler, which a logging
    reconfiguration mid-run would drop). Counts nest."""
    from django.db.backends import utils
    from django.db.backends.base.base import BaseDatabaseWrapper

    class Counting:
        def __init__(self, logger: Any) -> None:
            self.logger, self.n, self.lock = logger, 0, threading.Lock()

        def debug(self, *args: Any, **kwargs: Any) -> None:
            with self.lock:
                self.n += 1
            self.logger.debug(*args, **kwargs)

    counting = Counting(utils.logger)
    saved = BaseDatabaseWrapper.queries_logged
    utils.logger = counting
    BaseDatabaseWrapper.queries_logged = property(lambda self: True)  # type: ignore[method-assign]
    try:
        result = fn()
    finally:
        utils.logger = counting.logger
        BaseDatabaseWrapper.queries_logged = saved  # type: ignore[method-assign]
    return result, counting.n


def report(title: str, rows: list[tuple[str, Any]]) -> None:
    print(f"\n== {title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


BENCH_REDIRECT = "http://bench.invalid/callback"
SCOPES = ["openid", "offline_access", "user_data", "vehicle_device_data"]


def sandbox_client(control: Any, partner_domain: str) -> dict[str, str]:
    """Point this process's portal at the sandbox and register a Tesla client for it (with
    BENCH_REDIRECT) and the partner domain `partner_domain`; returns the client."""
    from django.conf import settings

    from sandbox.testing import register_partner

    settings.TESLA_ENV = "sandbox"
    settings.TESLA_SANDBOX_URL = control.url
    client = control.register_client(
        server="global", redirect_uris=[BENCH_REDIRECT], allowed_origins=["127.0.0.1"]
    )
    settings.TESLA_CLIENT_ID = client["client_id"]
    settings.TESLA_CLIENT_SECRET = client["client_secret"]
    register_partner(control.url, "global", client, partner_domain)
    return client


def add_cars(control: Any, email: str, count: int) -> list[str]:
    """`count` new cars for the sandbox user `email`; returns their VINs. The control API adds
    at most 1,000 per call."""
    vins: list[str] = []
    while len(vins) < count:
        vins += control.add_vehicles(email, min(1000, count - len(vins)))
    return vins


@contextmanager
def thread_sessions() -> Iterator[Callable[[], Any]]:
    """Yields a function that returns the calling thread's own `requests` session (made on
    first use, all closed at the end). A session shared by many threads overflows its
    connection pool (urllib3's "Connection pool is full") now that the sandbox keeps
    connections alive; one per thread keeps each connection in use by one thread."""
    import requests

    local, made, lock = threading.local(), [], threading.Lock()

    def session() -> Any:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            with lock:
                made.append(local.session)
        return local.session

    try:
        yield session
    finally:
        for each in made:
            each.close()


def token_chains(client: dict[str, str], email: str, count: int, *, threads: int = 4) -> list[Any]:
    """`count` token chains of the sandbox user `email` (see user_tokens), made on `threads`
    threads with a kept-alive session each (setup, not what is measured)."""
    from concurrent.futures import ThreadPoolExecutor

    with thread_sessions() as session, ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda _: user_tokens(client, email, session()), range(count)))


def bench_link(
    user: Any,
    subject: str,
    tokens: tuple[str, str],
    *,
    fleet_api_base_url: str,
    expires_in: dt.timedelta,
) -> Any:
    """An unsaved TeslaLink of `user` on the global auth server holding the (access, refresh)
    `tokens`, its access token expiring `expires_in` from now."""
    from django.utils import timezone

    from accounts.models import TeslaLink

    now = timezone.now()
    return TeslaLink(
        user=user,
        auth_server="global",
        subject=subject,
        region="NA",
        fleet_api_base_url=fleet_api_base_url,
        scopes=SCOPES,
        access_token=tokens[0],
        refresh_token=tokens[1],
        access_token_expires_at=now + expires_in,
        refresh_token_issued_at=now,
    )


def user_tokens(client: dict[str, str], email: str, session: Any = None) -> Any:
    """A fresh token chain for the sandbox's Tesla user `email`: authorize, consent, exchange
    (the bench client must have BENCH_REDIRECT registered). Pass a `session` to keep its
    connections alive across many chains (setup, not what is measured)."""
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
        scopes=SCOPES,
        state="bench",
        code_challenge=challenge,
    )
    code = parse_qs(urlsplit(consent(url, email, session=session)).query)["code"][0]
    return oauth.exchange_code(
        server,
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        code=code,
        redirect_uri=BENCH_REDIRECT,
        audience=tesla.default_audience("global"),
        code_verifier=verifier,
        session=session,
    )
