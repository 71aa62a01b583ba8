"""What a Celery worker process keeps between tasks: its database connections, its HTTP
sessions, and a pool of threads for work that waits on Tesla (the batch token refresh, the
telemetry push chunks).

Celery's Django fix-up closes every database connection before and after each task, whatever
`CONN_MAX_AGE` says, so each task paid for a new PostgreSQL connection (a backend start and its
catalogue caches: 8-9 ms of CPU, more than the task's own work). `keep_connections` replaces
that rule with Django's own request rule: a connection is closed when it is broken, in a
state a task must not inherit, or older than `WORKER_CONN_MAX_AGE`; with health checks, one
that died while idle is replaced on its next use.

`KeptThreads` is a pool of threads that lives as long as the worker process. Each thread keeps
its own database connection (Django's are per thread) and its own HTTP session
(fleetportal.tesla.http_session) from one job to the next, and closes both when the pool
stops. Every thread may hold one database connection: a worker process holds up to
TESLA_REFRESH_THREADS + 1 (README, "Sizing the workers").
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from celery import Celery, signals
from django.conf import settings
from django.db import close_old_connections, connections

from fleetportal import queueing, tesla
from teslafleet.errors import TransientError

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


def keep_connections(app: Celery) -> None:
    """Keep database connections across tasks in this worker (every pool: prefork, threads,
    solo). Called once, at worker start."""
    for alias in connections:
        options = settings.DATABASES[alias]
        options["CONN_MAX_AGE"] = settings.WORKER_CONN_MAX_AGE
        options["CONN_HEALTH_CHECKS"] = True
    fixup = _django_worker_fixup(app)
    if fixup is not None:
        # Its task_prerun / task_postrun handlers call this; after a fork it still closes the
        # parent's connections with its own `_close_database`, which is right.
        fixup.close_database = lambda **kwargs: close_old_connections()


def _django_worker_fixup(app: Celery) -> Any:
    from celery.fixups.django import DjangoFixup

    for fixup in getattr(app, "_fixups", ()):
        if isinstance(fixup, DjangoFixup):
            return fixup.worker_fixup
    return None


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """One job's item and either its result or the exception it raised."""

    item: T
    result: R | None = None
    error: BaseException | None = None


_STOP = object()
# Django checks a kept connection (a `SELECT 1` when CONN_HEALTH_CHECKS is on) at the start of
# each "request"; a pool thread starts one at most this often, not per job.
CHECK_EVERY_SECONDS = 1.0
_checked = threading.local()


def _check_connections() -> None:
    """Like the start of a request: replace a connection that is broken or past its age, keep
    a healthy one."""
    now = time.monotonic()
    if now - getattr(_checked, "at", -CHECK_EVERY_SECONDS) >= CHECK_EVERY_SECONDS:
        close_old_connections()
        _checked.at = now


def _close_obsolete() -> None:
    """Close this thread's connections that are past their age (CONN_MAX_AGE 0: after every
    job, as after a request), without costing the kept ones a new health check."""
    for conn in connections.all(initialized_only=True):
        if conn.close_at is not None and time.monotonic() >= conn.close_at:
            conn.close()


class KeptThreads:
    """A fixed pool of threads, started on first use, that keep their database connection and
    HTTP session between jobs. `map` runs a function over items and waits for all of them."""

    def __init__(self, size: int, name: str) -> None:
        self.size = max(1, size)
        self.name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._run, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        try:
            while (job := self._jobs.get()) is not _STOP:
                job()
        finally:
            # This thread's own connection and session: no other thread may close them.
            connections.close_all()
            tesla.http_session_release()

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[Outcome[T, R]]:
        """Run `fn(item)` for every item on the pool's threads; the outcomes in item order."""
        self._start()
        items = list(items)
        outcomes: list[Outcome[T, R] | None] = [None] * len(items)
        done = threading.Semaphore(0)

        def job(index: int, item: T) -> None:
            _check_connections()
            try:
                outcomes[index] = Outcome(item, result=fn(item))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                outcomes[index] = Outcome(item, error=exc)
                close_old_connections()  # a failed job may have left its connection broken
            finally:
                _close_obsolete()
                done.release()

        for index, item in enumerate(items):
            self._jobs.put(lambda i=index, it=item: job(i, it))
        for _ in items:
            done.acquire()
        return [outcome for outcome in outcomes if outcome is not None]

    def shutdown(self) -> None:
        """Let every thread finish its job, close its connection and session, and end."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(_STOP)
        for thread in threads:
            thread.join(timeout=60)


_pools: dict[str, tuple[int, KeptThreads]] = {}
_pools_lock = threading.Lock()


def kept_threads(name: str, size: int) -> KeptThreads:
    """This process's pool called `name` (made on first use, again after a fork)."""
    pid = os.getpid()
    with _pools_lock:
        entry = _pools.get(name)
        if entry is None or entry[0] != pid:
            entry = (pid, KeptThreads(size, name))
            _pools[name] = entry
    return entry[1]


def tesla_threads() -> KeptThreads:
    """This process's one pool for chunks of work that wait on Tesla (token refresh, telemetry
    push). One pool, not one per kind: a worker process runs one task at a time under prefork,
    so the kinds never need threads together, and its connections stay within
    TESLA_REFRESH_THREADS + 1 (README, "Sizing the workers")."""
    return kept_threads("tesla", settings.TESLA_REFRESH_THREADS)


@dataclass(frozen=True)
class LinkOutcome:
    """What a chunk did for one linked account: the function's outcome, or "retry" when the
    link must go to its one-link task: a transient Tesla error (with Tesla's Retry-After when
    it sent one), or an unexpected error, which the one-link task meets again and fails
    visibly."""

    link_id: int
    outcome: str
    retry_after: float | None = None


def tesla_chunk(fn: Callable[[int], str], link_ids: list[int], *, what: str) -> list[LinkOutcome]:
    """`fn(link_id)` for every link of a chunk on this process's `tesla_threads()`, each
    link's outcome in order (see LinkOutcome). `what` names the work in the error log."""
    outcomes = []
    for done in tesla_threads().map(fn, link_ids):
        if done.error is None:
            outcomes.append(LinkOutcome(done.item, str(done.result)))
        elif isinstance(done.error, TransientError):
            # A 429 carries Retry-After (§4.5); a 5xx or a timeout backs off instead.
            retry_after = getattr(done.error, "retry_after", None)
            outcomes.append(LinkOutcome(done.item, "retry", retry_after))
        else:
            logger.error(
                "%s of link %s failed: %s", what, done.item, queueing.error_class(done.error)
            )
            outcomes.append(LinkOutcome(done.item, "retry"))
    return outcomes


def shutdown() -> None:
    """Stop this process's pools and close its HTTP sessions (worker shutdown)."""
    pid = os.getpid()
    with _pools_lock:
        pools = [pool for owner, pool in _pools.values() if owner == pid]
        _pools.clear()
    for pool in pools:
        pool.shutdown()
    tesla.http_sessions_close()


def install(app: Celery) -> None:
    """Connect the worker signals (fleetportal/celery.py)."""

    @signals.worker_init.connect(weak=False)
    def _on_worker_init(**kwargs: Any) -> None:
        keep_connections(app)

    @signals.worker_process_shutdown.connect(weak=False)
    def _on_process_shutdown(**kwargs: Any) -> None:
        shutdown()

    @signals.worker_shutdown.connect(weak=False)
    def _on_worker_shutdown(**kwargs: Any) -> None:
        shutdown()
