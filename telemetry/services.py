"""Writes for telemetry: versions, assignments, signed pushes, reconcile, removal, re-sign.

Tesla's flow (§5.2-5.4): sign the config as a Tesla.SS256 JWS with the partner key, POST
it with the owner's token to `fleet_telemetry_config_jws` (one call per linked account with
that account's VINs), then poll `GET fleet_telemetry_config` until the car has adopted it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import TeslaLink, User
from accounts.services import LinkBroken, link_fleet_call
from fleetportal import queueing
from partners import selectors as partner_selectors
from partners.selectors import PartnerKeyMissing
from telemetry import catalogue
from telemetry.models import (
    TelemetryAssignment,
    TelemetryAuditEntry,
    TelemetryConfig,
    TelemetryConfigVersion,
    TelemetryDeployment,
    TelemetryRun,
)
from teslafleet import jws
from teslafleet.errors import TeslaError, TransientError
from vehicles.models import Vehicle, VehicleAccess

logger = logging.getLogger(__name__)

Status = TelemetryDeployment.Status
Action = TelemetryAuditEntry.Action
SKIP_REASONS = ("missing_key", "unsupported_hardware", "unsupported_firmware", "max_configs")
# A run's deployments still waiting for its tasks: the run ends when none is left.
RUN_WAITING = (Status.PENDING, Status.REMOVING)


def _batch_size() -> int:
    # Tesla suggests few VINs per call (§5.3); one call per link up to this many.
    return settings.TELEMETRY_PUSH_BATCH


def _resign_margin() -> dt.timedelta:
    return dt.timedelta(seconds=settings.TELEMETRY_RESIGN_MARGIN_SECONDS)


def _recheck_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.TELEMETRY_RECHECK_SECONDS)


def _run_stale() -> dt.timedelta:
    return dt.timedelta(seconds=settings.TELEMETRY_RUN_STALE_SECONDS)


# --- versions ------------------------------------------------------------------------------


def config_payload(config: TelemetryConfig) -> dict[str, Any]:
    """The config body Tesla receives, before the signer adds iss and aud (§5.3)."""
    fields: dict[str, dict[str, Any]] = {}
    for field in config.fields.order_by("name"):
        spec: dict[str, Any] = {"interval_seconds": field.interval_seconds}
        if field.minimum_delta is not None:
            spec["minimum_delta"] = field.minimum_delta
        if field.resend_interval_seconds is not None:
            spec["resend_interval_seconds"] = field.resend_interval_seconds
        fields[field.name] = spec
    payload: dict[str, Any] = {
        "hostname": config.hostname,
        # A JSON number: a string port silently broke streaming (fleet-telemetry #119).
        "port": int(config.port),
        "ca": config.ca,
        "fields": fields,
        "prefer_typed": bool(config.prefer_typed),
    }
    if config.exp is not None:
        payload["exp"] = int(config.exp.timestamp())
    if config.delivery_policy:
        payload["delivery_policy"] = config.delivery_policy
    if config.alert_types:
        payload["alert_types"] = list(config.alert_types)
    return payload


def content_hash(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def telemetry_version_current(
    *, config: TelemetryConfig, user: User | None = None
) -> TelemetryConfigVersion:
    """The version for the config as it is now: an existing one with the same content, or a
    new one. A version is never changed, so a car's config can be compared with ours."""
    payload = config_payload(config)
    digest = content_hash(payload)
    with transaction.atomic():
        # Locked so two saves of one config cannot both take the same next number.
        TelemetryConfig.objects.select_for_update().filter(pk=config.pk).first()
        existing = config.versions.filter(content_hash=digest).first()
        if existing is not None:
            return existing
        last = config.versions.order_by("-number").values_list("number", flat=True).first()
        return TelemetryConfigVersion.objects.create(
            config=config,
            number=(last or 0) + 1,
            content_hash=digest,
            payload=payload,
            created_by=user,
        )


def _audit(
    *,
    action: str,
    config: TelemetryConfig,
    user: User | None,
    version: TelemetryConfigVersion | None = None,
    vins: Iterable[str] = (),
    outcome: str = "",
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
    )


