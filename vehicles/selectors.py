"""Reads for vehicles: the user's list (filtered, sorted, constant queries) and the roster."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from vehicles.models import RosterEntry, SyncRun, Vehicle, VehicleAccess

SORTS = {
    "name": ("display_name", "vehicle__vin"),
    "vin": ("vehicle__vin",),
    "model": ("vehicle__model", "display_name", "vehicle__vin"),
    "year": ("-vehicle__model_year", "vehicle__vin"),
    "seen": ("-last_seen_at", "vehicle__vin"),
}


def vehicle_accesses_for_user(
    *,
    user: User,
    q: str = "",
    model: str = "",
    region: str = "",
    key_paired: str = "",
    include_gone: bool = False,
    sort: str = "name",
) -> QuerySet[VehicleAccess]:
    """The user's cars, one row per (link, car), with the car and link joined in.

    A gone row (the link no longer lists the car) is shown only for what the user saw: the
    car's region and key pairing may have been written since by its new owner's sync, so
    filters on them match current rows only (the template hides them on gone rows too).
    """
    rows = VehicleAccess.objects.filter(link__user=user).select_related("vehicle", "link")
    current = Q(gone_at__isnull=True)
    if not include_gone:
        rows = rows.filter(current)
    if q:
        rows = rows.filter(Q(vehicle__vin__icontains=q.strip()) | Q(display_name__icontains=q))
    if model:
        rows = rows.filter(vehicle__model=model)
    if region:
        rows = rows.filter(current, vehicle__region=region)
    if key_paired == "yes":
        rows = rows.filter(current, vehicle__key_paired=True)
    elif key_paired == "no":
        rows = rows.filter(current, vehicle__key_paired=False)
    elif key_paired == "unknown":
        rows = rows.filter(current, vehicle__key_paired__isnull=True)
    return rows.order_by(*SORTS.get(sort, SORTS["name"]))


def current_accesses(*, user: User) -> QuerySet[VehicleAccess]:
    """The user's accesses that let a page show a car: their links' rows not marked gone.

    After a car leaves the user's Tesla account (sold, or the sharing ended) its row stays,
    marked gone, but the car's data from then on is its new owner's, and so is any Fleet API
    call about it.
    """
    return VehicleAccess.objects.filter(link__user=user, gone_at__isnull=True)


def vehicle_access_for_user(*, user: User, vehicle_id: int) -> VehicleAccess | None:
    """The user's current access to one car, owner before driver; None means "not theirs"."""
    rows = (
        current_accesses(user=user).filter(vehicle_id=vehicle_id).select_related("vehicle", "link")
    )
    return min(rows, key=lambda row: (row.is_driver, row.pk), default=None)


def get_vehicle_for_user(
    *, user: User, vehicle_id: int, any_car: bool = False
) -> tuple[Vehicle, VehicleAccess | None]:
    """The car and the user's own current access to it, or 404: every page about one car
    fetches it here, before anything asks Tesla.

    Another user's car must not even be confirmed to exist, and a car that left the user's
    Tesla account shows its new owner's data. With `any_car` (a telemetry manager) a car the
    user has no access to comes with None: reading through an owner's link is a separate,
    recorded step.
    """
    access = vehicle_access_for_user(user=user, vehicle_id=vehicle_id)
    if access is not None:
        return access.vehicle, access
    if any_car:
        return get_object_or_404(Vehicle, pk=vehicle_id), None
    raise Http404


def sync_runs_for_user(*, user: User) -> list[SyncRun]:
    """The latest sync of each of the user's links (a handful of rows: one per link)."""
    latest: dict[int, SyncRun] = {}
    # The link only names the account on the line: its tokens are neither decrypted nor read.
    runs = (
        SyncRun.objects.filter(link__user=user)
        .select_related("link")
        .only(*(f.name for f in SyncRun._meta.concrete_fields), "link__email", "link__full_name")
        .order_by("-created_at")
    )
    for run in runs[:20]:
        latest.setdefault(run.link_id, run)
    return list(latest.values())


def roster_entries() -> QuerySet[RosterEntry]:
    """Every roster VIN, with whether some link currently lists it."""
    listed = VehicleAccess.objects.filter(vehicle_id=OuterRef("vehicle_id"), gone_at__isnull=True)
    return RosterEntry.objects.select_related("vehicle").annotate(linked=Exists(listed))
