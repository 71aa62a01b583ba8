"""Every Fleet API request the portal makes, counted in the process, and the stop switch.

`PortalObserver` watches every `FleetClient` that fleetportal.tesla builds. Counting is a
dict increment under a lock (no query, no I/O on the call's path); `flush` moves the counts
to `ApiCallDay` in one short transaction. A process flushes at the end of each Celery task,
at the end of each web request, at worker shutdown, and every USAGE_FLUSH_SECONDS from a
background thread (started at the process's first call), so a worker killed with SIGKILL
loses only what it counted since its last flush: at most USAGE_FLUSH_SECONDS of its calls,
and never more than the task it was running when that task is shorter.

Token calls go to the authorization server through teslafleet.oauth, not through a
`FleetClient`: they are not Fleet API requests, Tesla does not bill them, and they are
neither counted nor stopped here.

The stop switch: a 403 `account disabled: EXCEEDED_LIMIT` (§4.5) stops this process's Fleet
API calls at once (the call is refused before it is sent); the flush records it in
`UsageState`, and every other process reads it there at its next flush. Staff resume on the
usage page (`usage.services.usage_resume`).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
import time

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from fleetportal import tesla
from teslafleet.fleet import AccountDisabled, FleetObserver
from usage.categories import category_for

logger = logging.getLogger(__name__)

Key = tuple[dt.date, str, str, bool]  # day (UTC), region, category, billed

_lock = threading.Lock()
_counts: dict[Key, int] = {}
# Counts a flush has taken and is writing now: still "pending" until committed (a reader that
# waits for pending() to empty then finds them in the database).
_writing: list[dict[Key, int]] = []
# (when, Tesla's words) while this process must not call the Fleet API; None otherwise.
_stop: tuple[dt.datetime, str] | None = None
# A stop this process saw and has not written to UsageState yet.
_stop_unsaved: tuple[dt.datetime, str] | None = None
_regions: dict[str, str] = {}
_flusher_pid = 0


def _region(base_url: str) -> str:
    code = _regions.get(base_url)
    if code is None:
        region = tesla.region_table().region_for_base_url(base_url)
        code = _regions[base_url] = region.code if region is not None else "?"
    return code


class PortalObserver(FleetObserver):
    """Counts each answered request; refuses every request while the switch is on."""

    def before_request(self, method: str, path: str, base_url: str) -> None:
        stop = _stop
        if stop is not None:
            raise AccountDisabled(
                f"Fleet API {method} {path}: not sent: Tesla answered EXCEEDED_LIMIT at "
                f"{stop[0]:%Y-%m-%d %H:%M} UTC and staff have not resumed calls yet",
                status=403,
                error="EXCEEDED_LIMIT",
                description=stop[1],
            )

    def on_response(self, method: str, path: str, status: int, base_url: str) -> None:
        # Billed: every answer below 500 (§4.5).
        key = (
            dt.datetime.now(dt.UTC).date(),
            _region(base_url),
            category_for(method, path),
            status < 500,
        )
        with _lock:
            _counts[key] = _counts.get(key, 0) + 1
        if _flusher_pid != os.getpid():
            _start_flusher()

    def on_account_disabled(self, base_url: str, error: AccountDisabled) -> None:
        global _stop, _stop_unsaved
        seen = (timezone.now(), f"{error.status} {error.error} {error.description}".strip()[:300])
        with _lock:
            _stop = _stop_unsaved = seen
        logger.error("Tesla disabled the application (EXCEEDED_LIMIT): Fleet API calls stopped")


def pending() -> dict[Key, int]:
    """What this process counted and has not written yet, a flush in progress included (a
    copy)."""
    with _lock:
        out = dict(_counts)
        for batch in _writing:
            for key, calls in batch.items():
                out[key] = out.get(key, 0) + calls
        return out


def discard() -> None:
    """Forget unflushed counts and this process's stop (tests start from nothing)."""
    global _stop, _stop_unsaved
    with _lock:
        _counts.clear()
        _stop = _stop_unsaved = None