def telemetry_config_saved(
    *, config: TelemetryConfig, user: User | None, created: bool
) -> TelemetryConfigVersion:
    """After the builder or the admin saved a config and its fields: version and audit."""
    before = config.versions.count()
    version = telemetry_version_current(config=config, user=user)
    is_new = config.versions.count() > before
    _audit(
        action=Action.CREATED if created else Action.EDITED,
        config=config,
        user=user,
        version=version,
        outcome=_("new version") if is_new else _("content unchanged"),
    )
    return version


# --- assignments ---------------------------------------------------------------------------


def telemetry_config_assign(
    *, config: TelemetryConfig, vins: list[str], user: User | None
) -> tuple[list[str], list[str]]:
    """Assign the config to the vehicles with these VINs (moving them off another config);
    returns (assigned VINs, unknown VINs)."""
    vehicles = list(Vehicle.objects.filter(vin__in=vins))
    found = {v.vin for v in vehicles}
    with transaction.atomic():
        for vehicle in vehicles:
            TelemetryAssignment.objects.update_or_create(
                vehicle=vehicle, defaults={"config": config, "assigned_by": user}
            )
        if vehicles:
            _audit(action=Action.ASSIGNED, config=config, user=user, vins=found)
    return sorted(found), sorted(set(vins) - found)


def telemetry_config_unassign(
    *, config: TelemetryConfig, vehicle_ids: list[int], user: User | None
) -> int:
    rows = TelemetryAssignment.objects.filter(config=config, vehicle_id__in=vehicle_ids)
    vins = list(rows.values_list("vehicle__vin", flat=True))
    deleted, _unused = rows.delete()
    if deleted:
        _audit(action=Action.UNASSIGNED, config=config, user=user, vins=vins)
    return deleted


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
        links = _owner_links([v.pk for v in vehicles])
    message = _(
        "The config includes location fields, but the owner's Tesla account did not grant "
        "vehicle_location: relink it with that permission or remove the location fields."
    )
    return {
        vehicle_id: message
        for vehicle_id, link in links.items()
        if "vehicle_location" not in (link.scopes or [])
    }


def _owner_links(vehicle_ids: list[int]) -> dict[int, OwnerLink]:
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


def _owner_link(vehicle_id: int) -> TeslaLink | None:
    link = _owner_links([vehicle_id]).get(vehicle_id)
    return TeslaLink.objects.filter(pk=link.pk).first() if link else None


# --- push ----------------------------------------------------------------------------------


class VehicleRef(NamedTuple):
    pk: int
    vin: str


