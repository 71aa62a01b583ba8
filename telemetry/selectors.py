"""Reads for telemetry: permission, the config pages, runs, owner links, and an owner's
read-only view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import TeslaLink, User
from fleetportal.permissions import MANAGE_TELEMETRY, has_staff_permission
from telemetry import catalogue, explanations
from telemetry.models import (
    StreamConsumer,
    StreamDrop,
    StreamEvent,
    StreamFieldDay,
    StreamSignalDay,
    TelemetryAssignment,
    TelemetryAuditEntry,
    TelemetryConfig,
    TelemetryConfigVersion,
    TelemetryDeployment,
    TelemetryRun,
    VehicleStream,
)
from vehicles.models import Vehicle, VehicleAccess

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


def revision_of(updated_at: dt.datetime | None) -> str:
    """A config's revision as the builder's hidden field carries it."""
    return updated_at.isoformat() if updated_at else ""


def config_revision(config: TelemetryConfig) -> str:
    """The config's revision as saved now (what the builder's hidden field must carry)."""
    updated = TelemetryConfig.objects.filter(pk=config.pk).values_list("updated_at", flat=True)
    return revision_of(updated.first())


def current_version(*, config: TelemetryConfig) -> TelemetryConfigVersion | None:
    return config.versions.order_by("-number").first()


def stale_count(rows: Iterable[dict[str, Any]], current: TelemetryConfigVersion | None) -> int:
    """How many of `config_deployments` rows are not on (or not headed to) the current
    version: the config page offers a re-push when there are any."""
    return sum(
        1
        for r in rows
        if current is None
        or (
            r["deployment"] is None
            or r["deployment"].version_id != current.pk
            or r["deployment"].status == TelemetryDeployment.Status.REMOVED
        )
    )


def recorded_errors(*, limit: int = 200) -> QuerySet[TelemetryDeployment]:
    """The newest deployments Tesla or a car refused, or that failed, for the error inbox."""
    return (
        TelemetryDeployment.objects.filter(
            status__in=(TelemetryDeployment.Status.REJECTED, TelemetryDeployment.Status.FAILED)
        )
        .select_related("vehicle", "version__config")
        .order_by("-updated_at")[:limit]
    )


def skipped_deployments(*, limit: int = 200) -> QuerySet[TelemetryDeployment]:
    """The newest deployments Tesla skipped (§5.4), with their reason, for the error inbox."""
    return (
        TelemetryDeployment.objects.filter(status=TelemetryDeployment.Status.SKIPPED)
        .select_related("vehicle", "version__config")
        .order_by("-updated_at")[:limit]
    )


def latest_run(*, config: TelemetryConfig) -> TelemetryRun | None:
    return config.runs.select_related("version").order_by("-created_at", "-pk").first()


def audit_for_config(*, config: TelemetryConfig, limit: int = 50) -> list[TelemetryAuditEntry]:
    return list(TelemetryAuditEntry.objects.filter(config=config)[:limit])


def vehicle_owner_link(*, vehicle: Vehicle) -> TeslaLink | None:
    """The owner's link a manager's read of this car would go through (shown before use)."""
    return owner_link(vehicle.pk)


class OwnerLink(NamedTuple):
    """What a push needs to know of a link, without loading (and decrypting) its tokens."""

    pk: int
    scopes: list[str]
    broken: bool


def location_problems(
    *,
    config: TelemetryConfig,
    vehicles: Iterable[Vehicle],
    links: dict[int, OwnerLink] | None = None,
) -> dict[int, str]:
    """Vehicle id → why a location field cannot go to it (its owner link lacks the scope)."""
    names = set(config.fields.values_list("name", flat=True))
    if not names & catalogue.LOCATION_FIELDS:
        return {}
    if links is None:
        links = owner_links([v.pk for v in vehicles])
    message = _(
        "The config includes location fields, but the owner's Tesla account did not grant "
        "vehicle_location: relink it with that permission or remove the location fields."
    )
    return {
        vehicle_id: message
        for vehicle_id, link in links.items()
        if "vehicle_location" not in (link.scopes or [])
    }


# Fleet Telemetry client 1.0.0 (software 2025.2.6, or 2024.45.32.20 on that branch) brought
# delivery_policy and a minimum change for Location (docs/tesla-api-notes.md §5.5).
CLIENT_1_0 = (1, 0, 0)


def client_problems(*, config: TelemetryConfig, vehicles: Iterable[Vehicle]) -> dict[int, str]:
    """Vehicle id → why the car would refuse this config: its telemetry client (from
    fleet_status) is older than what the config asks for. Cars whose version is unknown are
    left out: nothing is known to be wrong with them."""
    needs = []
    if config.delivery_policy:
        needs.append(_("delivery policy"))
    if config.fields.filter(name="Location", minimum_delta__isnull=False).exists():
        needs.append(_("a minimum change for Location"))
    if not needs:
        return {}
    problems = {}
    for vehicle in vehicles:
        version = catalogue.version_key(vehicle.telemetry_version)
        if version is not None and version < CLIENT_1_0:
            problems[vehicle.pk] = _(
                "This car runs telemetry client %(version)s: %(needs)s need client 1.0.0 "
                "(software 2025.2.6 or newer), so the car would refuse the config. Ask the "
                "owner to update the car, or remove them from the config."
            ) % {"version": vehicle.telemetry_version, "needs": ", ".join(needs)}
    return problems


def firmware_warnings(*, config: TelemetryConfig, names: Iterable[str]) -> list[str]:
    """For the builder: each field the config's assigned cars cannot all send, with how many
    run software below the field's minimum (they report unsupported_field and send the rest).
    Cars whose software is unknown are not counted."""
    versions = [
        key
        for key in (
            catalogue.version_key(v)
            for v in Vehicle.objects.filter(telemetry_assignment__config=config).values_list(
                "firmware_version", flat=True
            )
        )
        if key is not None
    ]
    warnings = []
    for name in sorted(set(names)):
        older = sum(1 for key in versions if catalogue.firmware_supports(name, key) is False)
        if older:
            warnings.append(
                ngettext(
                    "%(field)s needs software %(firmware)s: %(n)d assigned car runs older "
                    "software and will not send it.",
                    "%(field)s needs software %(firmware)s: %(n)d assigned cars run older "
                    "software and will not send it.",
                    older,
                )
                % {
                    "field": name,
                    "firmware": catalogue.details_for(name).min_firmware,
                    "n": older,
                }
            )
    return warnings


def owner_links(vehicle_ids: list[int]) -> dict[int, OwnerLink]:
    """Vehicle id → the link to push through: an owner's (DRIVER accounts make Tesla refuse
    the whole request, §4.2), still listing the car, healthy first."""
    rows = (
        VehicleAccess.objects.filter(
            vehicle_id__in=vehicle_ids,
            access_type=VehicleAccess.AccessType.OWNER,
            gone_at__isnull=True,
        )
        .order_by("pk")
        .values_list("vehicle_id", "link_id", "link__scopes", "link__health")
    )
    chosen: dict[int, OwnerLink] = {}
    for vehicle_id, link_id, scopes, health in rows:
        link = OwnerLink(link_id, scopes or [], health in TeslaLink.BROKEN)
        current = chosen.get(vehicle_id)
        if current is None or (current.broken and not link.broken):
            chosen[vehicle_id] = link
    return chosen


def owner_link(vehicle_id: int) -> TeslaLink | None:
    """The owner's link a push or a manager's read of this car goes through, or None."""
    link = owner_links([vehicle_id]).get(vehicle_id)
    return TeslaLink.objects.filter(pk=link.pk).first() if link else None


def run_counts(run: TelemetryRun) -> dict[str, int]:
    """Deployment status -> how many of the run's vehicles are in it."""
    rows = run.deployments.order_by().values_list("status").annotate(n=Count("pk"))
    return dict(rows)