def stopped() -> tuple[dt.datetime, str] | None:
    return _stop


def resumed() -> None:
    """This process may call again (staff resumed: usage.services.usage_resume)."""
    global _stop
    with _lock:
        _stop = None


def flush(*, read_stop: bool = False, **_signal_kwargs: object) -> int:
    """Write the counts gathered since the last flush, then read the stop switch (when there
    was something to write, this process is stopped, or `read_stop`). Returns the calls
    written. A failed write keeps the counts for the next flush."""
    global _counts, _stop_unsaved
    with _lock:
        counts, _counts = _counts, {}
        stop, _stop_unsaved = _stop_unsaved, None
        _writing.append(counts)
    try:
        if not counts and stop is None and _stop is None and not read_stop:
            return 0  # nothing to write, and no stop to lift: no query at all
        try:
            _write(counts, stop)
            _read_stop()
        except DatabaseError:
            logger.exception(
                "usage: flush failed; %d calls kept for the next one", sum(counts.values())
            )
            with _lock:
                for key, calls in counts.items():
                    _counts[key] = _counts.get(key, 0) + calls
                if _stop_unsaved is None:
                    _stop_unsaved = stop
            return 0
        return sum(counts.values())
    finally:
        with _lock:
            _writing.remove(counts)


def _write(counts: dict[Key, int], stop: tuple[dt.datetime, str] | None) -> None:
    from usage.models import ApiCallDay, UsageState

    with transaction.atomic():
        for (day, region, category, billed), calls in sorted(counts.items()):
            rows = ApiCallDay.objects.filter(
                day=day, region=region, category=category, billed=billed
            )
            if rows.update(calls=F("calls") + calls):
                continue
            try:
                with transaction.atomic():
                    ApiCallDay.objects.create(
                        day=day, region=region, category=category, billed=billed, calls=calls
                    )
            except IntegrityError:  # another process created the row since: add to it
                rows.update(calls=F("calls") + calls)
        if stop is not None:
            UsageState.objects.get_or_create(pk=1)
            UsageState.objects.filter(pk=1).update(exceeded_at=stop[0], exceeded_detail=stop[1])


def _read_stop() -> None:
    from usage.models import UsageState

    global _stop
    state = UsageState.objects.filter(pk=1).first()
    with _lock:
        if _stop_unsaved is not None:
            return
        if (
            state is not None
            and state.exceeded_at is not None
            and (state.resumed_at is None or state.resumed_at < state.exceeded_at)
        ):
            _stop = (state.exceeded_at, state.exceeded_detail)
        else:
            _stop = None


def _flush_loop(interval: float) -> None:
    while True:
        time.sleep(interval)
        try:
            # Always reads the switch: a stop seen by another process reaches this one.
            flush(read_stop=True)
        except Exception:  # the thread must outlive any one failure
            logger.exception("usage: periodic flush failed")
        finally:
            connection.close()  # this thread's own connection: do not hold it while asleep


def _start_flusher() -> None:
    global _flusher_pid
    interval = settings.USAGE_FLUSH_SECONDS
    with _lock:
        if _flusher_pid == os.getpid():
            return
        _flusher_pid = os.getpid()
    if interval > 0:
        threading.Thread(
            target=_flush_loop, args=(interval,), name="usage-flush", daemon=True
        ).start()


def install() -> None:
    """Watch every FleetClient of this process; flush after each task and request."""
    from celery import signals as celery_signals
    from django.core import signals as django_signals

    tesla.fleet_observer_install(PortalObserver())
    celery_signals.task_postrun.connect(flush, weak=False, dispatch_uid="usage-flush-task")
    celery_signals.worker_process_shutdown.connect(
        flush, weak=False, dispatch_uid="usage-flush-shutdown"
    )
    django_signals.request_finished.connect(flush, weak=False, dispatch_uid="usage-flush-request")
    atexit.register(_flush_at_exit)


def _flush_at_exit() -> None:
    if pending():
        try:
            flush()
        except Exception:  # the database may be gone at interpreter exit
            logger.exception("usage: flush at exit failed")