def telemetry_push_start(
    *,
    config: TelemetryConfig,
    user: User | None,
    vehicle_ids: list[int] | None = None,
    kind: str = TelemetryRun.Kind.PUSH,
) -> TelemetryRun:
    """Record a run and a pending deployment per assigned vehicle, then queue the push.

    One push per config is active: a new push (or re-sign) replaces an active one, which ends
    as "superseded"; its cars the new push covers go with it, the others are marked not pushed.
    Raises QueueUnavailable, with nothing changed, when the broker does not answer.
    """
    from telemetry.tasks import telemetry_push

    # Before any write: a push resets its cars' deployments to pending, which a failed
    # queueing could not undo.
    queueing.broker_check()
    version = telemetry_version_current(config=config, user=user)
    assigned = TelemetryAssignment.objects.filter(config=config)
    if vehicle_ids is not None:
        assigned = assigned.filter(vehicle_id__in=vehicle_ids)
    vehicles = [
        VehicleRef(*values)
        for values in assigned.order_by("vehicle__vin").values_list("vehicle_id", "vehicle__vin")
    ]
    links = _owner_links([v.pk for v in vehicles])
    no_location = location_problems(config=config, vehicles=vehicles, links=links)
    now = timezone.now()
    with transaction.atomic():
        # The config row lock serialises runs of one config: two pushes at once would both
        # insert the same (vehicle, version) deployments (an IntegrityError on PostgreSQL),
        # and the later one must see the earlier run to supersede it.
        TelemetryConfig.objects.select_for_update().filter(pk=config.pk).first()
        run = TelemetryRun.objects.create(
            config=config,
            version=version,
            kind=kind,
            total=len(vehicles),
            created_by=user,
            heartbeat_at=now,
        )
        # Grouped UPDATEs and one INSERT, not bulk_update: its CASE per row costs more than
        # the push itself at fleet sizes (bench_telemetry).
        existing = set(
            TelemetryDeployment.objects.filter(
                version=version, vehicle_id__in=[v.pk for v in vehicles]
            ).values_list("vehicle_id", flat=True)
        )
        groups: dict[tuple[int | None, str, str], list[int]] = defaultdict(list)
        new = []
        for vehicle in vehicles:
            link = links.get(vehicle.pk)
            status, error = Status.PENDING, ""
            if link is None:
                status = Status.FAILED
                error = _(
                    "No linked owner account lists this vehicle: Tesla accepts telemetry "
                    "configs only from the owner's account."
                )
            elif vehicle.pk in no_location:
                status, error = Status.FAILED, no_location[vehicle.pk]
            if vehicle.pk in existing:
                groups[(link.pk if link else None, status, error)].append(vehicle.pk)
            else:
                new.append(
                    TelemetryDeployment(
                        vehicle_id=vehicle.pk,
                        version=version,
                        run=run,
                        link_id=link.pk if link else None,
                        status=status,
                        error=error,
                        pushed_at=now if status == Status.FAILED else None,
                    )
                )
        TelemetryDeployment.objects.bulk_create(new)
        for (link_id, status, error), ids in groups.items():
            TelemetryDeployment.objects.filter(version=version, vehicle_id__in=ids).update(
                run=run,
                link_id=link_id,
                status=status,
                reason="",
                error=error,
                pushed_at=now if status == Status.FAILED else None,
            )
        _supersede_pushes(config=config, by=run, vehicle_ids=[v.pk for v in vehicles])
        pending_links = {
            links[v.pk].pk for v in vehicles if v.pk in links and v.pk not in no_location
        }
        run.links_total = len(pending_links)
        if not pending_links:
            run.status, run.finished_at = TelemetryRun.Status.DONE, now
        run.save(update_fields=["links_total", "status", "finished_at"])
        _audit(
            action=Action.RESIGNED if kind == TelemetryRun.Kind.RESIGN else Action.PUSHED,
            config=config,
            user=user,
            version=version,
            vins=[v.vin for v in vehicles],
            outcome=_("queued for the worker"),
        )
        if not pending_links:
            _finish_audit(run)
    if pending_links:
        _enqueue(telemetry_push, run.pk, run_id=run.pk)
    return run


def _supersede_pushes(*, config: TelemetryConfig, by: TelemetryRun, vehicle_ids: list[int]) -> None:
    """End the config's other active pushes: `by` replaces them (under the config lock).

    Their deployments `by` re-pointed to itself (same version) are its own now; what is left
    waiting is replaced (a car `by` pushes another version to) or not pushed at all.
    """
    older = list(
        TelemetryRun.objects.filter(
            config=config,
            status__in=TelemetryRun.ACTIVE,
            kind__in=(TelemetryRun.Kind.PUSH, TelemetryRun.Kind.RESIGN),
        )
        .exclude(pk=by.pk)
        .values_list("pk", flat=True)
    )
    if not older:
        return
    now = timezone.now()
    waiting = TelemetryDeployment.objects.filter(run_id__in=older, status=Status.PENDING)
    waiting.filter(vehicle_id__in=vehicle_ids).update(status=Status.SUPERSEDED)
    waiting.update(
        status=Status.FAILED,
        error=_("Not pushed: a newer push of this configuration replaced this one."),
        pushed_at=now,
    )
    TelemetryRun.objects.filter(pk__in=older, status__in=TelemetryRun.ACTIVE).update(
        status=TelemetryRun.Status.SUPERSEDED,
        error=f"replaced by push {by.pk}",
        finished_at=now,
    )
    for run in TelemetryRun.objects.filter(pk__in=older).select_related("config", "version"):
        _finish_audit(run)


def _enqueue(task: Any, *args: Any, run_id: int) -> None:
    """Queue a run's task; if the broker refuses it, the run fails at once (nothing queued)."""
    queueing.enqueue(
        task,
        *args,
        on_error=lambda error: telemetry_run_fail(
            run_id=run_id, error=f"could not be queued: {error}"
        ),
    )


