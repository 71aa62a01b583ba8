"""The telemetry audit log: who did what to which config, and how runs ended."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count
from django.utils.translation import gettext as _

from accounts.models import User
from telemetry import selectors
from telemetry.models import (
    TelemetryAuditEntry,
    TelemetryConfig,
    TelemetryConfigVersion,
    TelemetryDeployment,
    TelemetryRun,
)

Status = TelemetryDeployment.Status
Action = TelemetryAuditEntry.Action


def record(
    *,
    action: str,
    config: TelemetryConfig,
    user: User | None,
    version: TelemetryConfigVersion | None = None,
    vins: Iterable[str] = (),
    outcome: str = "",
    counts: dict | None = None,
) -> TelemetryAuditEntry:
    return TelemetryAuditEntry.objects.create(
        actor=user,
        actor_email=user.email if user is not None else "",
        action=action,
        config=config,
        config_name=config.name,
        version_number=version.number if version else None,
        vins=sorted(vins),
        outcome=outcome,
        counts=counts or {},
    )


def record_run_end(run: TelemetryRun) -> None:
    """The audit entry for a run that ended: its counts, and how it ended when not done."""
    counts = selectors.run_counts(run)
    reasons = dict(
        run.deployments.filter(status=Status.SKIPPED)
        .order_by()
        .values_list("reason")
        .annotate(n=Count("pk"))
    )
    outcome = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
    if reasons:
        outcome += " (" + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items())) + ")"
    if run.status != TelemetryRun.Status.DONE:
        # How it ended, when not by finishing its work: replaced, or failed and why.
        ended = (
            f"{run.get_status_display()}: {run.error}" if run.error else run.get_status_display()
        )
        outcome = f"{ended}; {outcome}" if outcome else str(ended)
    action = {
        TelemetryRun.Kind.PUSH: Action.PUSHED,
        TelemetryRun.Kind.RESIGN: Action.RESIGNED,
        TelemetryRun.Kind.REMOVE: Action.REMOVED,
    }[run.kind]
    record(
        action=action,
        config=run.config,
        user=run.created_by,
        version=run.version,
        vins=run.deployments.values_list("vehicle__vin", flat=True),
        outcome=outcome or _("nothing to do"),
        counts={
            "statuses": counts,
            "reasons": reasons,
            "ended": run.status,
            "error": run.error,
        },
    )
