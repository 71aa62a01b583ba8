"""Pushes and removals: start a run (one active push per config), then each link task
signs the config and sends it with the owner's token, recording every vehicle.

Tesla's flow (§5.2-5.4): sign the config as a Tesla.SS256 JWS with the partner key, POST
it with the owner's token to `fleet_telemetry_config_jws` (one call per linked account with
that account's VINs), then poll `GET fleet_telemetry_config` until the car has adopted it."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import reasons
from accounts.models import TeslaLink, User
from accounts.services import LinkBroken, link_fleet_call
from fleetportal import queueing, workers
from partners.selectors import PartnerKeyMissing
from telemetry import selectors
from telemetry.models import (
    TelemetryAssignment,
    TelemetryAuditEntry,
    TelemetryConfig,
    TelemetryDeployment,
    TelemetryRun,
)
from telemetry.services import audit, configs, runs, signing
from teslafleet.errors import TeslaError, TransientError
from vehicles.models import Vehicle

logger = logging.getLogger(__name__)

Status = TelemetryDeployment.Status
Action = TelemetryAuditEntry.Action


def _batch_size() -> int:
    # Tesla suggests few VINs per call (§5.3); one call per link up to this many.
    return settings.TELEMETRY_PUSH_BATCH


class VehicleRef(NamedTuple):
    pk: int
    vin: str


class PushUnderWay(Exception):
    """A run of the config is active and the caller asked not to replace it."""


class ConfigExpired(Exception):
    """The config's exp has passed: cars would drop it, and Tesla's answer to a config that
    expired before it was sent is UNKNOWN (the sandbox refuses it). Nothing is pushed."""

    def __init__(self, config: TelemetryConfig) -> None:
        when = timezone.localtime(config.exp).strftime("%Y-%m-%d %H:%M")
        super().__init__(
            _(
                "The configuration %(name)s expired on %(when)s: cars would refuse it. Edit it, "
                "set a later expiry (or none), then push."
            )
            % {"name": config.name, "when": when}
        )


def telemetry_push_start(
    *,
    config: TelemetryConfig,
    user: User | None,
    vehicle_ids: list[int] | None = None,
    kind: str = TelemetryRun.Kind.PUSH,
    outcome: str = "",
    only_if_idle: bool = False,
) -> TelemetryRun:
    """Record a run and a pending deployment per assigned vehicle, then queue the push.

    `outcome` words the audit entry when it is not a plain push (a resync of one car).
    `only_if_idle` refuses (PushUnderWay, nothing written) when a run of the config is active,
    checked under the config's row lock, instead of replacing it.

    One push per config is active: a new push (or re-sign) replaces an active one, which ends
    as "superseded"; its cars the new push covers go with it, the others are marked not pushed.
    Raises QueueUnavailable, with nothing changed, when the broker does not answer, and
    ConfigExpired, with nothing changed, when the config's exp has passed.
    """
    if config.exp is not None and config.exp <= timezone.now():
        raise ConfigExpired(config)
    # Before any write: a push resets its cars' deployments to pending, which a failed
    # queueing could not undo.
    queueing.broker_check()
    version = configs.telemetry_version_current(config=config, user=user)
    assigned = TelemetryAssignment.objects.filter(config=config)
    if vehicle_ids is not None:
        assigned = assigned.filter(vehicle_id__in=vehicle_ids)
    vehicles = [
        VehicleRef(*values)
        for values in assigned.order_by("vehicle__vin").values_list("vehicle_id", "vehicle__vin")
    ]
    links = selectors.owner_links([v.pk for v in vehicles])
    no_location = selectors.location_problems(config=config, vehicles=vehicles, links=links)
    now = timezone.now()
    with transaction.atomic():
        # The config row lock serialises runs of one config: two pushes at once would both
        # insert the same (vehicle, version) deployments (an IntegrityError on PostgreSQL),
        # and the later one must see the earlier run to supersede it.
        TelemetryConfig.objects.select_for_update().filter(pk=config.pk).first()
        if (
            only_if_idle
            and TelemetryRun.objects.filter(config=config, status__in=TelemetryRun.ACTIVE).exists()
        ):
            raise PushUnderWay(config.name)
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
        audit.record(
            action=Action.RESIGNED if kind == TelemetryRun.Kind.RESIGN else Action.PUSHED,
            config=config,
            user=user,
            version=version,
            vins=[v.vin for v in vehicles],
            outcome=outcome or _("queued for the worker"),
        )
        if not pending_links:
            audit.record_run_end(run)
    if pending_links:
        runs.enqueue(runs.PUSH_TASK, run.pk, run_id=run.pk)
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
        audit.record_run_end(run)


def telemetry_remove_start(
    *, config: TelemetryConfig, user: User | None, vehicle_ids: list[int]
) -> TelemetryRun:
    """Remove the config from these vehicles (DELETE on each car) and unassign them."""
    # Before any write: a removal unassigns its cars, which a failed queueing could not undo.
    queueing.broker_check()
    version = configs.telemetry_version_current(config=config, user=user)
    vehicles = list(Vehicle.objects.filter(pk__in=vehicle_ids))
    links = selectors.owner_links(vehicle_ids)
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
                    "error": "" if link else runs.no_owner_link(),
                },
            )
        TelemetryAssignment.objects.filter(config=config, vehicle_id__in=vehicle_ids).delete()
        run.links_total = len({links[v.pk].pk for v in vehicles if v.pk in links})
        if not run.links_total:
            run.status, run.finished_at = TelemetryRun.Status.DONE, now
        run.save(update_fields=["links_total", "status", "finished_at"])
        audit.record(
            action=Action.REMOVED,
            config=config,
            user=user,
            version=version,
            vins=[v.vin for v in vehicles],
            outcome=_("queued for the worker"),
        )
        if not run.links_total:
            audit.record_run_end(run)
    if run.links_total:
        runs.enqueue(runs.PUSH_TASK, run.pk, run_id=run.pk)
    return run


def telemetry_push_link(*, run_id: int, link_id: int, final: bool = True) -> str:
    """Push (or remove) one run's config for one link's vehicles; record each vehicle.

    Transient Tesla errors propagate (the task retries) unless `final`, when they are recorded
    as failures.
    """
    run = _open_run(run_id)
    if run is None:
        # Superseded by a newer push, failed, or already finished (a re-queued duplicate).
        return "closed"
    work = _links_work(run, [link_id])
    answers: list[Answer] = []
    try:
        if link_id in work:
            _push_or_remove(run, *work[link_id], final=final, answers=answers)
    finally:
        _record_answers(run, answers)  # what Tesla answered before a transient error too
    return runs.links_done(run, 1)


@dataclass(frozen=True)
class ChunkResult:
    links: list[workers.LinkOutcome]
    closed_run: bool  # this chunk's links were the run's last: the chunk closed it


def telemetry_push_chunk(*, run_id: int, link_ids: list[int]) -> ChunkResult:
    """Push (or remove) a run's config for a chunk of links on this worker process's kept
    threads (fleetportal/workers.py): one task per chunk instead of one per link.

    What is the same for every link is done once for the chunk: the run read and signed, the
    links and their waiting vehicles read in two queries, Tesla's answers recorded in one
    transaction and the run's progress counted once. The threads only call Tesla. Each link
    is a first try (`final=False`): a transient error leaves its rows waiting for the
    one-link retry, and a link counts in the run's progress only when its share is recorded.
    A worker killed mid-chunk loses the answers not yet recorded: those vehicles stay
    waiting and are pushed again (the task is handed back, or the runs sweep re-queues it).
    """
    link_ids = list(dict.fromkeys(link_ids))  # a link listed twice is pushed once
    run = _open_run(run_id)
    if run is None:
        closed = [workers.LinkOutcome(link_id, "closed") for link_id in link_ids]
        return ChunkResult(closed, False)
    work = _links_work(run, link_ids)
    if work and run.kind == TelemetryRun.Kind.PUSH:
        # Once, here, rather than raced by the threads; without a key each link records the
        # failure on its vehicles.
        with contextlib.suppress(PartnerKeyMissing):
            signing.run_token(run)
    answers: dict[int, list[Answer]] = {link_id: [] for link_id in link_ids}

    def push(link_id: int) -> str:
        if link_id in work:
            _push_or_remove(run, *work[link_id], final=False, answers=answers[link_id])
        return "link_done"

    try:
        results = workers.tesla_chunk(push, link_ids, what=f"push of run {run_id}")
    finally:
        _record_answers(run, [answer for each in answers.values() for answer in each])
    finished = sum(1 for result in results if result.outcome == "link_done")
    return ChunkResult(results, runs.links_done(run, finished) == "done")


class Row(NamedTuple):
    pk: int
    vehicle_id: int
    vin: str


class Answer(NamedTuple):
    """Tesla's answer to one fleet_telemetry_config_jws call, for the rows it was about."""

    rows: list[Row]
    body: dict[str, Any]