def telemetry_remove_start(
    *, config: TelemetryConfig, user: User | None, vehicle_ids: list[int]
) -> TelemetryRun:
    """Remove the config from these vehicles (DELETE on each car) and unassign them."""
    from telemetry.tasks import telemetry_push

    # Before any write: a removal unassigns its cars, which a failed queueing could not undo.
    queueing.broker_check()
    version = telemetry_version_current(config=config, user=user)
    vehicles = list(Vehicle.objects.filter(pk__in=vehicle_ids))
    links = _owner_links(vehicle_ids)
    now = timezone.now()
    with transaction.atomic():
        # Serialised with the config's pushes (see telemetry_push_start). A removal does not
        # end an active push: it takes over its own cars' deployments, and the push ends when
        # the rest of its cars are done.
        TelemetryConfig.objects.select_for_update().filter(pk=config.pk).first()
        run = TelemetryRun.objects.create(
            config=config,
            version=version,
            kind=TelemetryRun.Kind.REMOVE,
            total=len(vehicles),
            created_by=user,
            heartbeat_at=now,
        )
        # A push still on its way to these cars (an older version) must not put it back.
        TelemetryDeployment.objects.filter(
            version__config=config, vehicle_id__in=vehicle_ids, status=Status.PENDING
        ).exclude(version=version).update(
            status=Status.FAILED,
            error=_("Not pushed: the configuration is being removed from this vehicle."),
            pushed_at=now,
        )
        # Whatever version of ours is on the car goes: the DELETE removes our app's config.
        TelemetryDeployment.objects.filter(
            version__config=config,
            vehicle_id__in=vehicle_ids,
            status__in=TelemetryDeployment.ON_CAR,
        ).exclude(version=version).update(status=Status.SUPERSEDED)
        for vehicle in vehicles:
            link = links.get(vehicle.pk)
            TelemetryDeployment.objects.update_or_create(
                vehicle=vehicle,
                version=version,
                defaults={
                    "run": run,
                    "link_id": link.pk if link else None,
                    "status": Status.REMOVING if link else Status.FAILED,
                    "reason": "",
                    "error": "" if link else _("No linked owner account lists this vehicle."),
                },
            )
        TelemetryAssignment.objects.filter(config=config, vehicle_id__in=vehicle_ids).delete()
        run.links_total = len({links[v.pk].pk for v in vehicles if v.pk in links})
        if not run.links_total:
            run.status, run.finished_at = TelemetryRun.Status.DONE, now
        run.save(update_fields=["links_total", "status", "finished_at"])
        _audit(
            action=Action.REMOVED,
            config=config,
            user=user,
            version=version,
            vins=[v.vin for v in vehicles],
            outcome=_("queued for the worker"),
        )
        if not run.links_total:
            _finish_audit(run)
    if run.links_total:
        _enqueue(telemetry_push, run.pk, run_id=run.pk)
    return run


