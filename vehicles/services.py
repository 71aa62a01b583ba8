"""Writes for vehicles: the per-link sync (list, upsert, gone, fleet_status) and the roster."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts import reasons
from accounts.models import TeslaLink, User
from accounts.services import LinkBroken, link_fleet_call
from fleetportal import queueing
from fleetportal.vin import split_vins
from teslafleet.errors import TeslaError, TransientError
from teslafleet.fleet import (
    FleetError,
    NotFound,
    VehicleInfo,
    VehiclePage,
    VehicleUnavailable,
    printable_text,
    vehicle_pages,
)
from usage import services as usage_services
from vehicles import vin as vinlib
from vehicles.models import RosterEntry, SyncRun, Vehicle, VehicleAccess

logger = logging.getLogger(__name__)

PER_PAGE = 100  # Tesla's page size and its maximum (§4.2)


def _stale() -> dt.timedelta:
    # A run silent this long lost its task (worker killed, message lost): it no longer
    # blocks a new sync, and the runs sweep re-queues or fails it.
    return dt.timedelta(seconds=settings.VEHICLES_SYNC_STALE_SECONDS)


_DECODED_FIELDS = [
    "vin_valid",
    "vin_problems",
    "manufacturer",
    "model",
    "model_year",
    "body_code",
    "plant_code",
    "region",
    "updated_at",
]
_ACCESS_FIELDS = ["tesla_id", "display_name", "access_type", "state", "last_seen_at", "gone_at"]
_STATUS_FIELDS = [
    "key_paired",
    "command_protocol_required",
    "firmware_version",
    "telemetry_version",
    "total_keys",
    "discounted_device_data",
    "safety_screen_streaming",
    "status_checked_at",
    "status_error",
]


def _status_batch() -> int:
    # Tesla recommends single-VIN fleet_status calls (only they carry discounted_device_data,
    # §3.5), but one call per car makes a 5,000-car sync 5,000 requests; batches keep it
    # to one per 50 cars, and a one-car account still gets the single-VIN answer.
    return settings.VEHICLES_FLEET_STATUS_BATCH


@dataclass
class SyncResult:
    status: str
    seen: int = 0
    gone: int = 0
    statuses: int = 0


# --- queueing -----------------------------------------------------------------------------

# Queued by name: vehicles.tasks imports these services, never the other way round.
SYNC_TASK = "vehicles.tasks.vehicles_sync_link"


# --- a sync run's states -------------------------------------------------------------------
# queued -> running -> done | failed; running -> retrying (a transient error: the task tries
# again) -> running | failed. The fields each state sets are written here once; the functions
# below move runs between them.

_COUNTERS = ["seen", "gone", "statuses", "pages"]


def _ended(status: str, error: str = "") -> dict[str, Any]:
    """A run that ended, done or failed (and why)."""
    return {"status": status, "error": error[:300], "finished_at": timezone.now()}


def _retrying(error: str) -> dict[str, Any]:
    """A run waiting for its task's retry after a transient error."""
    return {"status": SyncRun.Status.RETRYING, "error": error[:300], "finished_at": None}


def _running(now: dt.datetime) -> dict[str, Any]:
    """A run its task has claimed."""
    return {"status": SyncRun.Status.RUNNING, "started_at": now, "heartbeat_at": now, "error": ""}


def _run_save(run: SyncRun, state: dict[str, Any], *, counters: bool = True) -> None:
    """Put the run (row and instance) in `state`, with the counters it has reached."""
    for name, value in state.items():
        setattr(run, name, value)
    run.save(update_fields=[*state, *(_COUNTERS if counters else [])])


def _recent() -> Q:
    """Runs that showed a sign of life within the stale bound."""
    cutoff = timezone.now() - _stale()
    return Q(heartbeat_at__gt=cutoff) | Q(heartbeat_at__isnull=True, created_at__gt=cutoff)