# How a run's deployment statuses count in its outcome: accepted, skipped or failed.
OUTCOME_OF = {
    TelemetryDeployment.Status.UPDATED: "accepted",
    TelemetryDeployment.Status.SYNCED: "accepted",
    TelemetryDeployment.Status.DRIFT: "accepted",
    TelemetryDeployment.Status.REMOVED: "accepted",
    TelemetryDeployment.Status.SKIPPED: "skipped",
    TelemetryDeployment.Status.FAILED: "failed",
    TelemetryDeployment.Status.REJECTED: "failed",
    TelemetryDeployment.Status.LIMIT_REACHED: "failed",
}


def run_outcome(counts: dict[str, int]) -> dict[str, int]:
    """A run's `run_counts` as accepted / skipped / failed (pending and others left out)."""
    outcome = {"accepted": 0, "skipped": 0, "failed": 0}
    for status, n in counts.items():
        if status in OUTCOME_OF:
            outcome[OUTCOME_OF[status]] += n
    return outcome


def run_outcome_text(outcome: dict[str, int]) -> str:
    """ "1 accepted, 5 skipped, 0 failed", translated."""
    return _("%(accepted)d accepted, %(skipped)d skipped, %(failed)d failed") % outcome


def audit_outcome(entry: TelemetryAuditEntry) -> str:
    """An audit entry's outcome in the reader's language: a run's end from its counts
    ("2 accepted, 4 skipped, 0 failed — key not paired: 4"), other outcomes as recorded
    (in English, translated when they are one of the portal's messages)."""
    counts = entry.counts or {}
    if "statuses" not in counts:
        return _(entry.outcome) if entry.outcome else ""
    text = run_outcome_text(run_outcome(counts["statuses"]))
    pending = counts["statuses"].get(TelemetryDeployment.Status.PENDING, 0)
    if pending:
        text += ", " + _("%(n)d not answered") % {"n": pending}
    reasons = counts.get("reasons") or {}
    if reasons:
        text += " — " + ", ".join(
            f"{explanations.explain_skip(reason)['label']}: {n}"
            for reason, n in sorted(reasons.items())
        )
    ended = counts.get("ended")
    if ended and ended != TelemetryRun.Status.DONE and ended in TelemetryRun.Status.values:
        label = str(TelemetryRun.Status(ended).label)
        error = counts.get("error") or ""
        text = f"{label}: {error}; {text}" if error else f"{label}; {text}"
    return text


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