def _open_run(run_id: int) -> TelemetryRun | None:
    """The run if it is still running (with a sign of life), else None."""
    # Without its version: the run carries its signed token, and the version (its payload
    # parsed from JSON) is read only if the run was never signed (signing.run_token).
    run = TelemetryRun.objects.filter(pk=run_id).first()
    if run is None or run.status != TelemetryRun.Status.RUNNING:
        return None
    runs.telemetry_run_heartbeat(run_id=run.pk)
    return run


def _links_work(run: TelemetryRun, link_ids: list[int]) -> dict[int, tuple[TeslaLink, list[Row]]]:
    """Each link's waiting rows, in two queries whatever the number of links: the links with
    none are left out."""
    waiting = Status.REMOVING if run.kind == TelemetryRun.Kind.REMOVE else Status.PENDING
    rows: dict[int, list[Row]] = defaultdict(list)
    # Plain tuples, not model rows: at fleet sizes building Vehicle objects costs more CPU
    # than the call to Tesla (bench_telemetry).
    for link_id, *values in (
        TelemetryDeployment.objects.filter(run=run, link_id__in=link_ids, status=waiting)
        .order_by("vehicle__vin")
        .values_list("link_id", "pk", "vehicle_id", "vehicle__vin")
    ):
        rows[link_id].append(Row(*values))
    if not rows:
        return {}
    links = TeslaLink.objects.in_bulk(list(rows))
    return {link_id: (links[link_id], rows[link_id]) for link_id in rows if link_id in links}