def vehicles_sync_queue(*, link: TeslaLink, trigger: str) -> SyncRun | None:
    """Record a queued sync for the link and queue its task, unless one is already active.

    Raises QueueUnavailable when the broker refuses the task; the run is then already marked
    failed, so nothing stays queued and the next "Sync now" starts afresh.
    """
    if link.is_broken:
        return None
    with transaction.atomic():
        # Locking the link row serialises two "Sync now" clicks (or a click and the sweep):
        # the second sees the first run and queues nothing. (Locked by id: nothing here needs
        # the tokens decrypted.)
        TeslaLink.objects.select_for_update().filter(pk=link.pk).values_list("pk").first()
        active = SyncRun.objects.filter(_recent(), link=link, status__in=SyncRun.ACTIVE).first()
        if active is not None:
            return None
        run = SyncRun.objects.create(link=link, trigger=trigger, heartbeat_at=timezone.now())
    _enqueue(SYNC_TASK, link.pk, run_id=run.pk)
    return run


# A run's error as stored: these, and accounts.reasons.needs_relink, are the portal's own
# (worded when shown, by vehicles/templatetags/sync_words.py); anything else is Tesla's or
# the transport's text.
SYNC_NOT_QUEUED = "could not be queued: "
SYNC_LOST = "lost: no worker finished it"


def _enqueue(task: str, link_id: int, *, run_id: int) -> None:
    queueing.enqueue(
        task,
        link_id,
        run_id=run_id,
        on_error=lambda error: vehicles_sync_fail(run_id=run_id, error=f"{SYNC_NOT_QUEUED}{error}"),
    )


def vehicles_sync_fail(*, run_id: int | None, error: str, link_id: int | None = None) -> bool:
    """End an active sync as failed (its task died, could not be queued, or was lost). Without
    a run id, the link's running sync (a link syncs one at a time). True if it ended one."""
    runs = SyncRun.objects.filter(status__in=SyncRun.ACTIVE)
    if run_id is not None:
        runs = runs.filter(pk=run_id)
    elif link_id is not None:
        runs = runs.filter(link_id=link_id, status=SyncRun.Status.RUNNING)
    else:
        return False
    return bool(runs.update(**_ended(SyncRun.Status.FAILED, error)))


def vehicles_sync_for_user(*, user: User) -> list[SyncRun]:
    """Queue a sync of each of the user's usable links (the "Sync now" button).

    Raises QueueUnavailable when the broker refuses; no run is left queued.
    """
    runs = []
    for link in user.tesla_links.all():
        run = vehicles_sync_queue(link=link, trigger="user")
        if run is not None:
            runs.append(run)
    return runs


def vehicles_sync_sweep() -> int:
    """Beat's sweep: queue one sync per usable link, and forget old finished runs."""
    # Runs are progress and audit records, not history: a week is enough to see a pattern.
    SyncRun.objects.filter(
        status__in=[SyncRun.Status.DONE, SyncRun.Status.FAILED],
        created_at__lt=timezone.now() - dt.timedelta(days=7),
    ).delete()
    if usage_services.optional_work_paused():
        return 0  # above the month's usage budget: optional work waits (docs/usage.md)
    queued = 0
    for link in TeslaLink.objects.filter(pk__in=links_due_for_sync()):
        try:
            run = vehicles_sync_queue(link=link, trigger="beat")
        except queueing.QueueUnavailable:
            break  # the broker is down: that run is marked failed, the next sweep tries again
        if run is not None:
            queued += 1
    return queued


def vehicles_sync_runs_sweep() -> dict[str, int]:
    """Beat's safety net: every sync ends, even when its task was lost.

    A sync silent for VEHICLES_SYNC_STALE_SECONDS lost its task (a worker killed on the
    filesystem broker loses the message; Redis gives it back only after its visibility
    timeout): it is queued again, up to VEHICLES_SYNC_MAX_REDISPATCHES times, then fails.
    """
    counts = {"requeued": 0, "failed": 0}
    stale = SyncRun.objects.filter(status__in=SyncRun.ACTIVE).exclude(_recent())
    for run in stale.order_by("pk"):
        if run.redispatches >= settings.VEHICLES_SYNC_MAX_REDISPATCHES:
            if vehicles_sync_fail(run_id=run.pk, error=SYNC_LOST):
                counts["failed"] += 1
            continue
        # Conditional on what was read: a run that moved meanwhile is left to its task. Back
        # to "queued", so the re-queued task may claim it (see _claim_run).
        claimed = (
            SyncRun.objects.filter(pk=run.pk, status=run.status)
            .filter(Q(heartbeat_at=run.heartbeat_at) if run.heartbeat_at else Q(heartbeat_at=None))
            .update(
                status=SyncRun.Status.QUEUED,
                heartbeat_at=timezone.now(),
                redispatches=F("redispatches") + 1,
            )
        )
        if not claimed:
            continue
        try:
            _enqueue(SYNC_TASK, run.link_id, run_id=run.pk)
        except queueing.QueueUnavailable:
            counts["failed"] += 1
            break
        counts["requeued"] += 1
    return counts