def stream_events(*, vehicle: Vehicle | None = None, limit: int = 200) -> list[StreamEvent]:
    """The newest errors and alerts cars reported through the stream (one car's, or all),
    each error with its `explanation` ("" when unknown)."""
    rows = StreamEvent.objects.select_related("vehicle").order_by("-received_at", "-pk")
    if vehicle is not None:
        rows = rows.filter(vehicle=vehicle)
    events = list(rows[:limit])
    for event in events:
        event.explanation = (
            explanations.explain_stream_error(event.name)
            if event.kind == StreamEvent.Kind.ERROR
            else ""
        )
    return events


def stream_drops(*, days: int = 7, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Input the consumer set aside, per kind over the last `days` UTC days (today included):
    how many today and over the period, and the last topic seen."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    rows = StreamDrop.objects.filter(day__gt=today - dt.timedelta(days=days)).order_by(
        "kind", "-day"
    )
    kinds: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = kinds.setdefault(
            row.kind,
            {
                "kind": row.kind,
                "label": row.get_kind_display(),
                "today": 0,
                "total": 0,
                "last_topic": row.last_topic,
                "last_seen_at": row.last_seen_at,
            },
        )
        entry["total"] += row.count
        if row.day == today:
            entry["today"] += row.count
        if row.last_seen_at and (
            entry["last_seen_at"] is None or row.last_seen_at > entry["last_seen_at"]
        ):
            entry["last_seen_at"], entry["last_topic"] = row.last_seen_at, row.last_topic
    return sorted(kinds.values(), key=lambda e: -e["total"])


def vehicle_stream(*, vehicle: Vehicle) -> VehicleStream | None:
    return VehicleStream.objects.filter(vehicle=vehicle).first()


def stream_consumers() -> list[StreamConsumer]:
    return list(StreamConsumer.objects.order_by("client_id"))


def signal_days(first: dt.date, last: dt.date) -> list[tuple[dt.date, str, str, str, int]]:
    """Streamed signals per vehicle per UTC day, with the vehicle's region, VIN and the name of
    the configuration assigned to it now ("" for none) (usage)."""
    rows = StreamSignalDay.objects.filter(day__gte=first, day__lte=last).values_list(
        "day",
        "vehicle__region",
        "vehicle__vin",
        "vehicle__telemetry_assignment__config__name",
        "signals",
    )
    return [(day, region, vin, config or "", n) for day, region, vin, config, n in rows]


def field_days(first: dt.date, last: dt.date) -> list[tuple[dt.date, str, int]]:
    """Streamed signals per field per UTC day, over all vehicles (usage: the busiest fields)."""
    rows = StreamFieldDay.objects.filter(day__gte=first, day__lte=last)
    return list(rows.values_list("day", "field", "signals"))
