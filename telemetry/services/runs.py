"""A run's lifecycle: queued, dispatched, heartbeats, closed, failed, and the sweep that
ends every run even when its task was lost."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.translation import gettext as _

from fleetportal import queueing
from partners.selectors import PartnerKeyMissing
from telemetry.models import (
    TelemetryDeployment,
    TelemetryRun,
)
from telemetry.services import audit, signing

Status = TelemetryDeployment.Status
# A run's deployments still waiting for its tasks: the run ends when none is left.
RUN_WAITING = (Status.PENDING, Status.REMOVING)


def no_owner_link() -> str:
    """Why a car has no link to push or remove through (stored on its deployment)."""
    return _("No linked owner account lists this vehicle.")


def _run_stale() -> dt.timedelta:
    return dt.timedelta(seconds=settings.TELEMETRY_RUN_STALE_SECONDS)


# Queued by name: telemetry.tasks imports these services, never the other way round.
PUSH_TASK = "telemetry.tasks.telemetry_push"
PUSH_LINK_TASK = "telemetry.tasks.telemetry_push_link"


def enqueue(task: str, *args: Any, run_id: int) -> None:
    """Queue a run's task; if the broker refuses it, the run fails at once (nothing queued)."""
    queueing.enqueue(
        task,
        *args,
        on_error=lambda error: telemetry_run_fail(
            run_id=run_id, error=f"could not be queued: {error}"
        ),
    )


