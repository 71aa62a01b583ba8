"""Queueing a run's task so that the run always ends, whatever the broker or the task does.

A run (a vehicle sync, a telemetry push) is a row the person watches until it ends. Three
things would leave it "queued" or "running" for ever:

- the broker refuses the task (down, unreachable, its folder not writable): `enqueue` marks
  the run failed at once and raises QueueUnavailable, which the view shows as a clear error;
- the task dies on an unexpected error: `run_failure_handler` gives the task an `on_failure`
  that marks its run failed with the error's class;
- the task is lost (a worker killed on the filesystem broker, a Redis restart): each app's
  runs sweep (beat) queues the run's remaining work again, and fails the run after a bound.
  Broker redelivery (acks_late) is not relied upon: the filesystem transport has none, and
  Redis only redelivers after its visibility timeout.

Services and tasks point one way in every app: a task imports its app's services and calls
one; a service that queues a task names it ("vehicles.tasks.vehicles_sync_link", Celery's
name for it) and `enqueue` or `task_named` finds it in the Celery app's registry. The retry
policy tasks share is in fleetportal/tasks.py.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

from celery import Task, current_app
from django.db import transaction
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

# What publishing raises when the broker cannot take a message: kombu wraps connection errors
# in OperationalError; the filesystem transport raises OSError (PermissionError, disk full).
QUEUE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, OSError)


class QueueUnavailable(Exception):
    """The broker did not take the task: nothing was queued (and the run says so)."""


def queue_unavailable_message() -> str:
    return _(
        "The task queue is not answering, so nothing was queued. Try again in a few minutes; "
        "if it keeps happening, tell the operator."
    )


def error_class(exc: BaseException) -> str:
    """What a run records of an unexpected error: its class only. Messages can carry tokens,
    signed URLs or personal data, and a run's error is shown to people."""
    return type(exc).__name__


def broker_check() -> None:
    """Raise QueueUnavailable unless the broker answers now.

    For writes a failed queueing could not cleanly undo (a push resets deployments, a removal
    unassigns cars): checked before them, so a broker that is down changes nothing.
    """
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            conn.default_channel  # noqa: B018
            if conn.transport.driver_type == "filesystem":
                # The filesystem transport has no server: its queue is a folder to write in.
                folder = conn.transport_options.get("data_folder_out", "")
                if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
                    raise NotADirectoryError(folder)
    except QUEUE_ERRORS as exc:
        logger.warning("broker unavailable: %s", error_class(exc))
        raise QueueUnavailable(error_class(exc)) from exc


def task_named(name: str) -> Task:
    """The registered task called `name` ("<app>.tasks.<function>")."""
    app = current_app
    if name not in app.tasks:
        # Not imported yet in this process (a web process imports no tasks module itself):
        # import the module the name gives. Not Celery's `import_default_modules()`: in a web
        # process its Django fix-up runs `django.setup()` again, which configures logging
        # anew and so drops every handler added since start-up.
        importlib.import_module(name.rpartition(".")[0])
    return app.tasks[name]


def enqueue(task: str | Task, *args: Any, on_error: Callable[[str], None], **kwargs: Any) -> None:
    """Queue `task` (a task or its name) once the current transaction has committed (the
    worker must see the run).

    Outside a transaction it is queued at once: when the broker refuses, `on_error` marks the
    run (given the error class) and QueueUnavailable tells the caller. Inside a caller's
    transaction it is queued when that commits; a refusal then only marks the run, since the
    caller's work (e.g. linking an account) has committed and must not turn into an error.
    """

    if isinstance(task, str):
        task = task_named(task)

    def send() -> None:
        task.delay(*args, **kwargs)

    def refused(exc: BaseException) -> None:
        logger.warning("could not queue %s: %s", task.name, error_class(exc))
        on_error(error_class(exc))

    if not transaction.get_connection().in_atomic_block:
        try:
            send()
        except QUEUE_ERRORS as exc:
            refused(exc)
            raise QueueUnavailable(error_class(exc)) from exc
        return

    def on_commit() -> None:
        try:
            send()
        except QUEUE_ERRORS as exc:
            refused(exc)

    transaction.on_commit(on_commit)


def run_failure_handler(mark_failed: Callable[[tuple, dict, str], None]) -> Callable[..., None]:
    """An `on_failure` for a task that works on a run: `mark_failed(args, kwargs, error)`
    closes the run; `error` names the exception's class and nothing of its message."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:  # noqa: ARG001
        # Stored in English like the runs' other errors; shown as recorded.
        error = f"worker error: {error_class(exc)}"
        try:
            mark_failed(tuple(args or ()), dict(kwargs or {}), error)
        except Exception:
            # The database may be what failed: the runs sweep closes the run later.
            logger.exception("could not mark the run of %s failed", self.name)

    return on_failure