def telemetry_push_dispatch(*, run_id: int) -> list[int]:
    """Mark the run running and return the links that still have work, one task each."""
    updated = TelemetryRun.objects.filter(pk=run_id, status=TelemetryRun.Status.QUEUED).update(
        status=TelemetryRun.Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    if not updated:
        return []  # a redelivered message: the first delivery dispatched already
    return _links_with_work(run_id)


def _links_with_work(run_id: int) -> list[int]:
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


def _signed_token(version: TelemetryConfigVersion) -> str:
    return jws.sign(partner_selectors.partner_private_key(), version.payload)


def telemetry_push_link(*, run_id: int, link_id: int, final: bool = True) -> str:
    """Push (or remove) one run's config for one link's vehicles; record each vehicle.

    Transient Tesla errors propagate (the task retries) unless `final`, when they are recorded
    as failures.
    """
    run = TelemetryRun.objects.select_related("version").filter(pk=run_id).first()
    if run is None or run.status != TelemetryRun.Status.RUNNING:
        # Superseded by a newer push, failed, or already finished (a re-queued duplicate).
        return "closed"
    telemetry_run_heartbeat(run_id=run.pk)
    waiting = Status.REMOVING if run.kind == TelemetryRun.Kind.REMOVE else Status.PENDING
    # Plain tuples, not model rows: at fleet sizes building Vehicle objects costs more CPU
    # than the call to Tesla (bench_telemetry).
    rows = [
        Row(*values)
        for values in TelemetryDeployment.objects.filter(run=run, link_id=link_id, status=waiting)
        .order_by("vehicle__vin")
        .values_list("pk", "vehicle_id", "vehicle__vin")
    ]
    if rows:
        link = TeslaLink.objects.get(pk=link_id)
        if run.kind == TelemetryRun.Kind.REMOVE:
            _remove_rows(link, rows, final=final)
        else:
            _push_rows(run, link, rows, final=final)
    return _link_done(run)


class Row(NamedTuple):
    pk: int
    vehicle_id: int
    vin: str


def _push_rows(run: TelemetryRun, link: TeslaLink, rows: list[Row], *, final: bool) -> None:
    try:
        token = _signed_token(run.version)
    except PartnerKeyMissing as exc:
        _fail(rows, str(exc))
        return
    size = _batch_size()
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        vins = [row.vin for row in chunk]
        try:
            answer = link_fleet_call(
                link=link, call=lambda c, v=vins: c.fleet_telemetry_config_jws(v, token)
            )
        except LinkBroken as exc:
            _fail(chunk, _("The Tesla account needs a relink: %(why)s") % {"why": exc})
            continue
        except TransientError as exc:
            if not final:
                raise
            _fail(chunk, str(exc))
            continue
        except TeslaError as exc:
            _fail(chunk, str(exc))
            continue
        _record_answer(run, chunk, answer)


def _record_answer(run: TelemetryRun, rows: list[Row], answer: dict[str, Any]) -> None:
    """updated_vehicles is a count: every VIN not listed as skipped counts as updated."""
    skipped: dict[str, list[int]] = defaultdict(list)
    reasons = {}
    for reason, vins in (answer.get("skipped_vehicles") or {}).items():
        for vin in vins or []:
            reasons[str(vin)] = str(reason)[:32]
    updated_ids, updated_vehicles = [], []
    for row in rows:
        if row.vin in reasons:
            skipped[reasons[row.vin]].append(row.pk)
        else:
            updated_ids.append(row.pk)
            updated_vehicles.append(row.vehicle_id)
    now = timezone.now()
    common = {"pushed_at": now, "checked_at": None, "error": ""}
    # Tesla's answer is recorded on the rows still this run's: a newer push may have taken
    # some over (or replaced them) while this call was in flight.
    ours = TelemetryDeployment.objects.filter(run_id=run.pk).exclude(status=Status.SUPERSEDED)
    with transaction.atomic():
        # One UPDATE per outcome, whatever the number of VINs in the call.
        ours.filter(pk__in=updated_ids).update(status=Status.UPDATED, reason="", **common)
        for reason, ids in skipped.items():
            ours.filter(pk__in=ids).update(status=Status.SKIPPED, reason=reason, **common)
        # The car now holds (or will hold) this version instead of any older one of ours;
        # unless a newer push replaced this run meanwhile, whose version must stay current.
        if TelemetryRun.objects.filter(pk=run.pk, status=TelemetryRun.Status.RUNNING).exists():
            TelemetryDeployment.objects.filter(
                vehicle_id__in=updated_vehicles,
                status__in=TelemetryDeployment.ON_CAR,
            ).exclude(version=run.version).update(status=Status.SUPERSEDED)
        TelemetryRun.objects.filter(pk=run.pk).update(heartbeat_at=now)


def _remove_rows(link: TeslaLink, rows: list[Row], *, final: bool) -> None:
    for row in rows:
        try:
            link_fleet_call(link=link, call=lambda c, v=row.vin: c.fleet_telemetry_config_delete(v))
        except LinkBroken as exc:
            _fail([row], _("The Tesla account needs a relink: %(why)s") % {"why": exc})
            continue
        except TransientError as exc:
            if not final:
                raise
            _fail([row], str(exc))
            continue
        except TeslaError as exc:
            _fail([row], str(exc))
            continue
        now = timezone.now()
        TelemetryDeployment.objects.filter(pk=row.pk).update(
            status=Status.REMOVED, removed_at=now, checked_at=now, error=""
        )


def _fail(rows: list[Row], error: str) -> None:
    TelemetryDeployment.objects.filter(pk__in=[r.pk for r in rows]).update(
        status=Status.FAILED, error=error[:2000], pushed_at=timezone.now()
    )


def _link_done(run: TelemetryRun) -> str:
    TelemetryRun.objects.filter(pk=run.pk, links_done__lt=F("links_total")).update(
        links_done=F("links_done") + 1
    )
    return "done" if _close_if_finished(run.pk) else "link_done"


def _close_if_finished(run_id: int) -> bool:
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
            _finish_audit(TelemetryRun.objects.select_related("config", "version").get(pk=run_id))
            return True
    return False


def run_counts(run: TelemetryRun) -> dict[str, int]:
    rows = run.deployments.order_by().values_list("status").annotate(n=Count("pk"))
    return dict(rows)


def _finish_audit(run: TelemetryRun) -> None:
    counts = run_counts(run)
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
    _audit(
        action=action,
        config=run.config,
        user=run.created_by,
        version=run.version,
        vins=run.deployments.values_list("vehicle__vin", flat=True),
        outcome=outcome or _("nothing to do"),
    )


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
        _finish_audit(TelemetryRun.objects.select_related("config", "version").get(pk=run_id))
    return True


def telemetry_runs_sweep() -> dict[str, int]:
    """Beat's safety net: every run ends, even when its task was lost.

    A run silent for TELEMETRY_RUN_STALE_SECONDS lost its task (a worker killed mid-task on
    the filesystem broker loses the message; Redis gives it back only after its visibility
    timeout): its remaining work is queued again, up to TELEMETRY_RUN_MAX_REDISPATCHES
    times, then the run fails. A re-queued task that turns out to be a duplicate is harmless:
    the link task skips rows already recorded and closed runs.
    """
    from telemetry.tasks import telemetry_push, telemetry_push_link

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
                _enqueue(telemetry_push, run.pk, run_id=run.pk)
                counts["requeued"] += 1
                continue
            link_ids = _links_with_work(run.pk)
            if not link_ids:
                # Nothing a task could do (e.g. the account was unlinked): end it now.
                TelemetryDeployment.objects.filter(run_id=run.pk, status__in=RUN_WAITING).update(
                    status=Status.FAILED,
                    error=_("No linked owner account lists this vehicle."),
                    pushed_at=now,
                )
                counts["closed"] += _close_if_finished(run.pk)
                continue
            for link_id in link_ids:
                _enqueue(telemetry_push_link, run.pk, link_id, run_id=run.pk)
            counts["requeued"] += 1
        except queueing.QueueUnavailable:
            counts["failed"] += 1
            break  # the broker is down: the runs are marked, the next sweep sees the rest
    return counts


# --- reconcile -----------------------------------------------------------------------------


def telemetry_reconcile_due(*, limit: int = 500) -> list[int]:
    """Deployments to ask Tesla about: accepted and not yet adopted, or adopted a while ago
    (a car can drop a config: revoked scope, another app's push, expiry)."""
    stale = timezone.now() - _recheck_after()
    rows = TelemetryDeployment.objects.filter(
        Q(status__in=TelemetryDeployment.WAITING)
        | Q(status__in=(Status.SYNCED, Status.DRIFT), checked_at__lt=stale)
    ).order_by(F("checked_at").asc(nulls_first=True))
    return list(rows.values_list("pk", flat=True)[:limit])


def _matches(ours: dict[str, Any], theirs: dict[str, Any], issuer: str | None) -> bool:
    body = {k: v for k, v in theirs.items() if k not in ("aud", "iss")}
    if issuer is not None and theirs.get("iss") not in (None, issuer):
        return False
    # Compared as JSON values: 5 and 5.0 are the same number on both sides.
    return json.loads(json.dumps(body)) == json.loads(json.dumps(ours))


def _our_issuer() -> str | None:
    try:
        return jws.issuer_for(partner_selectors.partner_private_key().public_key())
    except PartnerKeyMissing:
        return None


def telemetry_deployment_reconcile(*, deployment_id: int) -> str:
    """Ask Tesla where one deployment stands; synced needs `synced` true AND a non-null
    config that matches ours (§5.4, §9)."""
    row = (
        TelemetryDeployment.objects.select_related("vehicle", "version", "link")
        .filter(pk=deployment_id)
        .first()
    )
    if row is None or row.status not in (Status.UPDATED, Status.SYNCED, Status.DRIFT):
        return "skip"
    link = row.link or _owner_link(row.vehicle_id)
    if link is None:
        return "no_link"
    try:
        state = link_fleet_call(link=link, call=lambda c: c.fleet_telemetry_config(row.vehicle.vin))
    except LinkBroken:
        return "link_broken"
    except TransientError:
        raise
    except TeslaError as exc:
        # Permanent for this call (404: car gone from the account, 403: scope revoked): keep
        # the state, show why, and let the next sweep ask again.
        TelemetryDeployment.objects.filter(pk=row.pk).update(
            error=str(exc)[:2000], checked_at=timezone.now()
        )
        return "error"
    if not isinstance(state, dict):
        state = {}
    now = timezone.now()
    synced = state.get("synced") is True
    config = state.get("config")
    status, error = row.status, row.error
    if not synced:
        status = Status.UPDATED if row.status == Status.UPDATED else Status.REMOVED
    elif config is None:
        if state.get("limit_reached"):
            status = Status.LIMIT_REACHED
        elif row.status == Status.UPDATED:
            status = Status.REJECTED
            error = _latest_vehicle_error(link, row.vehicle.vin) or error
        else:
            status = Status.REMOVED
    elif isinstance(config, dict) and _matches(row.version.payload, config, _our_issuer()):
        status = Status.SYNCED
    else:
        status = Status.DRIFT
    fields: dict[str, Any] = {"status": status, "checked_at": now, "error": error}
    if status == Status.SYNCED and row.synced_at is None:
        fields["synced_at"] = now
    if status == Status.REMOVED:
        fields["removed_at"] = now
    # Conditional on the state we read: a push or removal that moved the row meanwhile wins
    # over this (older) answer, and the next sweep looks again.
    TelemetryDeployment.objects.filter(pk=row.pk, status=row.status).update(**fields)
    return status


def _latest_vehicle_error(link: TeslaLink, vin: str) -> str:
    try:
        errors = link_fleet_call(link=link, call=lambda c: c.fleet_telemetry_errors(vin))
    except (LinkBroken, TeslaError):
        return ""
    errors = sorted(errors, key=lambda e: str(e.get("created_at", "")))
    return str(errors[-1].get("error", "")) if errors else ""


# --- re-sign before exp --------------------------------------------------------------------


def telemetry_resign_due() -> list[int]:
    """Configs whose exp falls inside the margin and that are on some car."""
    cutoff = timezone.now() + _resign_margin()
    return list(
        TelemetryConfig.objects.filter(
            exp__isnull=False,
            exp__lte=cutoff,
            assignments__isnull=False,
        )
        .distinct()
        .values_list("pk", flat=True)
    )


def telemetry_config_resign(*, config_id: int) -> TelemetryRun | None:
    """Move exp forward by the config's own lifetime and push the new version to every
    assigned vehicle, before the cars drop it."""
    margin = _resign_margin()
    now = timezone.now()
    # Before moving exp: with the broker down the config stays due, and the next sweep retries.
    queueing.broker_check()
    with transaction.atomic():
        # Locked and re-checked: two sweeps must not both extend (and push) one config.
        config = TelemetryConfig.objects.select_for_update().filter(pk=config_id).first()
        if config is None or config.exp is None or config.exp > now + margin:
            return None
        current = config.versions.order_by("-number").first()
        lifetime = config.exp - (current.created_at if current else config.created_at)
        lifetime = max(lifetime, 2 * margin, dt.timedelta(days=1))
        config.exp = now + lifetime
        config.save(update_fields=["exp", "updated_at"])
    return telemetry_push_start(config=config, user=None, kind=TelemetryRun.Kind.RESIGN)


# --- error inbox ---------------------------------------------------------------------------

# Substrings of the errors cars report (§5.4) and what to do about them.
KNOWN_ERRORS: tuple[tuple[str, str], ...] = (
    ("unknown issuer", "unknown_issuer"),
    ("only NIST-P256", "wrong_key_type"),
    ("verification error", "bad_signature"),
    ("bad certificate", "bad_certificate"),
)


def explain_error(text: str) -> str:
    """A translated explanation of a known telemetry error, or ""."""
    explanations = {
        "unknown_issuer": _(
            "The config was signed with a key the car does not hold: pair the portal's current "
            "key on the car (or register that key with Tesla), then push again."
        ),
        "wrong_key_type": _(
            "Wrong key type: cars accept only NIST P-256 (prime256v1) keys. Use a P-256 key "
            "for the application, register it and pair it again."
        ),
        "bad_signature": _(
            "The signature did not verify on the car: the config was changed after signing or "
            "signed with another key. Push it again."
        ),
        "bad_certificate": _(
            "The car refused the telemetry server's TLS certificate: check the CA chain in "
            "the config against the server's certificate."
        ),
    }
    lowered = (text or "").lower()
    for marker, key in KNOWN_ERRORS:
        if marker.lower() in lowered:
            return explanations[key]
    return ""


def _decorate(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "vin": str(e.get("vin", "")),
            "created_at": str(e.get("created_at", "")),
            "error": str(e.get("error", "")),
            "error_name": str(e.get("error_name", "")),
            "explanation": explain_error(str(e.get("error", ""))),
        }
        for e in errors
        if isinstance(e, dict)
    ]


