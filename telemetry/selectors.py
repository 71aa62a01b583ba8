"""Reads for telemetry: permission, the config pages, and an owner's read-only view."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from accounts.models import User
from fleetportal.permissions import MANAGE_TELEMETRY, has_staff_permission
from telemetry.models import (
    TelemetryAssignment,
    TelemetryAuditEntry,
    TelemetryConfig,
    TelemetryDeployment,
    TelemetryRun,
)
from vehicles.models import Vehicle

PERMISSION = MANAGE_TELEMETRY


def can_manage(user: User) -> bool:
    """Superusers, and staff holding the telemetry permission."""
    return has_staff_permission(user, PERMISSION)


def configs() -> QuerySet[TelemetryConfig]:
    return TelemetryConfig.objects.annotate(
        n_fields=Count("fields", distinct=True), n_vehicles=Count("assignments", distinct=True)
    ).order_by("name")


def config_deployments(*, config: TelemetryConfig) -> list[dict[str, Any]]:
    """One row per assigned vehicle: its latest deployment of any version of this config."""
    assignments = list(
        TelemetryAssignment.objects.filter(config=config)
        .select_related("vehicle")
        .order_by("vehicle__vin")
    )
    latest: dict[int, TelemetryDeployment] = {}
    rows = (
        TelemetryDeployment.objects.filter(
            version__config=config, vehicle_id__in=[a.vehicle_id for a in assignments]
        )
        .select_related("version")
        .order_by("vehicle_id", "-updated_at", "-pk")
    )
    for row in rows:
        latest.setdefault(row.vehicle_id, row)
    return [{"vehicle": a.vehicle, "deployment": latest.get(a.vehicle_id)} for a in assignments]


def latest_run(*, config: TelemetryConfig) -> TelemetryRun | None:
    return config.runs.select_related("version").order_by("-created_at", "-pk").first()


def run_for_user(*, user: User, run_id: int) -> TelemetryRun | None:
    if not can_manage(user):
        return None
    return TelemetryRun.objects.select_related("version", "config").filter(pk=run_id).first()


def audit_for_config(*, config: TelemetryConfig, limit: int = 50) -> list[TelemetryAuditEntry]:
    return list(TelemetryAuditEntry.objects.filter(config=config)[:limit])


def vehicle_state(*, vehicle: Vehicle, viewer: User) -> dict[str, Any]:
    """What the viewer sees: the assigned config and where its newest deployment stands.

    The caller has already scoped `vehicle` to the viewer (their own current access, or the
    telemetry permission). The deployment's error text is shown only to managers and to the
    user whose link the push went through: it can carry that link's relink reason, which is
    theirs alone (a driver of the same car must not read the owner's).
    """
    assignment = (
        TelemetryAssignment.objects.select_related("config").filter(vehicle=vehicle).first()
    )
    deployment = (
        TelemetryDeployment.objects.filter(vehicle=vehicle)
        .select_related("version__config", "link")
        .order_by("-updated_at", "-pk")
        .first()
    )
    error_visible = deployment is not None and (
        deployment.link is None or deployment.link.user_id == viewer.pk or can_manage(viewer)
    )
    return {"assignment": assignment, "deployment": deployment, "error_visible": error_visible}