def _push_or_remove(
    run: TelemetryRun, link: TeslaLink, rows: list[Row], *, final: bool, answers: list[Answer]
) -> None:
    if run.kind == TelemetryRun.Kind.REMOVE:
        _remove_rows(link, rows, final=final)
    else:
        _push_rows(run, link, rows, final=final, answers=answers)


def _push_rows(
    run: TelemetryRun, link: TeslaLink, rows: list[Row], *, final: bool, answers: list[Answer]
) -> None:
    """Send the config for the rows, a batch of VINs per call; Tesla's answers go to `answers`
    for the caller to record, failures are recorded at once."""
    try:
        token = signing.run_token(run)
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
            # Stored as a code, worded when shown (accounts.reasons.failure_text).
            _fail(chunk, reasons.needs_relink(exc.reason))
            continue
        except TransientError as exc:
            if not final:
                raise
            _fail(chunk, str(exc))
            continue
        except TeslaError as exc:
            _fail(chunk, str(exc))
            continue
        answers.append(Answer(chunk, answer))


def _record_answers(run: TelemetryRun, answers: list[Answer]) -> None:
    """updated_vehicles is a count: every VIN not listed as skipped counts as updated.

    A fixed number of queries whatever the number of answers, VINs and skip reasons: one
    UPDATE for the rows (a CASE per reason, not per row), one for the versions the cars drop,
    one heartbeat."""
    if not answers:
        return
    skipped: dict[str, list[int]] = defaultdict(list)
    updated_vehicles = []
    for rows, body in answers:
        reasons = {}
        for reason, vins in (body.get("skipped_vehicles") or {}).items():
            for vin in vins or []:
                reasons[str(vin)] = str(reason)[:32]
        for row in rows:
            if row.vin in reasons:
                skipped[reasons[row.vin]].append(row.pk)
            else:
                updated_vehicles.append(row.vehicle_id)
    now = timezone.now()
    # Tesla's answer is recorded on the rows still this run's: a newer push may have taken
    # some over (or replaced them) while this call was in flight.
    ours = TelemetryDeployment.objects.filter(run_id=run.pk).exclude(status=Status.SUPERSEDED)
    with transaction.atomic():
        ours.filter(pk__in=[row.pk for rows, _ in answers for row in rows]).update(
            status=_by_reason(skipped, Status.SKIPPED, default=Status.UPDATED),
            reason=_by_reason(skipped, None, default=""),
            pushed_at=now,
            checked_at=None,
            error="",
        )
        # The car now holds (or will hold) this version instead of any older one of ours;
        # unless a newer push replaced this run meanwhile, whose version must stay current.
        if updated_vehicles:
            still_running = TelemetryRun.objects.filter(
                pk=run.pk, status=TelemetryRun.Status.RUNNING
            )
            TelemetryDeployment.objects.filter(
                Exists(still_running),
                vehicle_id__in=updated_vehicles,
                status__in=TelemetryDeployment.ON_CAR,
            ).exclude(version_id=run.version_id).update(status=Status.SUPERSEDED)
        TelemetryRun.objects.filter(pk=run.pk).update(heartbeat_at=now)


def _by_reason(skipped: dict[str, list[int]], value: str | None, *, default: str) -> Any:
    """A CASE giving the skipped rows `value` (their reason when None), the others `default`."""
    if not skipped:
        return default
    return Case(
        *(
            When(pk__in=ids, then=Value(reason if value is None else value))
            for reason, ids in skipped.items()
        ),
        default=Value(default),
    )


def _remove_rows(link: TeslaLink, rows: list[Row], *, final: bool) -> None:
    for row in rows:
        try:
            link_fleet_call(link=link, call=lambda c, v=row.vin: c.fleet_telemetry_config_delete(v))
        except LinkBroken as exc:
            _fail([row], reasons.needs_relink(exc.reason))
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