def _vehicle_errors(link: TeslaLink, vin: str) -> list[dict[str, Any]]:
    return _decorate(link_fleet_call(link=link, call=lambda c: c.fleet_telemetry_errors(vin)))


def telemetry_vehicle_errors(
    *, vehicle: Vehicle, access: VehicleAccess
) -> tuple[list[dict[str, Any]], str]:
    """The car's recent telemetry errors, asked through the viewer's own link; (errors,
    problem). `access` is the viewer's current access to the car: a page view never borrows
    another user's link (the owner's, or a former or new owner's)."""
    try:
        return _vehicle_errors(access.link, vehicle.vin), ""
    except LinkBroken as exc:
        # The viewer's own link: its reason is theirs to read.
        return [], _("Your Tesla account needs a relink: %(why)s") % {"why": exc}
    except TeslaError as exc:
        if access.is_driver and exc.permanent:
            return [], _(
                "Tesla shows a vehicle's telemetry errors only to its owner's account, and "
                "your Tesla account has driver access to this vehicle. Ask the owner to link "
                "their Tesla account."
            )
        return [], str(exc)


def telemetry_vehicle_owner_link(*, vehicle: Vehicle) -> TeslaLink | None:
    """The owner's link a manager's read of this car would go through (shown before use)."""
    return _owner_link(vehicle.pk)


