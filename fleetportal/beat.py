"""One beat, enforced: django-celery-beat's DatabaseScheduler behind a lock only one process
can hold (CELERY_BEAT_SCHEDULER). Two beats would dispatch every periodic job twice.

The lock dies with its holder, so a beat killed with SIGKILL never blocks the next one:
- PostgreSQL: a session advisory lock on a connection of its own, which Django never closes
  or recycles; the server frees it when that session ends, however the process ended.
- SQLite (a single-host install): flock() on a file next to the database; the kernel frees it
  when the process's file descriptors close.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django_celery_beat.schedulers import DatabaseScheduler

# The advisory lock's key: any fixed 64-bit number no other code uses ("FleetBea").
ADVISORY_LOCK_KEY = 0x466C656574426561

REFUSED = (
    "Another celery beat already runs for this database (it holds the beat lock): run exactly "
    "one beat in the whole installation, since two would dispatch every periodic job twice. "
    "This one exits. If no other beat runs, the lock is freed as soon as the process that "
    "held it is gone."
)


class BeatAlreadyRunning(SystemExit):
    """Exits the process with REFUSED; not an Exception, so celery does not log a traceback."""


class BeatLockLost(RuntimeError):
    """The lock's database session ended (database restarted): exit, the restart retakes it."""


class BeatLock:
    """The process-wide beat lock; `beat_lock_take` returns one or refuses."""

    def __init__(self, *, connection: Any = None, handle: Any = None) -> None:
        self._connection = connection
        self._handle = handle

    def check(self) -> None:
        """Raise BeatLockLost if the PostgreSQL session that holds the lock has ended."""
        if self._connection is None:
            return  # flock: held as long as this process lives
        try:
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            raise BeatLockLost("the beat lock's database session ended") from exc

    def release(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._handle is not None:
            self._handle.close()


def beat_lock_take() -> BeatLock:
    """Take the beat lock without waiting, or raise BeatAlreadyRunning."""
    database = settings.DATABASES["default"]
    vendor = connections["default"].vendor
    if vendor == "postgresql":
        # Not connections["default"]: Django closes that one between requests and on errors,
        # and the lock would go with it.
        connection = connections.create_connection("default")
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            held = cursor.fetchone()[0]
        if not held:
            connection.close()
            raise BeatAlreadyRunning(REFUSED)
        return BeatLock(connection=connection)
    if vendor == "sqlite":
        handle = _sqlite_lock_file(database["NAME"]).open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise BeatAlreadyRunning(REFUSED) from None
        return BeatLock(handle=handle)
    raise ImproperlyConfigured(f"The beat lock supports PostgreSQL and SQLite, not {vendor}.")


def _sqlite_lock_file(name: str | Path) -> Path:
    return Path(f"{name}.beat-lock")


class SingleBeatScheduler(DatabaseScheduler):
    """DatabaseScheduler that runs only while it holds the beat lock."""

    beat_lock: BeatLock | None = None

    def __init__(self, *args: Any, lazy: bool = False, **kwargs: Any) -> None:
        # Before the schedule is read or written: a refused beat touches nothing. Celery
        # also builds a lazy instance for its start-up banner, which schedules nothing and
        # must not hold the lock the real one needs.
        if not lazy:
            self.beat_lock = beat_lock_take()
        super().__init__(*args, lazy=lazy, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.beat_lock is not None:
            self.beat_lock.check()
        return super().tick(*args, **kwargs)