def links_due_for_sync() -> list[int]:
    # "Retrying" links still hold a usable access token (only a refresh failed transiently),
    # so they are synced too; broken links are not, as no call may be made for them.
    return list(
        TeslaLink.objects.filter(health__in=[TeslaLink.Health.OK, TeslaLink.Health.RETRYING])
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# --- the sync -------------------------------------------------------------------------------


def _claim_run(link: TeslaLink, run_id: int | None) -> SyncRun | None:
    """Mark this sync running, or None when another sync of the link is running right now.

    Two overlapping syncs of one link could mark each other's cars gone (one writes an older
    last_seen after the other started), so a link syncs one at a time. The link row lock
    (an IMMEDIATE transaction on SQLite) makes the check and the claim one step.
    """
    now = timezone.now()
    with transaction.atomic():
        TeslaLink.objects.select_for_update().filter(pk=link.pk).first()
        if run_id:
            run = SyncRun.objects.filter(pk=run_id, link=link).first()
            if run is not None and run.status in (SyncRun.Status.DONE, SyncRun.Status.FAILED):
                return None  # a direct sync already did this queued run's work
        else:
            # A direct sync does the work of a run that is still waiting in the queue.
            run = (
                SyncRun.objects.filter(link=link, status=SyncRun.Status.QUEUED)
                .order_by("created_at")
                .first()
            )
        busy = (
            SyncRun.objects.filter(_recent(), link=link, status=SyncRun.Status.RUNNING)
            .exclude(pk=run_id)
            .exists()
        )
        if busy:
            if run is not None:
                skipped = "skipped: another sync of this account was running"
                _run_save(run, _ended(SyncRun.Status.DONE, skipped), counters=False)
            return None
        if run is None:
            run = SyncRun.objects.create(link=link, trigger="task", **_running(now))
        else:
            _run_save(run, _running(now), counters=False)
    return run


def vehicles_sync_run_create(*, link_id: int, trigger: str = "task") -> int | None:
    """The run a sync queued without one works on: the link's waiting run, or a new one."""
    if not TeslaLink.objects.filter(pk=link_id).exists():
        return None
    waiting = (
        SyncRun.objects.filter(link_id=link_id, status=SyncRun.Status.QUEUED)
        .order_by("created_at")
        .values_list("pk", flat=True)
        .first()
    )
    return (
        waiting
        or SyncRun.objects.create(link_id=link_id, trigger=trigger, heartbeat_at=timezone.now()).pk
    )


def vehicles_sync_mark_retrying(*, run_id: int | None, error: str, final: bool) -> None:
    """The task's view of a transient failure: waiting to retry, or given up."""
    if run_id is None:
        return
    now = timezone.now()
    # The retry is a sign of life: the runs sweep leaves the run to it (the countdown is
    # capped well below the stale bound).
    state = _ended(SyncRun.Status.FAILED, error) if final else _retrying(error)
    SyncRun.objects.filter(pk=run_id).update(**state, heartbeat_at=now)


def vehicles_sync(*, link_id: int, run_id: int | None = None) -> SyncResult:
    """Sync one link's vehicles: every list page, upsert by VIN, mark gone, then fleet_status.

    Transient Fleet API errors (429, 5xx, timeouts) propagate for the task to retry; what was
    stored up to then stays stored, and the retry repeats the idempotent upserts.
    """
    link = TeslaLink.objects.filter(pk=link_id).first()
    if link is None:
        return SyncResult("no_link")
    run = _claim_run(link, run_id)
    if run is None:
        return SyncResult("skipped")
    started = run.started_at
    try:
        seen = _sync_list(link, run, started)
        # Only a complete list may declare cars gone: a failure mid-way raised above, and a
        # skipped entry may have been one of the link's cars.
        if not run.skipped:
            run.gone = (
                VehicleAccess.objects.filter(link=link, gone_at__isnull=True)
                .filter(last_seen_at__lt=started)
                .update(gone_at=started)
            )
        run.statuses = _sync_status(link, run)
    except LinkBroken as exc:
        _run_save(run, _ended(SyncRun.Status.FAILED, reasons.needs_relink(exc.reason)))
        return SyncResult("broken")
    except TransientError as exc:
        # Not "running" any more: the task retries later (or gives up and marks it failed).
        _run_save(run, _retrying(str(exc)))
        raise
    except FleetError as exc:
        # Permanent (412 not registered, 403 scopes...): retrying will not help.
        _run_save(run, _ended(SyncRun.Status.FAILED, str(exc)))
        return SyncResult("failed", seen=run.seen)
    _run_save(run, _ended(SyncRun.Status.DONE))
    return SyncResult("done", seen=seen, gone=run.gone, statuses=run.statuses)


def _sync_list(link: TeslaLink, run: SyncRun, now: dt.datetime) -> int:
    """Upsert every page of the link's vehicle list; returns the cars seen.

    The library walks the pages (teslafleet.fleet.vehicle_pages): it ends only after
    the last page and raises on a page it cannot follow, so returning means the list was whole.
    Each page goes through link_fleet_call, so a token refreshed between pages is used.
    """

    def fetch(page: int, per_page: int) -> VehiclePage:
        return link_fleet_call(link=link, call=lambda c: c.vehicles_page(page, per_page))

    seen = 0
    run.skipped, run.skipped_reason = 0, ""  # counted afresh by each attempt of the run
    for result in vehicle_pages(fetch, per_page=PER_PAGE):
        upserted, skipped = _upsert_page(link, result.vehicles, now)
        seen += upserted
        run.pages += 1
        run.seen = seen
        if skipped:
            logger.warning(
                "vehicle sync of link %s: skipped %d entries of list page %d (%s)",
                link.pk,
                len(skipped),
                run.pages,
                ", ".join(sorted(set(skipped))),
            )
            run.skipped += len(skipped)
            run.skipped_reason = run.skipped_reason or skipped[0]
        # Each page is activity: a long sync is not taken for a lost one by the runs sweep.
        SyncRun.objects.filter(pk=run.pk).update(
            pages=run.pages,
            seen=seen,
            skipped=run.skipped,
            skipped_reason=run.skipped_reason,
            heartbeat_at=timezone.now(),
        )
    return seen


def _access_type(value: Any) -> str:
    value = str(value or "").upper()
    return value if value in VehicleAccess.AccessType.values else VehicleAccess.AccessType.OTHER


# Why a list entry was skipped: English msgids, stored on the run and translated when shown.
SKIPPED_NOT_AN_OBJECT = gettext_noop("an entry was not an object")
SKIPPED_NO_VIN = gettext_noop("an entry had no VIN")
SKIPPED_BAD_VIN = gettext_noop("an entry had an unusable VIN")

# What may stand in Vehicle.vin: a VIN that fails validation is kept (see below), but nothing
# longer than a VIN (it would be cut and could merge two cars) and no other characters.
_VIN_SHAPE = re.compile(r"[A-Z0-9]{1,17}")


def _tesla_text(value: Any, max_length: int) -> str:
    """A string or number from a Tesla answer as it may be stored; anything else is "".

    Tesla's strings are free text set by people (a car's name is its owner's choice, and
    every link that sees the car stores it): a NUL would fail that link's sync on PostgreSQL.
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return printable_text(str(value))[:max_length]


def _list_entry_vin(item: Any) -> tuple[str, str]:
    """(VIN, "") for a usable list entry, else ("", why it is skipped)."""
    if not isinstance(item, dict):
        return "", SKIPPED_NOT_AN_OBJECT
    raw = item.get("vin")
    if raw is None or raw == "":
        return "", SKIPPED_NO_VIN
    vin = vinlib.normalise_vin(raw) if isinstance(raw, str) else ""
    if not _VIN_SHAPE.fullmatch(vin):
        return "", SKIPPED_BAD_VIN
    return vin, ""


def _upsert_page(link: TeslaLink, items: list[Any], now: dt.datetime) -> tuple[int, list[str]]:
    """Upsert one page in a constant number of queries, whatever its size.

    Returns the cars upserted and, per entry that could not be used, why: one odd entry in
    Tesla's answer costs that entry, not the sync.
    """
    by_vin: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for item in items:
        vin, why = _list_entry_vin(item)
        if why:
            skipped.append(why)
        else:
            by_vin[vin] = item
    if not by_vin:
        return 0, skipped
    vehicles = []
    for vin in by_vin:
        # Stored even when the VIN fails validation: Tesla says the car exists, and hiding it
        # would hide the problem; the detail page shows what is wrong with the VIN. Problems
        # are stored as English msgids (no language active) and translated when shown.
        with translation.override(None):
            decoded = vinlib.vin_decode(vin)
        vehicles.append(
            Vehicle(
                vin=vin,
                vin_valid=decoded.valid,
                vin_problems=decoded.problems,
                manufacturer=decoded.manufacturer[:100],
                model=decoded.model_code if decoded.model_code in Vehicle.Model.values else "",
                model_year=decoded.model_year,
                body_code=decoded.body_code,
                plant_code=decoded.plant_code,
                region=link.region,
                updated_at=now,
            )
        )
    with transaction.atomic():
        Vehicle.objects.bulk_create(
            vehicles, update_conflicts=True, unique_fields=["vin"], update_fields=_DECODED_FIELDS
        )
        # bulk_create only sets pks on some backends in upsert mode: one read is portable.
        ids = dict(Vehicle.objects.filter(vin__in=list(by_vin)).values_list("vin", "pk"))
        VehicleAccess.objects.bulk_create(
            [
                VehicleAccess(
                    link=link,
                    vehicle_id=ids[vin],
                    tesla_id=_tesla_text(item.get("id_s") or item.get("id"), 32),
                    display_name=_tesla_text(item.get("display_name"), 200),
                    access_type=_access_type(item.get("access_type")),
                    state=_tesla_text(item.get("state"), 16),
                    last_seen_at=now,
                    gone_at=None,
                )
                for vin, item in by_vin.items()
                if vin in ids
            ],
            update_conflicts=True,
            unique_fields=["link", "vehicle"],
            update_fields=_ACCESS_FIELDS,
        )
        # Roster VINs that just appeared are attached by the same statement, whatever the page.
        RosterEntry.objects.filter(vin__in=list(by_vin), vehicle__isnull=True).update(
            vehicle_id=Subquery(Vehicle.objects.filter(vin=OuterRef("vin")).values("pk")[:1])
        )
    return len(by_vin), skipped


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _status_values(
    vehicle: Vehicle, info: VehicleInfo, paired: bool | None, now: dt.datetime
) -> None:
    vehicle.key_paired = paired
    vehicle.command_protocol_required = info.vehicle_command_protocol_required
    vehicle.firmware_version = _tesla_text(info.firmware_version, 40)
    # null means the car cannot run the telemetry client (§3.5).
    vehicle.telemetry_version = _tesla_text(info.fleet_telemetry_version, 40)
    keys = info.total_number_of_keys
    # A PositiveSmallIntegerField: a number beyond it would fail the whole batch's update.
    vehicle.total_keys = keys if keys is not None and 0 <= keys <= 32767 else None
    # Only single-VIN calls carry it (§3.5): keep the last known value otherwise.
    if info.has_discounted_device_data:
        vehicle.discounted_device_data = info.discounted_device_data
    vehicle.safety_screen_streaming = info.safety_screen_streaming_toggle_enabled
    vehicle.status_checked_at = now
    vehicle.status_error = ""


def _sync_status(link: TeslaLink, run: SyncRun) -> int:
    """fleet_status for the link's current cars, in batches; one bad batch is not fatal."""
    vehicles = list(
        Vehicle.objects.filter(accesses__link=link, accesses__gone_at__isnull=True).order_by("vin")
    )
    by_vin = {v.vin: v for v in vehicles}
    checked = 0
    for batch in _chunks(list(by_vin), _status_batch()):
        answers = _fleet_status(link, batch)
        now = timezone.now()
        changed = []
        for vin in batch:
            vehicle = by_vin[vin]
            answer = answers.get(vin)
            if isinstance(answer, str):
                vehicle.status_error = _tesla_text(answer, 200)
            elif answer is not None:
                info, paired = answer
                _status_values(vehicle, info, paired, now)
                checked += 1
            changed.append(vehicle)
        Vehicle.objects.bulk_update(changed, _STATUS_FIELDS)
        run.statuses = checked
        SyncRun.objects.filter(pk=run.pk).update(statuses=checked, heartbeat_at=timezone.now())
    return checked


def _fleet_status(link: TeslaLink, vins: list[str]) -> dict[str, Any]:
    """VIN -> (info, key paired), or VIN -> a short reason it could not be asked."""
    try:
        status = link_fleet_call(link=link, call=lambda c: c.fleet_status(vins))
    except VehicleUnavailable:
        # Tesla has answered fleet_status with the "offline or asleep" error for sleeping
        # cars (§4.4): keep the last known values and say why they are old.
        return dict.fromkeys(vins, "vehicle offline or asleep")
    except NotFound:
        # One VIN Tesla no longer shows this account fails the whole request: ask singly.
        if len(vins) == 1:
            return dict.fromkeys(vins, "not found at Tesla")
        answers: dict[str, Any] = {}
        for vin in vins:
            answers.update(_fleet_status(link, [vin]))
        return answers
    except TransientError:
        raise
    except FleetError as exc:
        if exc.status in (401, 403, 412):
            raise  # the link or the app is misconfigured: the whole sync fails, visibly
        return dict.fromkeys(vins, f"{exc.status} {exc.error}".strip())
    # Tesla's shapes (§3.5) are checked by the client: one odd answer must not fail the sync.
    answers: dict[str, Any] = {}
    for vin in vins:
        if not status.mentions(vin):
            continue
        if vin in status.unreadable_vins:
            answers[vin] = "unreadable fleet_status answer"
            continue
        answers[vin] = (status.vehicle_info.get(vin) or VehicleInfo(), status.key_paired(vin))
    return answers


@dataclass(frozen=True)
class StatusCheck:
    """One car's fleet_status asked again: `problem` is empty when Tesla answered for it."""

    checked: bool
    problem: str = ""


def vehicle_status_check(*, access: VehicleAccess) -> StatusCheck:
    """Ask Tesla's fleet_status (§3.5) for one car through the access's own link, and store
    the answer (key pairing above all: Tesla sends nothing back after pairing, §3.4).

    The caller has already fetched `access` for the viewer (`get_vehicle_for_user`): no other
    user's link is ever used.
    """
    vehicle = access.vehicle
    try:
        answers = _fleet_status(access.link, [vehicle.vin])
    except LinkBroken:
        return StatusCheck(False, _("the Tesla account needs to be linked again"))
    except TeslaError as exc:
        return StatusCheck(False, f"{exc.status or ''} {exc.error}".strip() or _("no answer"))
    answer = answers.get(vehicle.vin)
    if answer is None:
        return StatusCheck(False, _("not in Tesla's answer"))
    if isinstance(answer, str):
        vehicle.status_error = _tesla_text(answer, 200)
        vehicle.save(update_fields=["status_error"])
        return StatusCheck(False, answer)
    info, paired = answer
    _status_values(vehicle, info, paired, timezone.now())
    vehicle.save(update_fields=_STATUS_FIELDS)
    return StatusCheck(True)


# --- the re-check after the pairing link was opened -----------------------------------------

# Tesla sends nothing back after pairing (§3.4): the portal asks fleet_status once, this long
# after the owner opened the pairing link (time to approve in the Tesla app; key state may also
# lag, §3.5). Slower approvals are caught by "Check again" or the next sync.
PAIRING_RECHECK_SECONDS = 120
# The pairing link goes through the portal (a signed id: the phone that scans the QR code is
# usually not logged in); it stays valid as long as the page could plausibly be left open.
PAIRING_TOKEN_MAX_AGE = 7 * 24 * 3600
_PAIRING_SALT = "vehicles.pairing-opened"


def pairing_token(*, access: VehicleAccess) -> str:
    """The signed id in the portal's pairing URL: which access's car, and nothing secret."""
    return signing.dumps(access.pk, salt=_PAIRING_SALT, compress=True)


def pairing_access(*, token: str) -> VehicleAccess | None:
    """The owner access a pairing token names, if the token is genuine, not too old, and the
    access still lets its link pair a key (current, OWNER); None otherwise."""
    try:
        access_id = signing.loads(token, salt=_PAIRING_SALT, max_age=PAIRING_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(access_id, int):
        return None
    access = (
        VehicleAccess.objects.filter(pk=access_id, gone_at__isnull=True)
        .select_related("vehicle", "link")
        .first()
    )
    if access is None or access.is_driver:
        return None
    return access


def pairing_opened(*, access: VehicleAccess) -> bool:
    """The pairing link was opened: queue one fleet_status re-check of the car, after
    PAIRING_RECHECK_SECONDS. At most one is pending per access (reopening the link, or
    anyone holding the QR code, cannot multiply calls to Tesla). False when none was queued.
    """
    if not cache.add(f"vehicles:pairing-recheck:{access.pk}", 1, PAIRING_RECHECK_SECONDS):
        return False
    try:
        queueing.task_named("vehicles.tasks.vehicles_pairing_recheck").apply_async(
            args=[access.pk], countdown=PAIRING_RECHECK_SECONDS
        )
    except queueing.QUEUE_ERRORS as exc:
        # The owner still reaches Tesla's page; "Check again" does the same by hand.
        logger.warning("pairing re-check not queued: %s", queueing.error_class(exc))
        cache.delete(f"vehicles:pairing-recheck:{access.pk}")
        return False
    return True


def vehicles_pairing_recheck(*, access_id: int) -> str:
    """The delayed re-check: fleet_status for the one car, if its access is still current."""
    access = (
        VehicleAccess.objects.filter(pk=access_id, gone_at__isnull=True)
        .select_related("vehicle", "link")
        .first()
    )
    if access is None:
        return "gone"
    result = vehicle_status_check(access=access)
    return "checked" if result.checked else "unanswered"


# --- the roster -----------------------------------------------------------------------------


def roster_parse(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """Split a pasted list of VINs; returns the valid ones and the problems of the others."""
    vins: list[str] = []
    problems: dict[str, list[str]] = {}
    for vin in split_vins(text):  # each distinct VIN once, in first-seen order
        check = vinlib.vin_check(vin)
        if check.errors:
            problems[vin] = check.errors
        else:
            vins.append(vin)
    return vins, problems


def roster_add(*, vins: list[str], added_by: User | None, note: str = "") -> int:
    """Add expected VINs (already validated); attach those some link already listed."""
    existing = set(RosterEntry.objects.filter(vin__in=vins).values_list("vin", flat=True))
    known = dict(Vehicle.objects.filter(vin__in=vins).values_list("vin", "pk"))
    new = [
        RosterEntry(vin=vin, note=note, added_by=added_by, vehicle_id=known.get(vin))
        for vin in vins
        if vin not in existing
    ]
    RosterEntry.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def roster_attach(*, vins: list[str]) -> int:
    """Attach roster entries to cars already synced (the sync does this as cars appear)."""
    known = Vehicle.objects.filter(vin__in=vins).values("vin")
    return RosterEntry.objects.filter(vin__in=known, vehicle__isnull=True).update(
        vehicle_id=Subquery(Vehicle.objects.filter(vin=OuterRef("vin")).values("pk")[:1])
    )