def telemetry_vehicle_errors_as_staff(
    *, vehicle: Vehicle, link: TeslaLink, user: User
) -> tuple[list[dict[str, Any]], str]:
    """A manager with no access of their own reads the car's errors through an owner's link
    (Tesla answers only an account that lists the car). It uses another person's token, so
    it is recorded in the audit log, naming whose link."""
    errors: list[dict[str, Any]] = []
    try:
        errors, problem = _vehicle_errors(link, vehicle.vin), ""
    except LinkBroken:
        # Not the manager's link: its relink reason stays with its owner (and the admin).
        problem = _("The owner's Tesla account needs a relink.")
    except TeslaError as exc:
        problem = str(exc)
    assignment = (
        TelemetryAssignment.objects.select_related("config").filter(vehicle=vehicle).first()
    )
    config = assignment.config if assignment else None
    through = _("through the Tesla account %(account)s of %(owner)s") % {
        "account": link,
        "owner": link.user.email,
    }
    found = _("errors reported: %(n)d") % {"n": len(errors)}
    TelemetryAuditEntry.objects.create(
        actor=user,
        actor_email=user.email,
        action=Action.ERRORS_READ,
        config=config,
        config_name=config.name if config else "",
        vins=[vehicle.vin],
        outcome=f"{through}: {problem or found}",
    )
    return errors, problem


def telemetry_partner_errors() -> list[dict[str, Any]]:
    """Recent errors across the fleet, per region (partner token); each region says why if
    it could not be asked."""
    from partners.services import PartnerSetupError, _with_partner_client

    domain = partner_selectors.partner_domain() or None
    regions = []
    for region in partner_selectors.region_codes():
        problem, errors = "", []
        try:
            body = _with_partner_client(region, lambda c: c.partner_fleet_telemetry_errors(domain))
        except (PartnerSetupError, TeslaError) as exc:
            problem = str(exc)
        else:
            # Shape UNKNOWN (§3.3): a list, or an object holding one.
            if isinstance(body, dict):
                body = body.get("fleet_telemetry_errors") or []
            errors = _decorate(body if isinstance(body, list) else [])
        regions.append({"region": region, "errors": errors, "problem": problem})
    return regions