def telemetry_push_dispatch(*, run_id: int) -> list[int]:
    """Mark the run running and return the links that still have work (queued in chunks of
    TELEMETRY_PUSH_CHUNK by the push task)."""
    updated = TelemetryRun.objects.filter(pk=run_id, status=TelemetryRun.Status.QUEUED).update(
        status=TelemetryRun.Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    if not updated:
        return []  # a redelivered message: the first delivery dispatched already
    _sign_ahead(run_id)
    return links_with_work(run_id)


def _sign_ahead(run_id: int) -> None:
    """Sign the run's config here, once, before its link tasks start together: they find the
    token stored and none of them signs (signing.run_token stays their fallback)."""
    run = (
        TelemetryRun.objects.select_related("version")
        .filter(pk=run_id)
        .exclude(kind=TelemetryRun.Kind.REMOVE)
        .first()
    )
    if run is None:
        return
    # Without a usable key, each link task records the reason on its cars.
    with contextlib.suppress(PartnerKeyMissing):
        signing.run_token(run)


def links_with_work(run_id: int) -> list[int]:
    return sorted(
        TelemetryDeployment.objects.filter(
            run_id=run_id, status__in=RUN_WAITING, link__isnull=False
        )
        # No ordering: the default (vehicle__vin) would make DISTINCT per vehicle.
        .order_by()
        .values_list("link_id", flat=True)
        .distinct()
    )


def telemetry_run_heartbeat(*, run_id: int) -> None:
    """A sign of life (a retry scheduled, a batch recorded): the runs sweep leaves it be."""
    TelemetryRun.objects.filter(pk=run_id, status__in=TelemetryRun.ACTIVE).update(
        heartbeat_at=timezone.now()
    )


def links_done(run: TelemetryRun, count: int) -> str:
    """Count `count` more links as finished (never past the total), then close the run if
    nothing of it is waiting: "done" for the one caller that closed it, else "link_done"."""
    if count:
        TelemetryRun.objects.filter(pk=run.pk).update(
            links_done=Least(F("links_done") + count, F("links_total"))
        )
    return "done" if close_if_finished(run.pk) else "link_done"


def close_if_finished(run_id: int) -> bool:
    """Close the run once none of its deployments is waiting; True for the one caller that
    closed it.

    The test is the rows, not a count of finished link tasks: a task re-queued by the sweep,
    or a push that took some rows over, would make a count wrong and the run never end.
    """
    waiting = TelemetryDeployment.objects.filter(run_id=OuterRef("pk"), status__in=RUN_WAITING)
    with transaction.atomic():
        # Conditional: of the link tasks finishing together, exactly one closes the run; the
        # closing and its audit entry commit together, so a killed worker loses neither alone.
        closed = (
            TelemetryRun.objects.filter(pk=run_id, status=TelemetryRun.Status.RUNNING)
            .filter(~Exists(waiting))
            .update(status=TelemetryRun.Status.DONE, finished_at=timezone.now())
        )
        if closed:
            audit.record_run_end(
                TelemetryRun.objects.select_related("config", "version").get(pk=run_id)
            )
            return True
    return False


def telemetry_run_fail(*, run_id: int, error: str) -> bool:
    """End an active run as failed (its task died, could not be queued, or was lost): its
    waiting deployments fail with it, so nothing stays pending. True if this call ended it."""
    now = timezone.now()
    with transaction.atomic():
        failed = TelemetryRun.objects.filter(pk=run_id, status__in=TelemetryRun.ACTIVE).update(
            status=TelemetryRun.Status.FAILED, error=error[:300], finished_at=now
        )
        if not failed:
            return False
        TelemetryDeployment.objects.filter(run_id=run_id, status__in=RUN_WAITING).update(
            status=Status.FAILED,
            error=_("The push did not finish: %(error)s") % {"error": error},
            pushed_at=now,
        )
        audit.record_run_end(
            TelemetryRun.objects.select_related("config", "version").get(pk=run_id)
        )
    return True


def telemetry_runs_sweep() -> dict[str, int]:
    """Beat's safety net: every run ends, even when its task was lost.

    A run silent for TELEMETRY_RUN_STALE_SECONDS lost its task (a worker killed mid-task on
    the filesystem broker loses the message; Redis gives it back only after its visibility
    timeout): its remaining work is queued again, up to TELEMETRY_RUN_MAX_REDISPATCHES
    times, then the run fails. A re-queued task that turns out to be a duplicate is harmless:
    the link task skips rows already recorded and closed runs. A lost chunk task is covered
    the same way: its links still have pending rows, and each gets a one-link task here.
    """
    now = timezone.now()
    cutoff = now - _run_stale()
    stale = TelemetryRun.objects.filter(status__in=TelemetryRun.ACTIVE).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    counts = {"requeued": 0, "failed": 0, "closed": 0}
    for run in stale.order_by("pk"):
        if run.redispatches >= settings.TELEMETRY_RUN_MAX_REDISPATCHES:
            if telemetry_run_fail(run_id=run.pk, error="lost: no worker finished it"):
                counts["failed"] += 1
            continue
        # Conditional on what was read: a run that moved meanwhile is left to its task.
        claimed = (
            TelemetryRun.objects.filter(pk=run.pk, status=run.status)
            .filter(Q(heartbeat_at=run.heartbeat_at) if run.heartbeat_at else Q(heartbeat_at=None))
            .update(heartbeat_at=now, redispatches=F("redispatches") + 1)
        )
        if not claimed:
            continue
        try:
            if run.status == TelemetryRun.Status.QUEUED:
                enqueue(PUSH_TASK, run.pk, run_id=run.pk)
                counts["requeued"] += 1
                continue
            link_ids = links_with_work(run.pk)
            if not link_ids:
                # Nothing a task could do (e.g. the account was unlinked): end it now.
                TelemetryDeployment.objects.filter(run_id=run.pk, status__in=RUN_WAITING).update(
                    status=Status.FAILED,
                    error=no_owner_link(),
                    pushed_at=now,
                )
                counts["closed"] += close_if_finished(run.pk)
                continue
            for link_id in link_ids:
                enqueue(PUSH_LINK_TASK, run.pk, link_id, run_id=run.pk)
            counts["requeued"] += 1
        except queueing.QueueUnavailable:
            counts["failed"] += 1
            break  # the broker is down: the runs are marked, the next sweep sees the rest
    return counts
